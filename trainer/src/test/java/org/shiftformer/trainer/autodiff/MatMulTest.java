package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The fast kernels keep the per-element summation order of {@link MatMul#gemmPlain} (fma over k ascending),
 * so they must equal it bit for bit, for every shape, transpose flag and thread count.
 */
class MatMulTest {

    private final SplittableRandom rnd = new SplittableRandom(3);
    private final int defaultThreads = MatMul.threads();

    @AfterEach
    void restoreThreads() {
        MatMul.setThreads(defaultThreads);
    }

    private float[] rand(int n) {
        float[] d = new float[n];
        for (int i = 0; i < n; i++) {
            d[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return d;
    }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Float.floatToRawIntBits(a[i]);
        }
        return b;
    }

    @Test
    void fastEqualsPlainBitForBit() {
        int[][] shapes = {{1, 1, 1}, {1, 8, 3}, {4, 16, 5}, {5, 17, 9}, {7, 33, 1}, {9, 40, 13}, {64, 64, 64},
            {3, 7, 0}, {33, 100, 31}, {130, 72, 70}, {17, 1000, 24},
            // the blocked path: several K blocks (KC 256), N blocks (NC 256), edge tiles and leftover rows
            {37, 300, 530}, {8, 33, 257}, {61, 513, 300}};
        for (int threads : new int[] {1, 2}) {
            MatMul.setThreads(threads);
            for (int[] s : shapes) {
                int m = s[0];
                int n = s[1];
                int k = s[2];
                for (int flags = 0; flags < 8; flags++) {
                    boolean ta = (flags & 1) != 0;
                    boolean tb = (flags & 2) != 0;
                    boolean acc = (flags & 4) != 0;
                    float[] a = rand(m * k + 3);
                    float[] b = rand(k * n + 2);
                    float[] c0 = rand(m * n + 5);
                    float[] plain = c0.clone();
                    float[] fast = c0.clone();
                    MatMul.gemmPlain(ta, tb, m, n, k, a, 3, b, 2, plain, 5, acc);
                    MatMul.gemm(ta, tb, m, n, k, a, 3, b, 2, fast, 5, acc);
                    assertArrayEquals(bits(plain), bits(fast),
                            () -> "m,n,k=" + m + "," + n + "," + k + " flags " + ta + tb + acc + " threads " + threads);
                }
            }
        }
    }

    @Test
    void batchedEqualsPlainPerEntry() {
        int batch = 6;
        int m = 11;
        int n = 19;
        int k = 24;
        for (boolean shared : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = rand(batch * m * k);
                float[] b = rand((shared ? 1 : batch) * k * n);
                float[] fast = new float[batch * m * n];
                float[] plain = new float[batch * m * n];
                MatMul.gemmBatched(batch, false, tb, m, n, k, a, 0, m * k, b, 0, shared ? 0 : k * n, fast, 0, m * n,
                        false);
                for (int t = 0; t < batch; t++) {
                    MatMul.gemmPlain(false, tb, m, n, k, a, t * m * k, b, shared ? 0 : t * k * n, plain, t * m * n, false);
                }
                assertArrayEquals(bits(plain), bits(fast));
            }
        }
    }

    @Test
    void sameBitsForEveryThreadCount() {
        float[] a = rand(96 * 256);
        float[] b = rand(256 * 300);
        float[] ref = null;
        for (int threads : new int[] {1, 2, 3, 4, 7}) {
            MatMul.setThreads(threads);
            float[] c = new float[96 * 300];
            MatMul.gemm(false, true, 96, 300, 256, a, 0, b, 0, c, 0, false);
            if (ref == null) {
                ref = c;
            } else {
                assertArrayEquals(bits(ref), bits(c), "threads " + threads);
            }
        }
    }

    @Test
    void transpose() {
        float[] src = rand(5 * 37);
        float[] dst = new float[5 * 37];
        MatMul.transpose(src, 0, 5, 37, dst, 0);
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 37; j++) {
                org.junit.jupiter.api.Assertions.assertEquals(src[i * 37 + j], dst[j * 5 + i]);
            }
        }
    }
}
