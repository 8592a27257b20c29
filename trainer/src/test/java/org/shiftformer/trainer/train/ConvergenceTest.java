package org.shiftformer.trainer.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.data.NumberWords;
import org.shiftformer.trainer.data.Pair;

/** A tiny model learns a narrow slice of the default task (German number words to English). */
class ConvergenceTest {

    @Test
    void tinyModelLearnsNumbersBelowOneHundredAndGeneralisesToHeldOutOnes() {
        List<Pair> train = new ArrayList<>();
        List<Pair> held = new ArrayList<>();
        for (int n = 0; n < 100; n++) {
            // Held out: compositional numbers only (21..99, not a multiple of ten), whose parts the training
            // set teaches; an irregular word such as "siebzehn" cannot be inferred from other numbers.
            boolean holdOut = n > 20 && n % 10 != 0 && n % 7 == 3;
            (holdOut ? held : train).add(new Pair(NumberWords.german(n), NumberWords.english(n)));
        }
        ModelConfig model = new ModelConfig(64, 2, 128, 1, 1, 320, 32, 3, 0, 1, 2);
        List<Double> losses = new ArrayList<>();
        TrainConfig cfg = TrainConfig.defaults(model, 300).withSteps(300, 40).withBatch(32)
                .withLr(3e-3, 1e-4).withRegularization(0f, 0.0f, 0.0).withEval(0, held.size()).withThreads(2);
        Trainer trainer = new Trainer(cfg, train, held, new TrainListener() {
            @Override
            public void onStep(StepInfo info) {
                losses.add(info.loss());
                if (info.step() % 50 == 0) {
                    System.out.printf("step %d loss %.4f lr %.2e %.0f tok/s%n", info.step(), info.loss(), info.lr(),
                            info.tokensPerSecond());
                }
            }
        });
        TrainListener.EvalInfo eval = trainer.run();
        System.out.println("held-out: " + eval + " " + trainer.translate(held.stream().map(Pair::source).toList()));
        double first = losses.subList(0, 10).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double last = losses.subList(losses.size() - 10, losses.size()).stream().mapToDouble(Double::doubleValue)
                .average().orElseThrow();
        assertTrue(last < 0.1 * first, "loss fell from " + first + " to " + last);
        assertTrue(eval.exactMatch() >= 0.9, "held-out exact match " + eval.exactMatch());
    }
}
