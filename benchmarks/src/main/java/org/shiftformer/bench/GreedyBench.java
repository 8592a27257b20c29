package org.shiftformer.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.model.Batch;
import org.shiftformer.trainer.model.FloatNumerics;
import org.shiftformer.trainer.model.Numerics;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.model.TransformerParams;
import org.shiftformer.trainer.qat.QatNumerics;
import org.shiftformer.trainer.qat.Thresholds;

/**
 * The trainer's greedy decoding (validation and scoring) before and after the KV cache, same run, same inputs:
 * {@link Seq2SeqModel#greedyRecompute}
 * (the decoder over the whole prefix at every step) against {@link Seq2SeqModel#greedy} (one new position per
 * step, finished sequences dropped), through the float and the fake-quantized numerics, on the {@code small}
 * preset (d 256, 4 heads, FFN 1024, 3 + 3 layers) with a 4,000-id vocabulary, untrained (seeded). Sources
 * have 4 to 24 random ids plus EOS and are decoded as {@code Trainer.translate} does: sorted by length, in
 * batches of 64, limit {@code 2 · source length + 8} each ({@code Trainer.maxNewTokens}; an untrained model
 * rarely says EOS, so the limits decide the lengths). Checks that both paths give the same ids. A
 * measurement, not a test.
 *
 * <pre>
 * ./shiftformer bench GreedyBench [sources, default 200] [threads, default all]
 * </pre>
 */
public final class GreedyBench {

    private GreedyBench() {
    }

    public static void main(String[] args) {
        int count = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        if (args.length > 1) {
            MatMul.setThreads(Integer.parseInt(args[1]));
        }
        ModelConfig cfg = RandomModels.preset("small", 4000);
        Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(cfg, 42), 0.1f);
        SplittableRandom r = new SplittableRandom(7);
        List<int[]> sources = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] s = new int[5 + r.nextInt(21)];
            for (int j = 0; j < s.length - 1; j++) {
                s[j] = 3 + r.nextInt(cfg.vocabSize() - 3);
            }
            s[s.length - 1] = cfg.eosId();
            sources.add(s);
        }
        sources.sort(Comparator.comparingInt(s -> s.length));
        int[] limits = new int[count];
        long tokens = 0;
        for (int i = 0; i < count; i++) {
            limits[i] = Math.min(cfg.maxPositions() - 1, 2 * sources.get(i).length + 8);
            tokens += limits[i];
        }
        System.out.printf("small preset, vocab %d, %d sources of 5-25 ids (with EOS), batches of 64, "
                + "at most %d tokens, %d kernel threads%n", cfg.vocabSize(), count, tokens, MatMul.threads());

        QatNumerics qat = new QatNumerics(cfg, QatNumerics.fastestKernels(), new Thresholds());
        qat.calibrating(true);
        try (var ignored = Tensor.noGrad()) {
            // calibrated on two batches of the bench's own random sources (each batch its own targets)
            for (int i = 0; i < 2; i++) {
                List<int[]> part = new ArrayList<>();
                for (int j = 0; j < 16; j++) {
                    part.add(sources.get((16 * i + j) % count));
                }
                model.logits(Batch.of(part, part, cfg), qat);
            }
        }
        qat.calibrating(false);

        for (String label : List.of("float", "QAT")) {
            Numerics n = label.equals("float") ? FloatNumerics.plain() : qat;
            // warm-up of both paths on a few short sources
            run(model, sources.subList(0, 8), Arrays.copyOf(limits, 8), n, true);
            run(model, sources.subList(0, 8), Arrays.copyOf(limits, 8), n, false);
            System.gc();
            long t0 = System.nanoTime();
            List<int[]> before = run(model, sources, limits, n, true);
            long t1 = System.nanoTime();
            System.gc();
            long t2 = System.nanoTime();
            List<int[]> after = run(model, sources, limits, n, false);
            long t3 = System.nanoTime();
            long generated = 0;
            for (int i = 0; i < count; i++) {
                if (!Arrays.equals(before.get(i), after.get(i))) {
                    throw new AssertionError(label + ": sequence " + i + " differs");
                }
                generated += after.get(i).length;
            }
            double a = (t1 - t0) * 1e-9;
            double b = (t3 - t2) * 1e-9;
            System.out.printf("%-5s recompute %7.2f s, KV cache %6.2f s: %.1fx faster (%d tokens, identical ids)%n",
                    label, a, b, a / b, generated);
        }
    }

    /** {@code Trainer.translate}'s batching: 64 sources at a time (already sorted by length). */
    private static List<int[]> run(Seq2SeqModel model, List<int[]> sources, int[] limits, Numerics n,
                                   boolean recompute) {
        List<int[]> out = new ArrayList<>();
        for (int from = 0; from < sources.size(); from += 64) {
            int to = Math.min(sources.size(), from + 64);
            List<int[]> part = sources.subList(from, to);
            int[] lim = Arrays.copyOfRange(limits, from, to);
            out.addAll(recompute ? model.greedyRecompute(part, lim, n) : model.greedy(part, lim, n));
        }
        return out;
    }
}
