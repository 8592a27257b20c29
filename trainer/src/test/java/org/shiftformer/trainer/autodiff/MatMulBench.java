package org.shiftformer.trainer.autodiff;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Quick matmul throughput harness (not a test; PERF.md: figures vary +-25% between runs, compare within
 * one run). Run after {@code mvn -pl trainer test-compile}:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp trainer/target/classes:trainer/target/test-classes \
 *       org.shiftformer.trainer.autodiff.MatMulBench
 * </pre>
 * Shapes are {@code M x K x N}; GFLOP/s counts 2·M·N·K per product; the median of several timed rounds.
 */
public final class MatMulBench {

    private MatMulBench() {
    }

    interface Kernel {
        void run(float[] a, float[] b, float[] c);
    }

    /** What one would write first: i-j-k dot products, {@code s += a*b} (two roundings, no FMA). */
    static void naive(int m, int n, int k, float[] a, float[] b, float[] c) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float s = 0;
                for (int p = 0; p < k; p++) {
                    s += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = s;
            }
        }
    }

    static double gflops(int m, int k, int n, Kernel kern, float[] a, float[] b, float[] c) {
        double flop = 2.0 * m * n * k;
        int reps = (int) Math.max(1, 2e8 / flop);
        double[] rounds = new double[7];
        long warmEnd = System.nanoTime() + 700_000_000L; // JIT warm-up: C2 and the vector intrinsics
        while (System.nanoTime() < warmEnd) {
            kern.run(a, b, c);
        }
        for (int round = 0; round < rounds.length; round++) {
            long t0 = System.nanoTime();
            for (int r = 0; r < reps; r++) {
                kern.run(a, b, c);
            }
            rounds[round] = flop * reps / (System.nanoTime() - t0);
        }
        Arrays.sort(rounds);
        return rounds[rounds.length / 2];
    }

    public static void main(String[] args) {
        int[][] shapes = {{64, 256, 256}, {128, 256, 1024}, {1536, 256, 256}, {1536, 256, 1024}};
        int defaultThreads = MatMul.threads();
        SplittableRandom rnd = new SplittableRandom(1);
        System.out.printf("cores %d, vector species %s%n", Runtime.getRuntime().availableProcessors(),
                jdk.incubator.vector.FloatVector.SPECIES_PREFERRED);
        System.out.printf("%-16s %10s %10s %10s %10s %10s%n", "MxKxN", "naive", "fmaPlain", "fast 1T",
                "fast " + defaultThreads + "T", "fast NT " + defaultThreads + "T");
        for (int pass = 0; pass < 2; pass++) {
            System.out.println(pass == 0 ? "(pass 1: warm-up)" : "(pass 2)");
            table(shapes, defaultThreads, rnd);
        }
        MatMul.setThreads(defaultThreads);
        System.exit(0);
    }

    private static void table(int[][] shapes, int defaultThreads, SplittableRandom rnd) {
        for (int[] s : shapes) {
            int m = s[0];
            int k = s[1];
            int n = s[2];
            float[] a = new float[m * k];
            float[] b = new float[k * n];
            float[] c = new float[m * n];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) rnd.nextDouble();
            }
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) rnd.nextDouble();
            }
            boolean big = (double) m * n * k > 1e8;
            double naive = big ? Double.NaN : gflops(m, k, n, (x, y, z) -> naive(m, n, k, x, y, z), a, b, c);
            double plain = big ? Double.NaN : gflops(m, k, n,
                    (x, y, z) -> MatMul.gemmPlain(false, false, m, n, k, x, 0, y, 0, z, 0, false), a, b, c);
            MatMul.setThreads(1);
            double fast1 = gflops(m, k, n, (x, y, z) -> MatMul.gemm(false, false, m, n, k, x, 0, y, 0, z, 0, false),
                    a, b, c);
            MatMul.setThreads(defaultThreads);
            double fastN = gflops(m, k, n, (x, y, z) -> MatMul.gemm(false, false, m, n, k, x, 0, y, 0, z, 0, false),
                    a, b, c);
            // x·Wᵀ with W [N, K] as the model calls it (includes the transpose copy)
            double fastNT = gflops(m, k, n, (x, y, z) -> MatMul.gemm(false, true, m, n, k, x, 0, y, 0, z, 0, false),
                    a, b, c);
            System.out.printf("%-16s %10.2f %10.2f %10.2f %10.2f %10.2f%n", m + "x" + k + "x" + n, naive, plain,
                    fast1, fastN, fastNT);
        }
        MatMul.setThreads(defaultThreads);
    }
}
