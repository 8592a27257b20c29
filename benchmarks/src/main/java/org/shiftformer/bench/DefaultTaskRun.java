package org.shiftformer.bench;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.data.NumberWords;
import org.shiftformer.trainer.data.Pair;
import org.shiftformer.trainer.train.TrainConfig;
import org.shiftformer.trainer.train.TrainListener;
import org.shiftformer.trainer.train.Trainer;

/**
 * The longer run executed by hand (not a test; {@code ./shiftformer train --data default} is the user's way to the
 * same task, with held-out digit counts): the default task of PERF.md, German number words
 * (0..999,999) to English, with a d_model 128, 4 heads, FFN 512, 2 + 2 layer model. The training set is every
 * number below 1,000 plus random larger ones ({@code trainSize} pairs in all); validation is on numbers
 * {@code >= 1,000} that are not in the training set.
 *
 * <pre>
 * ./shiftformer bench DefaultTaskRun [steps=2000] [threads=2] [checkpoint=/tmp/default-task.ckpt]
 *     [trainSize=200000] [batch=128]
 * </pre>
 */
public final class DefaultTaskRun {

    private DefaultTaskRun() {
    }

    public static void main(String[] args) {
        long steps = args.length > 0 ? Long.parseLong(args[0]) : 2000;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        Path ckpt = Path.of(args.length > 2 ? args[2] : "/tmp/default-task.ckpt");
        int trainSize = args.length > 3 ? Integer.parseInt(args[3]) : 200_000;
        int batch = args.length > 4 ? Integer.parseInt(args[4]) : 128;
        SplittableRandom rnd = new SplittableRandom(2026);
        Set<Integer> validSet = new HashSet<>();
        List<Pair> valid = new ArrayList<>();
        while (valid.size() < 2000) {
            int n = 1000 + rnd.nextInt(NumberWords.MAX - 999);
            if (validSet.add(n)) {
                valid.add(new Pair(NumberWords.german(n), NumberWords.english(n)));
            }
        }
        List<Pair> train = new ArrayList<>();
        for (int n = 0; n < 1000; n++) {
            train.add(new Pair(NumberWords.german(n), NumberWords.english(n)));
        }
        while (train.size() < trainSize) {
            int n = 1000 + rnd.nextInt(NumberWords.MAX - 999);
            if (!validSet.contains(n)) {
                train.add(new Pair(NumberWords.german(n), NumberWords.english(n)));
            }
        }
        ModelConfig model = new ModelConfig(128, 4, 512, 2, 2, 1000, 128, 3, 0, 1, 2);
        TrainConfig cfg = TrainConfig.defaults(model, steps).withSteps(steps, Math.min(400, steps / 5))
                .withBatch(batch).withThreads(threads).withCheckpoint(ckpt, 250).withEval(250, 500)
                .withRegularization(0.0f, 0.1f, 0.0);
        long t0 = System.nanoTime();
        Trainer trainer = new Trainer(cfg, train, valid, new TrainListener() {
            double tokens;

            @Override
            public void onStep(TrainListener.StepInfo s) {
                tokens += s.targetTokens();
                if (s.step() % 25 == 0) {
                    System.out.printf("step %d/%d loss %.4f lr %.2e gnorm %.2f %.0f tok/s elapsed %.0f s%n",
                            s.step(), s.totalSteps(), s.loss(), s.lr(), s.gradNorm(), s.tokensPerSecond(),
                            s.elapsedSeconds());
                }
            }

            @Override
            public void onEval(TrainListener.EvalInfo e) {
                System.out.printf("EVAL step %d: valid loss %.4f, exact match %.2f%% on %d unseen numbers%n",
                        e.step(), e.loss(), 100 * e.exactMatch(), e.sentences());
            }
        });
        System.out.printf("prepared in %.1f s: vocab %d, %d training pairs, %.2f M parameters, resuming at step %d%n",
                (System.nanoTime() - t0) * 1e-9, trainer.model().config().vocabSize(), train.size(),
                trainer.model().params().count() / 1e6, trainer.step());
        trainer.run();
        List<Pair> all = valid; // all 2,000 unseen numbers (the periodic evaluations use the first 500)
        List<String> hyp = trainer.translate(all.stream().map(Pair::source).toList());
        int exact = 0;
        int shown = 0;
        for (int i = 0; i < all.size(); i++) {
            if (hyp.get(i).equals(all.get(i).target())) {
                exact++;
            } else if (shown++ < 5) {
                System.out.println("miss: " + all.get(i).source() + " -> " + hyp.get(i) + " (want " + all.get(i).target() + ")");
            }
        }
        System.out.printf("FINAL after %d steps, %.0f s: exact match %d / %d = %.2f%%%n", trainer.step(),
                (System.nanoTime() - t0) * 1e-9, exact, all.size(), 100.0 * exact / all.size());
    }
}
