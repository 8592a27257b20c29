package org.shiftformer.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.autodiff.Workspace;
import org.shiftformer.trainer.model.Batch;
import org.shiftformer.trainer.model.FloatNumerics;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.model.TransformerParams;
import org.shiftformer.trainer.optim.AdamW;
import org.shiftformer.trainer.optim.LrSchedule;
import org.shiftformer.trainer.optim.ParamGroup;
import org.shiftformer.trainer.qat.QatNumerics;
import org.shiftformer.trainer.qat.Thresholds;

/**
 * Float and QAT training throughput on PERF.md's peer shape: {@code small} preset (d 256, 4 heads, FFN 1024, 3 + 3
 * layers), vocabulary 1000, batch 64, source and target length 24 (23 random tokens + EOS), dropout 0.1:
 * forward, backward and AdamW. Prints target tokens/s (PyTorch: 1,605 on 2 threads) and the matmul
 * GFLOP/s achieved (6 x the forward multiply-adds per step, over the whole step time).
 *
 * <pre>
 * ./shiftformer bench TrainBench [threads] [steps] [warm-up steps, default 5] [rounds, default 2]
 * </pre>
 */
public final class TrainBench {

    private TrainBench() {
    }

    /** What a phase measured: wall and CPU seconds summed over its measured steps, and its median step (s). */
    private record Phase(double wall, double cpu, double median) {
    }

