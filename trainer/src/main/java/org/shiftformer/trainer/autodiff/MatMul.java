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

    /** Rows of a micro-tile: 8 with 16 float lanes (32 vector registers), 6 with 8 lanes (16 registers). */
    static final int MR = V >= 16 ? 8 : 6;
    /** Columns of a micro-tile: two vectors. */
    static final int NR = 2 * V;
    /** Depth of a packed block of B (K is cut into blocks of at most this many; sums are not reordered). */
    static final int KC = 256;
    /** Columns of a packed block of B (a multiple of NR): KC x NC floats = 256 KiB, kept in L2. */
    static final int NC = 256;
    /** Rows of a block of A (a multiple of MR = 6 or 8): KC x MC floats = 144 KiB, kept in L2. */
    static final int MC = 144;

    /** Per-thread scratch: the packed B block, the packed A rows (transposed A only) and an edge tile. */
    private static final class Scratch {
        final float[] bp = new float[KC * NC];
        final float[] tile = new float[MR * NR];
        private float[] ap = new float[0];

        float[] ap(int n) {
            if (ap.length < n) {
                ap = new float[n];
            }
            return ap;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

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
        if (k == 0) {
            if (!accumulate) {
                for (int t = 0; t < batch; t++) {
                    java.util.Arrays.fill(c, cOff + t * cStride, cOff + t * cStride + m * n, 0f);
                }
            }
            return;
        }
        if (m < MR) {
            gemmSmall(batch, transA, transB, m, n, k, a, aOff, aStride, b, bOff, bStride, c, cOff, cStride,
                    accumulate);
            return;
        }
        ForkJoinPool p = pool;
        long work = (long) batch * m * n * k;
        int nThreads = threads;
        if (p == null || work < PARALLEL_THRESHOLD) {
            for (int t = 0; t < batch; t++) {
                blocked(transA, transB, m, n, k, a, aOff + t * aStride, b, bOff + t * bStride, c, cOff + t * cStride,
                        0, m, accumulate);
            }
            return;
        }
        // Fixed partition into units (a chunk of rows, a multiple of MR, of one batch entry); each output
        // element belongs to exactly one unit and a unit's result does not depend on the thread that runs
        // it. Units go round-robin to the workers; the caller thread is worker 0 and then parks in join()
        // (measured: spinning for late helpers instead was much slower when the 2 cores are shared).
        int chunksPerBatch = Math.max(1, Math.min((m + MR - 1) / MR, (nThreads + batch - 1) / batch));
        int rowsPerChunk = ((m + chunksPerBatch - 1) / chunksPerBatch + MR - 1) / MR * MR;
        int chunks = (m + rowsPerChunk - 1) / rowsPerChunk;
        int tasks = batch * chunks;
        int workers = Math.min(nThreads, tasks);
        ForkJoinTask<?>[] forked = new ForkJoinTask<?>[workers];
        for (int w = 1; w < workers; w++) {
            final int fw = w;
            forked[w] = p.submit(() -> runUnits(fw, workers, tasks, chunks, rowsPerChunk, transA, transB, m, n, k,
                    a, aOff, aStride, b, bOff, bStride, c, cOff, cStride, accumulate));
        }
        runUnits(0, workers, tasks, chunks, rowsPerChunk, transA, transB, m, n, k, a, aOff, aStride, b, bOff, bStride,
                c, cOff, cStride, accumulate);
        for (int w = 1; w < workers; w++) {
            forked[w].join();
        }
    }

    private static void runUnits(int worker, int workers, int tasks, int chunks, int rowsPerChunk, boolean transA,
                                 boolean transB, int m, int n, int k, float[] a, int aOff, int aStride, float[] b,
                                 int bOff, int bStride, float[] c, int cOff, int cStride, boolean acc) {
        for (int task = worker; task < tasks; task += workers) {
            int t = task / chunks;
            int r0 = (task % chunks) * rowsPerChunk;
            int r1 = Math.min(m, r0 + rowsPerChunk);
            blocked(transA, transB, m, n, k, a, aOff + t * aStride, b, bOff + t * bStride, c, cOff + t * cStride,
                    r0, r1, acc);
        }
    }

    /**
     * Rows {@code [r0, r1)} of {@code C[m, n] (+)= op(A) · op(B)}, GotoBLAS-style: K in blocks of {@link #KC},
     * N in blocks of {@link #NC} packed into {@code NR}-wide panels (zero-padded; stays in L2), rows in blocks
     * of {@link #MC} (A's block stays in L2 while every panel of the B block sweeps it), then
     * {@code MR x NR} micro-tiles (the B panel stays in L1). Every element still gets {@code fma} over k
     * ascending: a K block continues from the value the previous one stored (a float store and load are exact).
     */
    static void blocked(boolean transA, boolean transB, int m, int n, int k, float[] a, int aOff, float[] b, int bOff,
                        float[] c, int cOff, int r0, int r1, boolean acc) {
        Scratch s = SCRATCH.get();
        float[] bp = s.bp;
        int fullEnd = r0 + (r1 - r0) / MR * MR; // rows [r0, fullEnd) in whole micro-tiles
        float[] ap = transA ? s.ap((fullEnd - r0) * Math.min(k, KC)) : a;
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            boolean accHere = acc || pc > 0;
            if (transA) { // A[i, p] = a[p*m + i]: all micro-panels of this K block copied as [kc][MR] each
                packAT(a, aOff, m, pc, kc, r0, fullEnd, ap);
            }
            for (int jc = 0; jc < n; jc += NC) {
                int nc = Math.min(NC, n - jc);
                if (transB) {
                    packBT(b, bOff, k, pc, kc, jc, nc, bp);
                } else {
                    packB(b, bOff, n, pc, kc, jc, nc, bp);
                }
                for (int ic = r0; ic < r1; ic += MC) {
                    int i1 = Math.min(r1, ic + MC);
                    int full = Math.min(i1, fullEnd);
                    for (int jr = 0; jr < nc; jr += NR) {
                        int cols = Math.min(NR, nc - jr);
                        int bo = jr * kc;
                        for (int i = ic; i < full; i += MR) {
                            int ao = transA ? (i - r0) * kc : aOff + i * k + pc;
                            int lda = transA ? -1 : k;
                            int co = cOff + i * n + jc + jr;
                            if (cols == NR) {
                                tile(ap, ao, lda, bp, bo, kc, c, co, n, accHere);
                            } else { // edge tile: through a full-width scratch tile
                                float[] t = s.tile;
                                if (accHere) {
                                    for (int r = 0; r < MR; r++) {
                                        System.arraycopy(c, co + r * n, t, r * NR, cols);
                                    }
                                }
                                tile(ap, ao, lda, bp, bo, kc, t, 0, NR, accHere);
                                for (int r = 0; r < MR; r++) {
                                    System.arraycopy(t, r * NR, c, co + r * n, cols);
                                }
                            }
                        }
                        for (int i = full; i < i1; i++) { // leftover rows, one at a time
                            int co = cOff + i * n + jc + jr;
                            float[] t = s.tile;
                            float[] dst = cols == NR ? c : t;
                            int d0 = cols == NR ? co : 0;
                            if (cols < NR && accHere) {
                                System.arraycopy(c, co, t, 0, cols);
                            }
                            if (transA) {
                                k1T(a, aOff + pc * m + i, m, bp, bo, kc, dst, d0, accHere);
                            } else {
                                k1(a, aOff + i * k + pc, bp, bo, kc, dst, d0, accHere);
                            }
                            if (cols < NR) {
                                System.arraycopy(t, 0, c, co, cols);
                            }
                        }
                    }
                }
            }
        }
    }

    /** One MR x NR tile: {@code lda < 0} means A is a packed {@code [kc][MR]} micro-panel. */
    private static void tile(float[] a, int ao, int lda, float[] bp, int bo, int kc, float[] c, int co, int ldc,
                             boolean acc) {
        if (MR == 8) {
            if (lda < 0) {
                k8p(a, ao, bp, bo, kc, c, co, ldc, acc);
            } else {
                k8(a, ao, lda, bp, bo, kc, c, co, ldc, acc);
            }
        } else {
            if (lda < 0) {
                k6p(a, ao, bp, bo, kc, c, co, ldc, acc);
            } else {
                k6(a, ao, lda, bp, bo, kc, c, co, ldc, acc);
            }
        }
    }

    /** Packs {@code B[pc:pc+kc, jc:jc+nc]} (row-major, ldb = n) as NR-wide panels {@code [kc][NR]}, zero-padded. */
    private static void packB(float[] b, int bOff, int n, int pc, int kc, int jc, int nc, float[] bp) {
        for (int jr = 0; jr < nc; jr += NR) {
            int cols = Math.min(NR, nc - jr);
            int d = jr * kc;
            int src = bOff + pc * n + jc + jr;
            if (cols == NR) {
                for (int p = 0; p < kc; p++, src += n, d += NR) {
                    FloatVector.fromArray(SP, b, src).intoArray(bp, d);
                    FloatVector.fromArray(SP, b, src + V).intoArray(bp, d + V);
                }
            } else {
                for (int p = 0; p < kc; p++, src += n, d += NR) {
                    System.arraycopy(b, src, bp, d, cols);
                    java.util.Arrays.fill(bp, d + cols, d + NR, 0f);
                }
            }
        }
    }

    /** As {@link #packB} for {@code B = bᵀ} with {@code b [n, k]} row-major: a transposing copy. */
    private static void packBT(float[] b, int bOff, int k, int pc, int kc, int jc, int nc, float[] bp) {
        for (int jr = 0; jr < nc; jr += NR) {
            int cols = Math.min(NR, nc - jr);
            int d = jr * kc;
            if (cols < NR) {
                java.util.Arrays.fill(bp, d, d + kc * NR, 0f);
            }
            // blocks of 16 k: the 16 x cols source block stays in L1 while it is written column by column
            for (int p0 = 0; p0 < kc; p0 += 16) {
                int p1 = Math.min(kc, p0 + 16);
                for (int jj = 0; jj < cols; jj++) {
                    int src = bOff + (jc + jr + jj) * k + pc;
                    for (int p = p0; p < p1; p++) {
                        bp[d + p * NR + jj] = b[src + p];
                    }
                }
            }
        }
    }

    /**
     * Copies rows {@code [i0, i1)} (whole micro-tiles) of {@code A[:, pc:pc+kc]} with {@code A = aᵀ}
     * ({@code a [k, m]}) as consecutive micro-panels {@code [kc][MR]}, the panel of row {@code i} at
     * {@code (i - i0) * kc}. Reads {@code a} row by row (contiguous), writes every panel a little.
     */
    private static void packAT(float[] a, int aOff, int m, int pc, int kc, int i0, int i1, float[] ap) {
        for (int p = 0; p < kc; p++) {
            int src = aOff + (pc + p) * m + i0;
            int d = p * MR;
            for (int i = i0; i < i1; i += MR, src += MR, d += kc * MR) {
                for (int r = 0; r < MR; r++) {
                    ap[d + r] = a[src + r];
                }
            }
        }
    }

    // Each micro-kernel is its own small method (PERF.md: large methods stop C2 inlining vector helpers).

    /** 8 x 2V tile, A rows read in place ({@code a[a0 + r*lda + p]}). */
    private static void k8(float[] a, int a0, int lda, float[] b, int b0, int kc, float[] c, int c0, int ldc,
                           boolean acc) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (acc) {
            c00 = FloatVector.fromArray(SP, c, c0);
            c01 = FloatVector.fromArray(SP, c, c0 + V);
            c10 = FloatVector.fromArray(SP, c, c0 + ldc);
            c11 = FloatVector.fromArray(SP, c, c0 + ldc + V);
            c20 = FloatVector.fromArray(SP, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(SP, c, c0 + 2 * ldc + V);
            c30 = FloatVector.fromArray(SP, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(SP, c, c0 + 3 * ldc + V);
            c40 = FloatVector.fromArray(SP, c, c0 + 4 * ldc);
            c41 = FloatVector.fromArray(SP, c, c0 + 4 * ldc + V);
            c50 = FloatVector.fromArray(SP, c, c0 + 5 * ldc);
            c51 = FloatVector.fromArray(SP, c, c0 + 5 * ldc + V);
            c60 = FloatVector.fromArray(SP, c, c0 + 6 * ldc);
            c61 = FloatVector.fromArray(SP, c, c0 + 6 * ldc + V);
            c70 = FloatVector.fromArray(SP, c, c0 + 7 * ldc);
            c71 = FloatVector.fromArray(SP, c, c0 + 7 * ldc + V);
        } else {
            c00 = FloatVector.zero(SP);
            c01 = c00;
            c10 = c00;
            c11 = c00;
            c20 = c00;
            c21 = c00;
            c30 = c00;
            c31 = c00;
            c40 = c00;
            c41 = c00;
            c50 = c00;
            c51 = c00;
            c60 = c00;
            c61 = c00;
            c70 = c00;
            c71 = c00;
        }
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        int a4 = a3 + lda;
        int a5 = a4 + lda;
        int a6 = a5 + lda;
        int a7 = a6 + lda;
        for (int p = 0, bi = b0; p < kc; p++, bi += NR) {
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
            x = FloatVector.broadcast(SP, a[a4 + p]);
            c40 = x.fma(b0v, c40);
            c41 = x.fma(b1v, c41);
            x = FloatVector.broadcast(SP, a[a5 + p]);
            c50 = x.fma(b0v, c50);
            c51 = x.fma(b1v, c51);
            x = FloatVector.broadcast(SP, a[a6 + p]);
            c60 = x.fma(b0v, c60);
            c61 = x.fma(b1v, c61);
            x = FloatVector.broadcast(SP, a[a7 + p]);
            c70 = x.fma(b0v, c70);
            c71 = x.fma(b1v, c71);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + V);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + V);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + V);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + V);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + V);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + V);
        c60.intoArray(c, c0 + 6 * ldc);
        c61.intoArray(c, c0 + 6 * ldc + V);
        c70.intoArray(c, c0 + 7 * ldc);
        c71.intoArray(c, c0 + 7 * ldc + V);
    }

    /** 8 x 2V tile over a packed {@code [kc][8]} A micro-panel. */
    private static void k8p(float[] a, int a0, float[] b, int b0, int kc, float[] c, int c0, int ldc, boolean acc) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (acc) {
            c00 = FloatVector.fromArray(SP, c, c0);
            c01 = FloatVector.fromArray(SP, c, c0 + V);
            c10 = FloatVector.fromArray(SP, c, c0 + ldc);
            c11 = FloatVector.fromArray(SP, c, c0 + ldc + V);
            c20 = FloatVector.fromArray(SP, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(SP, c, c0 + 2 * ldc + V);
            c30 = FloatVector.fromArray(SP, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(SP, c, c0 + 3 * ldc + V);
            c40 = FloatVector.fromArray(SP, c, c0 + 4 * ldc);
            c41 = FloatVector.fromArray(SP, c, c0 + 4 * ldc + V);
            c50 = FloatVector.fromArray(SP, c, c0 + 5 * ldc);
            c51 = FloatVector.fromArray(SP, c, c0 + 5 * ldc + V);
            c60 = FloatVector.fromArray(SP, c, c0 + 6 * ldc);
            c61 = FloatVector.fromArray(SP, c, c0 + 6 * ldc + V);
            c70 = FloatVector.fromArray(SP, c, c0 + 7 * ldc);
            c71 = FloatVector.fromArray(SP, c, c0 + 7 * ldc + V);
        } else {
            c00 = FloatVector.zero(SP);
            c01 = c00;
            c10 = c00;
            c11 = c00;
            c20 = c00;
            c21 = c00;
            c30 = c00;
            c31 = c00;
            c40 = c00;
            c41 = c00;
            c50 = c00;
            c51 = c00;
            c60 = c00;
            c61 = c00;
            c70 = c00;
            c71 = c00;
        }
        for (int p = 0, ai = a0, bi = b0; p < kc; p++, ai += 8, bi += NR) {
            FloatVector b0v = FloatVector.fromArray(SP, b, bi);
            FloatVector b1v = FloatVector.fromArray(SP, b, bi + V);
            FloatVector x = FloatVector.broadcast(SP, a[ai]);
            c00 = x.fma(b0v, c00);
            c01 = x.fma(b1v, c01);
            x = FloatVector.broadcast(SP, a[ai + 1]);
            c10 = x.fma(b0v, c10);
            c11 = x.fma(b1v, c11);
            x = FloatVector.broadcast(SP, a[ai + 2]);
            c20 = x.fma(b0v, c20);
            c21 = x.fma(b1v, c21);
            x = FloatVector.broadcast(SP, a[ai + 3]);
            c30 = x.fma(b0v, c30);
            c31 = x.fma(b1v, c31);
            x = FloatVector.broadcast(SP, a[ai + 4]);
            c40 = x.fma(b0v, c40);
            c41 = x.fma(b1v, c41);
            x = FloatVector.broadcast(SP, a[ai + 5]);
            c50 = x.fma(b0v, c50);
            c51 = x.fma(b1v, c51);
            x = FloatVector.broadcast(SP, a[ai + 6]);
            c60 = x.fma(b0v, c60);
            c61 = x.fma(b1v, c61);
            x = FloatVector.broadcast(SP, a[ai + 7]);
            c70 = x.fma(b0v, c70);
            c71 = x.fma(b1v, c71);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + V);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + V);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + V);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + V);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + V);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + V);
        c60.intoArray(c, c0 + 6 * ldc);
        c61.intoArray(c, c0 + 6 * ldc + V);
        c70.intoArray(c, c0 + 7 * ldc);
        c71.intoArray(c, c0 + 7 * ldc + V);
    }

    /** 6 x 2V tile (8-lane vectors, 16 registers), A rows read in place. */
    private static void k6(float[] a, int a0, int lda, float[] b, int b0, int kc, float[] c, int c0, int ldc,
                           boolean acc) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (acc) {
            c00 = FloatVector.fromArray(SP, c, c0);
            c01 = FloatVector.fromArray(SP, c, c0 + V);
            c10 = FloatVector.fromArray(SP, c, c0 + ldc);
            c11 = FloatVector.fromArray(SP, c, c0 + ldc + V);
            c20 = FloatVector.fromArray(SP, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(SP, c, c0 + 2 * ldc + V);
            c30 = FloatVector.fromArray(SP, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(SP, c, c0 + 3 * ldc + V);
            c40 = FloatVector.fromArray(SP, c, c0 + 4 * ldc);
            c41 = FloatVector.fromArray(SP, c, c0 + 4 * ldc + V);
            c50 = FloatVector.fromArray(SP, c, c0 + 5 * ldc);
            c51 = FloatVector.fromArray(SP, c, c0 + 5 * ldc + V);
        } else {
            c00 = FloatVector.zero(SP);
            c01 = c00;
            c10 = c00;
            c11 = c00;
            c20 = c00;
            c21 = c00;
            c30 = c00;
            c31 = c00;
            c40 = c00;
            c41 = c00;
            c50 = c00;
            c51 = c00;
        }
        int a1 = a0 + lda;
        int a2 = a1 + lda;
        int a3 = a2 + lda;
        int a4 = a3 + lda;
        int a5 = a4 + lda;
        for (int p = 0, bi = b0; p < kc; p++, bi += NR) {
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
            x = FloatVector.broadcast(SP, a[a4 + p]);
            c40 = x.fma(b0v, c40);
            c41 = x.fma(b1v, c41);
            x = FloatVector.broadcast(SP, a[a5 + p]);
            c50 = x.fma(b0v, c50);
            c51 = x.fma(b1v, c51);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + V);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + V);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + V);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + V);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + V);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + V);
    }

    /** 6 x 2V tile over a packed {@code [kc][6]} A micro-panel. */
    private static void k6p(float[] a, int a0, float[] b, int b0, int kc, float[] c, int c0, int ldc, boolean acc) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (acc) {
            c00 = FloatVector.fromArray(SP, c, c0);
            c01 = FloatVector.fromArray(SP, c, c0 + V);
            c10 = FloatVector.fromArray(SP, c, c0 + ldc);
            c11 = FloatVector.fromArray(SP, c, c0 + ldc + V);
            c20 = FloatVector.fromArray(SP, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(SP, c, c0 + 2 * ldc + V);
            c30 = FloatVector.fromArray(SP, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(SP, c, c0 + 3 * ldc + V);
            c40 = FloatVector.fromArray(SP, c, c0 + 4 * ldc);
            c41 = FloatVector.fromArray(SP, c, c0 + 4 * ldc + V);
            c50 = FloatVector.fromArray(SP, c, c0 + 5 * ldc);
            c51 = FloatVector.fromArray(SP, c, c0 + 5 * ldc + V);
        } else {
            c00 = FloatVector.zero(SP);
            c01 = c00;
            c10 = c00;
            c11 = c00;
            c20 = c00;
            c21 = c00;
            c30 = c00;
            c31 = c00;
            c40 = c00;
            c41 = c00;
            c50 = c00;
            c51 = c00;
        }
        for (int p = 0, ai = a0, bi = b0; p < kc; p++, ai += 6, bi += NR) {
            FloatVector b0v = FloatVector.fromArray(SP, b, bi);
            FloatVector b1v = FloatVector.fromArray(SP, b, bi + V);
            FloatVector x = FloatVector.broadcast(SP, a[ai]);
            c00 = x.fma(b0v, c00);
            c01 = x.fma(b1v, c01);
            x = FloatVector.broadcast(SP, a[ai + 1]);
            c10 = x.fma(b0v, c10);
            c11 = x.fma(b1v, c11);
            x = FloatVector.broadcast(SP, a[ai + 2]);
            c20 = x.fma(b0v, c20);
            c21 = x.fma(b1v, c21);
            x = FloatVector.broadcast(SP, a[ai + 3]);
            c30 = x.fma(b0v, c30);
            c31 = x.fma(b1v, c31);
            x = FloatVector.broadcast(SP, a[ai + 4]);
            c40 = x.fma(b0v, c40);
            c41 = x.fma(b1v, c41);
            x = FloatVector.broadcast(SP, a[ai + 5]);
            c50 = x.fma(b0v, c50);
            c51 = x.fma(b1v, c51);
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + V);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + V);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + V);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + V);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + V);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + V);
    }

    /** One row x 2V over a packed panel, A row read in place. */
    private static void k1(float[] a, int a0, float[] b, int b0, int kc, float[] c, int c0, boolean acc) {
        FloatVector c0v = acc ? FloatVector.fromArray(SP, c, c0) : FloatVector.zero(SP);
        FloatVector c1v = acc ? FloatVector.fromArray(SP, c, c0 + V) : FloatVector.zero(SP);
        for (int p = 0, bi = b0; p < kc; p++, bi += NR) {
            FloatVector x = FloatVector.broadcast(SP, a[a0 + p]);
            c0v = x.fma(FloatVector.fromArray(SP, b, bi), c0v);
            c1v = x.fma(FloatVector.fromArray(SP, b, bi + V), c1v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + V);
    }

    /** One row x 2V over a packed panel, A read with stride {@code lda} ({@code A = aᵀ}). */
    private static void k1T(float[] a, int a0, int lda, float[] b, int b0, int kc, float[] c, int c0, boolean acc) {
        FloatVector c0v = acc ? FloatVector.fromArray(SP, c, c0) : FloatVector.zero(SP);
        FloatVector c1v = acc ? FloatVector.fromArray(SP, c, c0 + V) : FloatVector.zero(SP);
        for (int p = 0, bi = b0, ai = a0; p < kc; p++, bi += NR, ai += lda) {
            FloatVector x = FloatVector.broadcast(SP, a[ai]);
            c0v = x.fma(FloatVector.fromArray(SP, b, bi), c0v);
            c1v = x.fma(FloatVector.fromArray(SP, b, bi + V), c1v);
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + V);
    }

    // ---- small M (fewer rows than a micro-tile: decoding one token per sequence) ------------------------

    /** Rows one at a time over B in place (no packing: for a few rows it would cost as much as the product). */
    private static void gemmSmall(int batch, boolean transA, boolean transB, int m, int n, int k,
                                  float[] a, int aOff, int aStride, float[] b, int bOff, int bStride,
                                  float[] c, int cOff, int cStride, boolean accumulate) {
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
        parallelFor(batch, (long) m * n * k, (from, to) -> {
            for (int t = from; t < to; t++) {
                for (int i = 0; i < m; i++) {
                    rowNN(fa, fao + t * fas + i * k, fb, fbo + t * fbs, c, cOff + t * cStride + i * n, n, k,
                            accumulate);
                }
            }
        });
    }

    /** One row of C = A·B with B row-major [k, n] in place. */
    private static void rowNN(float[] a, int a0, float[] b, int b0, float[] c, int c0, int n, int k, boolean acc) {
        int n2 = n - n % (2 * V);
        int n1 = n - n % V;
        for (int j = 0; j < n2; j += 2 * V) {
            k1x2(a, a0, k, b, b0 + j, n, c, c0 + j, acc);
        }
        for (int j = n2; j < n1; j += V) {
            k1x1(a, a0, k, b, b0 + j, n, c, c0 + j, acc);
        }
        if (n1 < n) {
            scalarTail(a, a0, k, b, b0, n, c, c0, n1, acc);
        }
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
