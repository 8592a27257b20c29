package org.shiftformer.bench;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.shiftformer.sim.kernel.Int8Gemm;
import org.shiftformer.sim.kernel.PackedWeights;

/**
 * int8 x int8 -> int32 LINEAR ({@code out[m][n] = b[n] + sum_k x[m][k] * W[n][k]}): backend-sim's exact
 * Vector API kernel (weights prepacked once, as at model load; the per-call input pairing is included)
 * against a plain scalar Java triple loop on the same inputs. Full-range random int8 values and biases.
 *
 * <p>Scores are calls per second; the {@code gmac} secondary result is GMAC/s directly
 * ({@code M * K * N * 1e-9} per call, counted per second).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
public class MatmulBenchmark {
    /** {@code MxKxN}. */
    @Param({"1x256x256", "8x256x1024", "64x256x256", "1x256x8000", "16x256x8000"})
    public String shape;

    private int m;
    private int k;
    private int n;
    private byte[] x;
    private byte[] w;
    private int[] bias;
    private int[] out;
    private PackedWeights packed;
    private int[] pairs;
    private final int[] tail = new int[32];

    /** GMAC per call, reported per second: GMAC/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Gmac {
        public double gmac;
    }

    @Setup(Level.Trial)
    public void setUp() {
        String[] p = shape.split("x");
        m = Integer.parseInt(p[0]);
        k = Integer.parseInt(p[1]);
        n = Integer.parseInt(p[2]);
        SplittableRandom rnd = new SplittableRandom(42);
        x = new byte[m * k];
        w = new byte[n * k];
        for (int i = 0; i < x.length; i++) {
            x[i] = (byte) rnd.nextInt(-128, 128);
        }
        for (int i = 0; i < w.length; i++) {
            w[i] = (byte) rnd.nextInt(-128, 128);
        }
        bias = new int[n];
        for (int i = 0; i < n; i++) {
            bias[i] = rnd.nextInt(-100000, 100000);
        }
        out = new int[m * n];
        packed = PackedWeights.pack(w, 0, n, k, bias, false);
        pairs = new int[m * Int8Gemm.pairStride(k)];
        // both implementations must agree before anything is timed
        int[] check = new int[m * n];
        scalarLinear(x, m, k, w, n, bias, check);
        Int8Gemm.linear(x, 0, k, m, packed, out, 0, n, pairs, tail);
        if (!java.util.Arrays.equals(check, out)) {
            throw new IllegalStateException("exact kernel differs from the scalar loop at " + shape);
        }
    }

    @Benchmark
    public int[] exact(Gmac g) {
        Int8Gemm.linear(x, 0, k, m, packed, out, 0, n, pairs, tail);
        g.gmac += (double) m * k * n * 1e-9;
        return out;
    }

    @Benchmark
    public int[] scalar(Gmac g) {
        scalarLinear(x, m, k, w, n, bias, out);
        g.gmac += (double) m * k * n * 1e-9;
        return out;
    }

    /** The plain Java triple loop. */
    static void scalarLinear(byte[] x, int m, int k, byte[] w, int n, int[] bias, int[] out) {
        for (int r = 0; r < m; r++) {
            for (int o = 0; o < n; o++) {
                int s = bias[o];
                for (int i = 0; i < k; i++) {
                    s += x[r * k + i] * w[o * k + i];
                }
                out[r * n + o] = s;
            }
        }
    }
}
