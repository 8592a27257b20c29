package org.shiftformer.api;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A quantized model as stored in an artifact: hyper-parameters, named integer tensors, named
 * activation exponents and the softmax table. Names follow {@link org.shiftformer.api.model.TensorNames}.
 * This is the unit a backend loads; {@link org.shiftformer.api.model.TransformerWeights#of} gives the
 * validated, typed view.
 */
public final class QuantizedModel {
    private final ModelConfig config;
    private final Map<String, QTensor> tensors;
    private final Map<String, Integer> exponents;
    private final int[] softmaxLut;

    public QuantizedModel(ModelConfig config, List<QTensor> tensors, Map<String, Integer> exponents, int[] softmaxLut) {
        this.config = Objects.requireNonNull(config, "config");
        Map<String, QTensor> byName = new LinkedHashMap<>();
        for (QTensor t : tensors) {
            if (byName.put(t.name(), t) != null) {
                throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tensor " + t.name() + " appears twice");
            }
        }
        this.tensors = Collections.unmodifiableMap(byName);
        this.exponents = Collections.unmodifiableMap(new LinkedHashMap<>(exponents));
        this.softmaxLut = softmaxLut.clone();
    }

    public ModelConfig config() {
        return config;
    }

    /** Tensors in artifact order, by name. */
    public Map<String, QTensor> tensors() {
        return tensors;
    }

    /** Activation (requantization point) exponents, by name. */
    public Map<String, Integer> exponents() {
        return exponents;
    }

    /** The softmax exponent table the artifact carries (SPEC.md section 3.4). */
    public int[] softmaxLut() {
        return softmaxLut.clone();
    }

    /** The tensor of this name, or an {@link ErrorCode#INVALID_ARTIFACT} error naming it. */
    public QTensor tensor(String name) {
        QTensor t = tensors.get(name);
        if (t == null) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "missing tensor " + name);
        }
        return t;
    }

    /** The activation exponent of this name, or an {@link ErrorCode#INVALID_ARTIFACT} error naming it. */
    public int exponent(String name) {
        Integer e = exponents.get(name);
        if (e == null) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "missing exponent " + name);
        }
        return e;
    }

    /** Total bytes of tensor data. */
    public long weightBytes() {
        long n = 0;
        for (QTensor t : tensors.values()) {
            n += t.data().byteSize();
        }
        return n;
    }
}