    /** Runs warm-up then {@code steps} measured steps; prints each and the mean. */
    private static Phase measure(String label, int warmup, int steps, Batch batch, double flops,
                                  java.util.function.Supplier<Tensor> forward, AdamW adam) {
        var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean();
        double wallSum = 0;
        double cpuSum = 0;
        // -Dbench.jfr=PREFIX: a JFR recording ("profile" settings) of the measured steps only, one file per
        // phase: PREFIX-float.jfr, PREFIX-QAT.jfr
        String jfr = System.getProperty("bench.jfr");
        jdk.jfr.Recording recording = null;
        double[] walls = new double[steps];
        for (int i = 0; i < steps + warmup; i++) {
            if (i == warmup) {
                // The arrays the steps reuse (Workspace) were allocated during the warm-up; the first young
                // collection after that copies them all to the old generation once (0.6-1.1 s measured with
                // ParallelGC). Collect here so that this one-time cost does not land in a measured step.
                System.gc();
            }
            if (i == warmup && jfr != null) {
                try {
                    recording = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("profile"));
                    recording.setDestination(java.nio.file.Path.of(jfr + "-" + label + ".jfr"));
                } catch (java.io.IOException | java.text.ParseException e) {
                    throw new IllegalStateException(e);
                }
                recording.start();
            }
            long c0 = os.getProcessCpuTime();
            long t0 = System.nanoTime();
            long t1;
            long t2;
            float lossValue;
            try (var ignored = Workspace.open()) { // as Trainer.trainStep: the step's arrays are reused
                Tensor loss = forward.get();
                t1 = System.nanoTime();
                loss.backward();
                t2 = System.nanoTime();
                adam.step();
                lossValue = loss.item();
            }
            long t3 = System.nanoTime();
            double cpu = (os.getProcessCpuTime() - c0) * 1e-9;
            double sec = (t3 - t0) * 1e-9;
            if (i >= warmup) {
                wallSum += sec;
                cpuSum += cpu;
                walls[i - warmup] = sec;
            }
            System.out.printf("%s %s step %d: loss %.4f, %.0f ms (forward %.0f, backward %.0f, adam %.0f), "
                            + "%.0f target tokens/s, %.1f GFLOP/s; %.2f CPU s%n", label, i < warmup ? "warm-up" : "measured",
                    i, lossValue, sec * 1e3, (t1 - t0) * 1e-6, (t2 - t1) * 1e-6, (t3 - t2) * 1e-6,
                    batch.targetTokens() / sec, flops / sec / 1e9, cpu);
        }
        if (recording != null) {
            recording.stop();
            recording.close();
        }
        // CPU time (all JVM threads, including GC and JIT) tells what the step costs when other processes
        // share the cores: tokens per CPU-second times the core count is the unshared ceiling.
        java.util.Arrays.sort(walls);
        double median = steps % 2 == 1 ? walls[steps / 2] : (walls[steps / 2 - 1] + walls[steps / 2]) / 2;
        System.out.printf("%s: mean of %d measured steps: %.0f target tokens/s wall, %.1f GFLOP/s wall; "
                        + "%.0f target tokens per CPU-second, %.1f GFLOP per CPU-second; median step %.0f target "
                        + "tokens/s%n", label, steps,
                batch.targetTokens() * steps / wallSum, flops * steps / wallSum / 1e9,
                batch.targetTokens() * steps / cpuSum, flops * steps / cpuSum / 1e9, batch.targetTokens() / median);
        return new Phase(wallSum, cpuSum, median);
    }

    /** A hash of the exact bits of every parameter, in order. */
    private static long checksum(List<Tensor> params) {
        long h = 1125899906842597L;
        for (Tensor t : params) {
            for (float v : t.data()) {
                h = 31 * h + Float.floatToRawIntBits(v);
            }
        }
        return h;
    }

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        // warm-up steps of each phase: the JIT compiles the QAT path's methods during its first few steps
        int warmup = args.length > 2 ? Integer.parseInt(args[2]) : 5;
        // float and QAT phases alternate this many times (float, QAT, float, QAT, ...): a load that changes
        // during the run then weighs on both, and the QAT step cost compares all of them
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        int b = 64;
        int len = 24;
        ModelConfig cfg = RandomModels.preset("small", 1000);
        MatMul.setThreads(threads);
        SplittableRandom rnd = new SplittableRandom(7);
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            int[] s = new int[len];
            int[] t = new int[len - 1];
            for (int j = 0; j < len; j++) {
                s[j] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            s[len - 1] = cfg.eosId();
            for (int j = 0; j < len - 1; j++) {
                t[j] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            src.add(s);
            tgt.add(t);
        }
        Batch batch = Batch.of(src, tgt, cfg);
        TransformerParams params = TransformerParams.init(cfg, 1);
        Seq2SeqModel model = new Seq2SeqModel(params, 0.1f);
        AdamW adam = AdamW.standard(List.of(new ParamGroup("w", params.list(), LrSchedule.constant(1e-4), 0)));
        double d = cfg.dModel();
        double ff = cfg.dFf();
        double s = len;
        double t = len;
        double macs = b * (s * cfg.encoderLayers() * (4 * d * d + 2 * d * ff + 2 * s * d)
                + t * cfg.decoderLayers() * (4 * d * d + 2 * d * d + 2 * d * ff + 2 * t * d + 2 * s * d)
                + s * cfg.decoderLayers() * 2 * d * d
                + t * cfg.vocabSize() * d);
        double flops = 6 * macs;
        System.out.printf("small preset, vocab %d, batch %d, length %d, %d threads, %.2f M params, %.1f GFLOP/step%n",
                cfg.vocabSize(), b, len, threads, params.count() / 1e6, flops / 1e9);
        java.util.function.Supplier<Tensor> floatStep = () -> {
            adam.zeroGrad();
            return model.loss(batch, FloatNumerics.training(0.1f, adam.stepCount()), true);
        };
        // QAT: the bit-exact fake-quantized forward (integers as backend-sim's kernels compute them) with the TQT
        // backward, thresholds calibrated on the batch and trained in their own Adam group
        QatNumerics qat = new QatNumerics(cfg, QatNumerics.fastestKernels(), new Thresholds());
        AdamW qadam = null;
        double[] sum = new double[4]; // float wall, float CPU, QAT wall, QAT CPU
        List<Double> floatMedians = new ArrayList<>();
        List<Double> qatMedians = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            Phase f = measure("float", warmup, steps, batch, flops, floatStep, adam);
            if (round == 0) {
                System.out.printf("parameter bits after the float steps: %016x (equal across versions = the same "
                        + "arithmetic)%n", checksum(params.list()));
                qat.calibrating(true);
                try (var ignored = Tensor.noGrad()) {
                    model.logits(batch, qat);
                }
                qat.calibrating(false);
                qadam = AdamW.standard(List.of(new ParamGroup("w", params.list(), LrSchedule.constant(1e-5), 0),
                        new ParamGroup("t", qat.thresholds().parameters(), LrSchedule.constant(1e-3), 0)));
            }
            AdamW qa = qadam;
            Phase q = measure("QAT", warmup, steps, batch, flops, () -> {
                qa.zeroGrad();
                return model.loss(batch, qat, true);
            }, qa);
            if (round == 0) {
                System.out.printf("parameter bits after the QAT steps: %016x%n", checksum(params.list()));
            }
            sum[0] += f.wall();
            sum[1] += f.cpu();
            sum[2] += q.wall();
            sum[3] += q.cpu();
            floatMedians.add(f.median());
            qatMedians.add(q.median());
        }
        double tokens = (double) batch.targetTokens() * steps * rounds;
        System.out.printf("float, %d rounds of %d steps: %.0f target tokens/s wall, %.0f per CPU-second%n", rounds,
                steps, tokens / sum[0], tokens / sum[1]);
        System.out.printf("QAT, %d rounds of %d steps: %.0f target tokens/s wall, %.0f per CPU-second%n", rounds,
                steps, tokens / sum[2], tokens / sum[3]);
        System.out.printf("QAT step cost: %.2fx a float step in wall time, %.2fx in CPU time, %.2fx in median steps "
                        + "(measured side by side in this run, phases alternating)%n", sum[2] / sum[0], sum[3] / sum[1],
                qatMedians.stream().mapToDouble(Double::doubleValue).sum()
                        / floatMedians.stream().mapToDouble(Double::doubleValue).sum());
        MatMul.setThreads(1);
    }
}
