package org.shiftformer.trainer.optim;

import java.util.List;
import java.util.Objects;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * Tensors that share a learning-rate schedule and weight decay (e.g. the model weights, and the QAT
 * thresholds with their own rate).
 *
 * @param name        for messages and checkpoints
 * @param params      the trainable tensors, in a fixed order
 * @param schedule    learning rate per step
 * @param weightDecay decoupled (AdamW) weight decay, 0 for none
 */
public record ParamGroup(String name, List<Tensor> params, LrSchedule schedule, double weightDecay) {
    public ParamGroup {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(schedule, "schedule");
        params = List.copyOf(params);
        for (Tensor t : params) {
            if (!t.requiresGrad()) {
                throw new IllegalArgumentException("group '" + name + "' holds " + t + ", which is not trainable");
            }
        }
        if (!(weightDecay >= 0)) {
            throw new IllegalArgumentException("group '" + name + "': weight decay must be >= 0: " + weightDecay);
        }
    }
}
