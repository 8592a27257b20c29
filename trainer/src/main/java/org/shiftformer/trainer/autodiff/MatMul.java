package org.shiftformer.trainer.autodiff;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 matrix multiplication kernels: {@code C[M,N] (= or +=) op(A) · op(B)}, row-major with offsets,
 * where {@code op} is the identity or the transpose.
 *
 * <p><b>Summation order (the bit contract).</b> Every output element is computed as
 * {@code c = (accumulate ? C : +0); for k = 0 .. K-1 ascending: c = fma(a_ik, b_kj, c)} with one rounding
 * per step. {@link #gemmPlain} is that loop written literally; the fast path ({@link #gemm}) keeps exactly
 * this order per element (the vector lanes run over {@code j}, never over {@code k}), so both give the
 * same bits. Work is split across threads by output rows (and batch entries) only; no element is ever
 * reduced across threads, so the result does not depend on the thread count.
 *
 * <p>Transposed operands are copied into row-major {@code [K, N]} / {@code [M, K]} scratch first (cost
 * O(MK + KN), negligible against O(MNK)).
 */
public final class MatMul {

    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int V = SP.length();
    /** Below this many multiply-adds a call runs on the caller thread. */
    private static final long PARALLEL_THRESHOLD = 1L << 16;

    private static volatile ForkJoinPool pool = newPool(Runtime.getRuntime().availableProcessors());
    private static volatile int threads = Runtime.getRuntime().availableProcessors();

    private MatMul() {
    }

    private static ForkJoinPool newPool(int n) {
        return n <= 1 ? null : new ForkJoinPool(n);
    }

    /** Sets the number of kernel threads (1 = caller thread only). Results do not depend on it. */
    public static synchronized void setThreads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("threads must be >= 1: " + n);
        }
        ForkJoinPool old = pool;
        pool = newPool(n);
        threads = n;
        if (old != null) {
            old.shutdown();
        }
    }

    public static int threads() {
        return threads;
    }

    /** A body over items {@code [from, to)}. */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    /**
     * Runs {@code body} over {@code [0, items)} split into contiguous chunks on the kernel threads (the caller
     * is one of them). Only for bodies whose items are independent (each writes its own outputs), so the
     * result does not depend on the split or the thread count. Runs on the caller alone below
     * {@code items · workPerItem < 65,536}.
     */
    public static void parallelFor(int items, long workPerItem, Range body) {
        ForkJoinPool p = pool;
        int nThreads = threads;
        if (p == null || items < 2 || (long) items * workPerItem < PARALLEL_THRESHOLD) {
            body.run(0, items);
            return;
        }
        int workers = Math.min(nThreads, items);
        int per = (items + workers - 1) / workers;
        ForkJoinTask<?>[] forked = new ForkJoinTask<?>[workers];
        for (int w = 1; w < workers; w++) {
            int from = Math.min(items, w * per);
            int to = Math.min(items, from + per);
            forked[w] = p.submit(() -> body.run(from, to));
        }
        body.run(0, Math.min(items, per));
        for (int w = 1; w < workers; w++) {
            forked[w].join();
        }
    }

    // ---- reference -------------------------------------------------------------------------------------

    /** The literal loop of the summation-order contract (slow; the reference for tests and benchmarks). */
    public static void gemmPlain(boolean transA, boolean transB, int m, int n, int k,
                                 float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, boolean accumulate) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float s = accumulate ? c[cOff + i * n + j] : 0f;
                for (int p = 0; p < k; p++) {
                    float av = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
                    float bv = transB ? b[bOff + j * k + p] : b[bOff + p * n + j];
                    s = Math.fma(av, bv, s);
                }
                c[cOff + i * n + j] = s;
            }
        }
    }

    // ---- fast path -------------------------------------------------------------------------------------

    /** Single matrix product, parallel over rows of C. */
    public static void gemm(boolean transA, boolean transB, int m, int n, int k,
                            float[] a, int aOff, float[] b, int bOff, float[] c, int cOff, boolean accumulate) {
        gemmBatched(1, transA, transB, m, n, k, a, aOff, 0, b, bOff, 0, c, cOff, 0, accumulate);
    }

    /**
     * {@code batch} independent products; entry {@code t} uses {@code a[aOff + t*aStride]},
     * {@code b[bOff + t*bStride]} ({@code bStride = 0}: one B shared by all) and {@code c[cOff + t*cStride]}.
     */
    public static void gemmBatched(int batch, boolean transA, boolean transB, int m, int n, int k,
                                   float[] a, int aOff, int aStride, float[] b, int bOff, int bStride,
                                   float[] c, int cOff, int cStride, boolean accumulate) {
        if (batch == 0 || m == 0 || n == 0) {
            return;
        }
        // Bring operands to the row-major NN form.
        float[] aa = a;
        int aaOff = aOff;
        int aaStride = aStride;
        if (transA) {
            aa = new float[batch * m * k];
            for (int t = 0; t < batch; t++) {
                transpose(a, aOff + t * aStride, k, m, aa, t * m * k);
            }
            aaOff = 0;
            aaStride = m * k;
        }
        float[] bb = b;
        int bbOff = bOff;
        int bbStride = bStride;
        if (transB) {
            int nb = bStride == 0 ? 1 : batch;
            bb = new float[nb * k * n];
            for (int t = 0; t < nb; t++) {
                transpose(b, bOff + t * bStride, n, k, bb, t * k * n);
            }
            bbOff = 0;
            bbStride = bStride == 0 ? 0 : k * n;
        }
        final float[] fa = aa;
        final float[] fb = bb;
        final int fao = aaOff;
        final int fas = aaStride;
        final int fbo = bbOff;
        final int fbs = bbStride;
        ForkJoinPool p = pool;
        long work = (long) batch * m * n * Math.max(k, 1);
        int nThreads = threads;
        if (p == null || work < PARALLEL_THRESHOLD) {
            for (int t = 0; t < batch; t++) {
                gemmRows(fa, fao + t * fas, fb, fbo + t * fbs, c, cOff + t * cStride, 0, m, n, k, accumulate);
            }
            return;
        }
        // Fixed partition into units (a chunk of rows, a multiple of 4, of one batch entry); each output
        // element belongs to exactly one unit and a unit's result does not depend on the thread that runs
        // it. Units go round-robin to the workers; the caller thread is worker 0 and then parks in join()
        // (measured: spinning for late helpers instead was much slower when the 2 cores are shared).
        int chunksPerBatch = Math.max(1, Math.min((m + 3) / 4, (nThreads + batch - 1) / batch));
        int rowsPerChunk = ((m + chunksPerBatch - 1) / chunksPerBatch + 3) & ~3;
        int chunks = (m + rowsPerChunk - 1) / rowsPerChunk;
        int tasks = batch * chunks;
        int workers = Math.min(nThreads, tasks);
        ForkJoinTask<?>[] forked = new ForkJoinTask<?>[workers];
        for (int w = 1; w < workers; w++) {
            final int fw = w;
            forked[w] = p.submit(() -> runUnits(fw, workers, tasks, chunks, rowsPerChunk, m, n, k,
                    fa, fao, fas, fb, fbo, fbs, c, cOff, cStride, accumulate));
        }
        runUnits(0, workers, tasks, chunks, rowsPerChunk, m, n, k, fa, fao, fas, fb, fbo, fbs, c, cOff, cStride,
                accumulate);
        for (int w = 1; w < workers; w++) {
            forked[w].join();
        }
    }

    private static void runUnits(int worker, int workers, int tasks, int chunks, int rowsPerChunk, int m, int n,
                                 int k, float[] a, int aOff, int aStride, float[] b, int bOff, int bStride,
                                 float[] c, int cOff, int cStride, boolean acc) {
        for (int task = worker; task < tasks; task += workers) {
            int t = task / chunks;
            int r0 = (task % chunks) * rowsPerChunk;
            int r1 = Math.min(m, r0 + rowsPerChunk);
            gemmRows(a, aOff + t * aStride, b, bOff + t * bStride, c, cOff + t * cStride, r0, r1, n, k, acc);
        }
    }

    /** Rows {@code [r0, r1)} of C = A·B, all row-major (lda = k, ldb = ldc = n). */
    static void gemmRows(float[] a, int aOff, float[] b, int bOff, float[] c, int cOff,
                         int r0, int r1, int n, int k, boolean acc) {
        int n2 = n - n % (2 * V);
        int n1 = n - n % V;
        // Pack each K x 2V panel of B contiguously (a stride of n floats would alias in L1 when n is a
        // multiple of 1024) once, then sweep all row blocks over it. Packing does not change any sum.
        boolean pack = r1 - r0 >= 4 && k > 0;
        float[] panel = pack ? new float[k * 2 * V] : null;
        for (int j = 0; j < n2; j += 2 * V) {
            float[] pb = b;
            int pOff = bOff + j;
            int ldb = n;
            if (pack) {
                packPanel(b, bOff + j, n, k, 2 * V, panel);
                pb = panel;
                pOff = 0;
                ldb = 2 * V;
            }
            int i = r0;
            for (; i + 4 <= r1; i += 4) {
                k4x2(a, aOff + i * k, k, pb, pOff, ldb, c, cOff + i * n + j, n, acc);
            }
            for (; i < r1; i++) {
                k1x2(a, aOff + i * k, k, pb, pOff, ldb, c, cOff + i * n + j, acc);
            }
        }
        for (int j = n2; j < n1; j += V) {
            int i = r0;
            for (; i + 4 <= r1; i += 4) {
                k4x1(a, aOff + i * k, k, b, bOff + j, n, c, cOff + i * n + j, n, acc);
            }
            for (; i < r1; i++) {
                k1x1(a, aOff + i * k, k, b, bOff + j, n, c, cOff + i * n + j, acc);
            }
        }
        if (n1 < n) {
            for (int i = r0; i < r1; i++) {
                scalarTail(a, aOff + i * k, k, b, bOff, n, c, cOff + i * n, n1, acc);
            }
        }
    }

    private static void packPanel(float[] b, int b0, int n, int k, int w, float[] dst) {
        if (w == 2 * V) { // two vector moves per row: cheaper than a System.arraycopy call of 64 bytes
            for (int p = 0, bi = b0, d = 0; p < k; p++, bi += n, d += w) {
                FloatVector.fromArray(SP, b, bi).intoArray(dst, d);
                FloatVector.fromArray(SP, b, bi + V).intoArray(dst, d + V);
            }
            return;
        }
        for (int p = 0, bi = b0, d = 0; p < k; p++, bi += n, d += w) {
            System.arraycopy(b, bi, dst, d, w);
        }
    }

    // Each micro-kernel is its own small method (PERF.md: large methods stop C2 inlining vector helpers).

    private static void k4x2(float[] a, int a0, int k, float[] b, int b0, int ldb, float[] c, int c0, int n,
                             boolean acc) {
        FloatVector c00;
        FloatVector c01;
        FloatVector c10;
        FloatVector c11;
        FloatVector c20;
        FloatVector c21;
        FloatVector c30;
        FloatVector c31;
        if (acc) {
            c00 = FloatVector.fromArray(SP, c, c0);
            c01 = FloatVector.fromArray(SP, c, c0 + V);
            c10 = FloatVector.fromArray(SP, c, c0 + n);
            c11 = FloatVector.fromArray(SP, c, c0 + n + V);
            c20 = FloatVector.fromArray(SP, c, c0 + 2 * n);
            c21 = FloatVector.fromArray(SP, c, c0 + 2 * n + V);
            c30 = FloatVector.fromArray(SP, c, c0 + 3 * n);
            c31 = FloatVector.fromArray(SP, c, c0 + 3 * n + V);
        } else {
            c00 = FloatVector.zero(SP);
            c01 = c00;
            c10 = c00;
            c11 = c00;
            c20 = c00;
            c21 = c00;
            c30 = c00;
            c31 = c00;
        }
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
        for (int p = 0, bi = b0; p < k; p++, bi += ldb) {
            FloatVector b0v = FloatVector.fromArray(SP, b, bi);
            FloatVector b1v = FloatVector.fromArray(SP, b, bi + V);
            FloatVector x = FloatVector.broadcast(SP, a[a0 + p]);
            c00 = x.fma(b0v, c00);
            c01 = x.fma(b1v, c01);
            x = FloatVector.broadcast(SP, a[a1 + p]);
            c10 = x.fma(b0v, c10);
            c11 = x.fma(b1v, c11);
            x = FloatVector.broadcast(SP, a[a2 + p]);
            c20 = x.fma(b0v, c20);
            c21 = x.fma(b1v, c21);
            x = FloatVector.broadcast(SP, a[a3 + p]);
            c30 = x.fma(b0v, c30);
            c31 = x.fma(b1v, c31);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + V);
        c10.intoArray(c, c0 + n);
        c11.intoArray(c, c0 + n + V);
        c20.intoArray(c, c0 + 2 * n);
        c21.intoArray(c, c0 + 2 * n + V);
        c30.intoArray(c, c0 + 3 * n);
        c31.intoArray(c, c0 + 3 * n + V);
    }

    private static void k4x1(float[] a, int a0, int k, float[] b, int b0, int ldb, float[] c, int c0, int n,
                             boolean acc) {
        FloatVector c0v = acc ? FloatVector.fromArray(SP, c, c0) : FloatVector.zero(SP);
        FloatVector c1v = acc ? FloatVector.fromArray(SP, c, c0 + n) : FloatVector.zero(SP);
        FloatVector c2v = acc ? FloatVector.fromArray(SP, c, c0 + 2 * n) : FloatVector.zero(SP);
        FloatVector c3v = acc ? FloatVector.fromArray(SP, c, c0 + 3 * n) : FloatVector.zero(SP);
        int a1 = a0 + k;
        int a2 = a1 + k;
        int a3 = a2 + k;
        for (int p = 0, bi = b0; p < k; p++, bi += ldb) {
            FloatVector bv = FloatVector.fromArray(SP, b, bi);
            c0v = FloatVector.broadcast(SP, a[a0 + p]).fma(bv, c0v);
            c1v = FloatVector.broadcast(SP, a[a1 + p]).fma(bv, c1v);
            c2v = FloatVector.broadcast(SP, a[a2 + p]).fma(bv, c2v);
            c3v = FloatVector.broadcast(SP, a[a3 + p]).fma(bv, c3v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + n);
        c2v.intoArray(c, c0 + 2 * n);
        c3v.intoArray(c, c0 + 3 * n);
    }

    private static void k1x2(float[] a, int a0, int k, float[] b, int b0, int ldb, float[] c, int c0, boolean acc) {
        FloatVector c0v = acc ? FloatVector.fromArray(SP, c, c0) : FloatVector.zero(SP);
        FloatVector c1v = acc ? FloatVector.fromArray(SP, c, c0 + V) : FloatVector.zero(SP);
        for (int p = 0, bi = b0; p < k; p++, bi += ldb) {
            FloatVector x = FloatVector.broadcast(SP, a[a0 + p]);
            c0v = x.fma(FloatVector.fromArray(SP, b, bi), c0v);
            c1v = x.fma(FloatVector.fromArray(SP, b, bi + V), c1v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + V);
    }

    private static void k1x1(float[] a, int a0, int k, float[] b, int b0, int ldb, float[] c, int c0, boolean acc) {
        FloatVector cv = acc ? FloatVector.fromArray(SP, c, c0) : FloatVector.zero(SP);
        for (int p = 0, bi = b0; p < k; p++, bi += ldb) {
            cv = FloatVector.broadcast(SP, a[a0 + p]).fma(FloatVector.fromArray(SP, b, bi), cv);
        }
        cv.intoArray(c, c0);
    }

    private static void scalarTail(float[] a, int a0, int k, float[] b, int b0, int n, float[] c, int c0,
                                   int j0, boolean acc) {
        for (int j = j0; j < n; j++) {
            float s = acc ? c[c0 + j] : 0f;
            for (int p = 0; p < k; p++) {
                s = Math.fma(a[a0 + p], b[b0 + p * n + j], s);
            }
            c[c0 + j] = s;
        }
    }

    /** {@code dst[cols, rows] = src[rows, cols]ᵀ}. */
    public static void transpose(float[] src, int srcOff, int rows, int cols, float[] dst, int dstOff) {
        final int blk = 16;
        for (int i0 = 0; i0 < rows; i0 += blk) {
            int i1 = Math.min(rows, i0 + blk);
            for (int j0 = 0; j0 < cols; j0 += blk) {
                int j1 = Math.min(cols, j0 + blk);
                for (int j = j0; j < j1; j++) { // contiguous writes; reads walk a 32-row block
                    int d = dstOff + j * rows;
                    for (int i = i0; i < i1; i++) {
                        dst[d + i] = src[srcOff + i * cols + j];
                    }
                }
            }
        }
    }
}
