package org.shiftformer.trainer.autodiff;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The differentiable ops. Each op computes its forward value and, when gradients are needed, records a
 * backward function that accumulates into its inputs' gradients. Reductions inside one op (bias and gamma
 * gradients, sums, cross-entropy) run sequentially in a fixed order, accumulating in double where stated,
 * so the same inputs give the same bits on every run.
 */
public final class Ops {

    static final double LN2 = Math.log(2.0);

    private Ops() {
    }

    // ---- matmul ----------------------------------------------------------------------------------------

    /**
     * {@code a[..., M, K] · b}: {@code b} is {@code [K, N]} (shared by all leading entries of {@code a}) or
     * {@code [..., K, N]} with the same leading dims as {@code a} (batched). Result {@code [..., M, N]}.
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        return mm(a, b, false);
    }

    /**
     * {@code a[..., M, K] · bᵀ} with {@code b} stored {@code [N, K]} (a weight {@code [out, in]} as in SPEC.md,
     * i.e. {@code x·Wᵀ}) or batched {@code [..., N, K]} (e.g. {@code Q·Kᵀ}). Result {@code [..., M, N]}.
     */
    public static Tensor matmulBT(Tensor a, Tensor b) {
        return mm(a, b, true);
    }

    private static Tensor mm(Tensor a, Tensor b, boolean transB) {
        Shapes.check(a.rank() >= 2 && b.rank() >= 2, "matmul needs rank >= 2: %s, %s", a, b);
        int m = a.dim(-2);
        int k = a.dim(-1);
        int kb = transB ? b.dim(-1) : b.dim(-2);
        int n = transB ? b.dim(-2) : b.dim(-1);
        Shapes.check(k == kb, "matmul inner dimensions differ: %s, %s (transB=%s)", a, b, transB);
        int batch = Shapes.leading(a.shape, 2);
        boolean shared = b.rank() == 2;
        if (!shared) {
            Shapes.check(Arrays.equals(Arrays.copyOf(a.shape, a.rank() - 2), Arrays.copyOf(b.shape, b.rank() - 2)),
                    "batched matmul leading dims differ: %s, %s", a, b);
        }
        int[] outShape = a.shape();
        outShape[outShape.length - 1] = n;
        float[] out = Workspace.floatsToOverwrite(batch * m * n);
        if (shared) {
            MatMul.gemm(false, transB, batch * m, n, k, a.data, 0, b.data, 0, out, 0, false);
        } else {
            MatMul.gemmBatched(batch, false, transB, m, n, k, a.data, 0, m * k, b.data, 0, k * n,
                    out, 0, m * n, false);
        }
        return Tensor.result(out, outShape, t -> {
            float[] g = t.grad;
            if (a.requiresGrad) {
                // dA = dC · op(B)ᵀ (a fresh gradient is written, not added: the same sums from +0)
                float[] fresh = a.gradToOverwrite();
                float[] ga = fresh != null ? fresh : a.grad();
                if (shared) {
                    MatMul.gemm(false, !transB, batch * m, k, n, g, 0, b.data, 0, ga, 0, fresh == null);
                } else {
                    MatMul.gemmBatched(batch, false, !transB, m, k, n, g, 0, m * n, b.data, 0, k * n,
                            ga, 0, m * k, fresh == null);
                }
            }
            if (b.requiresGrad) {
                if (shared) {
                    if (transB) { // dB[N,K] = dCᵀ · A
                        MatMul.gemm(true, false, n, k, batch * m, g, 0, a.data, 0, b.grad(), 0, true);
                    } else {      // dB[K,N] = Aᵀ · dC
                        MatMul.gemm(true, false, k, n, batch * m, a.data, 0, g, 0, b.grad(), 0, true);
                    }
                } else {
                    if (transB) {
                        MatMul.gemmBatched(batch, true, false, n, k, m, g, 0, m * n, a.data, 0, m * k,
                                b.grad(), 0, n * k, true);
                    } else {
                        MatMul.gemmBatched(batch, true, false, k, n, m, a.data, 0, m * k, g, 0, m * n,
                                b.grad(), 0, k * n, true);
                    }
                }
            }
        }, a, b);
    }

    /** {@code x · Wᵀ + bias} with {@code W [out, in]} and {@code bias [out]} (may be null). */
    public static Tensor linear(Tensor x, Tensor w, Tensor bias) {
        return linear(x, w, bias, false);
    }

    /**
     * {@code relu(x · Wᵀ + bias)} (without the ReLU when {@code relu} is false; {@code bias} may be null) as one
     * op: the values and gradients of {@code relu(add(matmulBT(x, w), bias))} bit for bit, without the
     * intermediate tensors, their gradients and passes.
     */
    public static Tensor linear(Tensor x, Tensor w, Tensor bias, boolean relu) {
        Lin l = Lin.of(x, w, bias);
        float[] out = Workspace.floatsToOverwrite(l.rows * l.n);
        l.forward(out);
        float[] bd = bias == null ? null : bias.data;
        if (bd != null || relu) {
            MatMul.parallelFor(l.rows, l.n, (from, to) -> Elementwise.biasRelu(out, from, to, l.n, bd, relu));
        }
        int[] shape = x.shape();
        shape[shape.length - 1] = l.n;
        return Tensor.result(out, shape, t -> {
            float[] gy = t.grad;
            if (relu) { // d/dy relu(y) = [out > 0]
                float[] g = t.grad;
                float[] masked = Workspace.floatsToOverwrite(g.length);
                MatMul.parallelFor(l.rows, l.n, (from, to) -> Elementwise.reluGrad(out, g, masked, from * l.n, to * l.n));
                gy = masked;
            }
            l.backward(gy);
        }, bias == null ? new Tensor[] {x, w} : new Tensor[] {x, w, bias});
    }

    /**
     * The RESIDUAL of a linear branch with inverted dropout: {@code r + dropout(x · Wᵀ + bias, p, seed)} as one
     * op, equal bit for bit to {@code add(r, dropout(linear(x, w, bias), p, seed, true))} (the same keep mask
     * from {@code seed}; {@code p = 0}: no dropout).
     */
    public static Tensor residual(Tensor r, Tensor x, Tensor w, Tensor bias, float p, long seed) {
        Lin l = Lin.of(x, w, bias);
        Shapes.check(r.size() == l.rows * l.n, "residual: %s does not match the branch of %s x %s", r, x, w);
        float[] mask = p == 0f ? null : dropoutMask(l.rows * l.n, p, seed);
        float[] out = Workspace.floatsToOverwrite(l.rows * l.n);
        l.forward(out);
        float[] bd = bias == null ? null : bias.data;
        float[] rd = r.data;
        MatMul.parallelFor(l.rows, l.n, (from, to) -> Elementwise.residual(out, from, to, l.n, bd, mask, rd));
        return Tensor.result(out, r.shape, t -> {
            float[] g = t.grad;
            if (r.requiresGrad) {
                r.addToGrad(g);
            }
            float[] gy = g;
            if (mask != null) {
                float[] masked = Workspace.floatsToOverwrite(g.length);
                MatMul.parallelFor(l.rows, l.n, (from, to) -> Elementwise.mul(g, mask, masked, from * l.n, to * l.n));
                gy = masked;
            }
            l.backward(gy);
        }, bias == null ? new Tensor[] {r, x, w} : new Tensor[] {r, x, w, bias});
    }

    /** {@code x [..., K] · Wᵀ} with {@code W [N, K]} and an optional bias {@code [N]}: the matmul and its backward. */
    private record Lin(Tensor x, Tensor w, Tensor bias, int rows, int n, int k) {
        static Lin of(Tensor x, Tensor w, Tensor bias) {
            Shapes.check(x.rank() >= 2 && w.rank() == 2, "linear needs x of rank >= 2 and a [out, in] weight: %s, %s",
                    x, w);
            int k = x.dim(-1);
            Shapes.check(w.dim(1) == k, "linear: %s does not take %s", w, x);
            Shapes.check(bias == null || bias.size() == w.dim(0), "linear: bias %s for %s", bias, w);
            return new Lin(x, w, bias, x.size() / k, w.dim(0), k);
        }

        void forward(float[] out) {
            MatMul.gemm(false, true, rows, n, k, x.data, 0, w.data, 0, out, 0, false);
        }

        /** Accumulates the gradients of x, W and the bias for the output gradient {@code gy} (as mm and add do). */
        void backward(float[] gy) {
            if (bias != null && bias.requiresGrad) {
                double[] s = columnSums(gy, rows, n, null);
                float[] gb = bias.grad();
                for (int c = 0; c < n; c++) {
                    gb[c] += (float) s[c];
                }
            }
            if (x.requiresGrad) { // dX = dY · W (a fresh gradient is written, not added: the same sums from +0)
                float[] fresh = x.gradToOverwrite();
                MatMul.gemm(false, false, rows, k, n, gy, 0, w.data, 0, fresh != null ? fresh : x.grad(), 0,
                        fresh == null);
            }
            if (w.requiresGrad) { // dW[N,K] = dYᵀ · X
                MatMul.gemm(true, false, n, k, rows, gy, 0, x.data, 0, w.grad(), 0, true);
            }
        }
    }

    // ---- elementwise -----------------------------------------------------------------------------------

    /** {@code a + b}; {@code b} has the shape of {@code a} or of a suffix of it (broadcast, e.g. a bias). */
    public static Tensor add(Tensor a, Tensor b) {
        int inner = b.size();
        Shapes.check(isSuffix(b.shape, a.shape), "add: %s does not broadcast to %s", b, a);
        float[] out = Workspace.floatsToOverwrite(a.size());
        float[] ad = a.data;
        float[] bd = b.data;
        for (int o = 0; o < out.length; o += inner) {
            for (int c = 0; c < inner; c++) {
                out[o + c] = ad[o + c] + bd[c];
            }
        }
        return Tensor.result(out, a.shape, t -> {
            float[] g = t.grad;
            if (a.requiresGrad) {
                a.addToGrad(g);
            }
            if (b.requiresGrad) {
                float[] gb = b.grad();
                double[] s = columnSums(g, g.length / inner, inner, null);
                for (int c = 0; c < inner; c++) {
                    gb[c] += (float) s[c];
                }
            }
        }, a, b);
    }

    /**
     * {@code Σ_r x[r, c]} (times {@code w[r, c]} when {@code w != null}) in double, rows ascending: the same
     * order as a per-column loop, walked row by row so that memory is read contiguously.
     */
    static double[] columnSums(float[] x, int rows, int cols, float[] w) {
        double[] s = new double[cols];
        for (int r = 0; r < rows; r++) {
            int o = r * cols;
            if (w == null) {
                for (int c = 0; c < cols; c++) {
                    s[c] += x[o + c];
                }
            } else {
                for (int c = 0; c < cols; c++) {
                    s[c] += (double) x[o + c] * w[o + c];
                }
            }
        }
        return s;
    }

    private static boolean isSuffix(int[] suffix, int[] shape) {
        if (suffix.length > shape.length) {
            return false;
        }
        for (int i = 1; i <= suffix.length; i++) {
            if (suffix[suffix.length - i] != shape[shape.length - i]) {
                return false;
            }
        }
        return true;
    }

    /** Elementwise product of two tensors of the same shape. */
    public static Tensor mul(Tensor a, Tensor b) {
        Shapes.check(Arrays.equals(a.shape, b.shape), "mul: shapes differ: %s, %s", a, b);
        float[] out = Workspace.floatsToOverwrite(a.size());
        for (int i = 0; i < out.length; i++) {
            out[i] = a.data[i] * b.data[i];
        }
        return Tensor.result(out, a.shape, t -> {
            float[] g = t.grad;
            if (a.requiresGrad) {
                float[] ga = a.grad();
                for (int i = 0; i < g.length; i++) {
                    ga[i] += g[i] * b.data[i];
                }
            }
            if (b.requiresGrad) {
                float[] gb = b.grad();
                for (int i = 0; i < g.length; i++) {
                    gb[i] += g[i] * a.data[i];
                }
            }
        }, a, b);
    }

    /** {@code c · x} for a constant {@code c}. */
    public static Tensor scale(Tensor x, float c) {
        float[] out = Workspace.floatsToOverwrite(x.size());
        for (int i = 0; i < out.length; i++) {
            out[i] = x.data[i] * c;
        }
        return Tensor.result(out, x.shape, t -> {
            float[] gx = x.grad();
            for (int i = 0; i < gx.length; i++) {
                gx[i] += t.grad[i] * c;
            }
        }, x);
    }

    public static Tensor relu(Tensor x) {
        float[] xd = x.data;
        float[] out = Workspace.floatsToOverwrite(x.size());
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.max(xd[i], 0f); // branch-free (vectorised); max(-0, 0) = 0
        }
        return Tensor.result(out, x.shape, t -> {
            float[] gx = x.grad();
            float[] g = t.grad;
            for (int i = 0; i < gx.length; i++) {
                gx[i] += out[i] > 0f ? g[i] : 0f; // out > 0 iff x > 0
            }
        }, x);
    }

    /** Sum of all elements (accumulated in double) as a 1-element tensor. */
    public static Tensor sum(Tensor x) {
        double s = 0;
        for (float v : x.data) {
            s += v;
        }
        return Tensor.result(new float[] {(float) s}, new int[] {1}, t -> {
            float g = t.grad[0];
            float[] gx = x.grad();
            for (int i = 0; i < gx.length; i++) {
                gx[i] += g;
            }
        }, x);
    }

    // ---- normalisation and softmax ---------------------------------------------------------------------

    /**
     * LayerNorm over the last dimension: {@code (x - mean) / sqrt(var + eps) · gamma + beta} (biased
     * variance, statistics in double).
     */
    public static Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        int d = x.dim(-1);
        Shapes.check(gamma.size() == d && beta.size() == d, "layerNorm: gamma/beta must have %s values", d);
        int rows = x.size() / d;
        float[] out = Workspace.floatsToOverwrite(x.size());
        float[] xhat = Workspace.floatsToOverwrite(x.size());
        double[] rstd = Workspace.doubles(rows);
        float[] xd = x.data;
        float[] gd = gamma.data;
        float[] bd = beta.data;
        MatMul.parallelFor(rows, 4L * d, (from, to) -> {
            for (int r = from; r < to; r++) {
                int o = r * d;
                double mean = 0;
                for (int i = 0; i < d; i++) {
                    mean += xd[o + i];
                }
                mean /= d;
                double var = 0;
                for (int i = 0; i < d; i++) {
                    double c = xd[o + i] - mean;
                    var += c * c;
                }
                var /= d;
                double rs = 1.0 / Math.sqrt(var + eps);
                rstd[r] = rs;
                float fm = (float) mean;
                float frs = (float) rs;
                for (int i = 0; i < d; i++) {
                    float h = (xd[o + i] - fm) * frs;
                    xhat[o + i] = h;
                    out[o + i] = h * gd[i] + bd[i];
                }
            }
        });
        return Tensor.result(out, x.shape, t -> {
            float[] g = t.grad;
            if (x.requiresGrad) {
                float[] fresh = x.gradToOverwrite();
                float[] gx = fresh != null ? fresh : x.grad();
                MatMul.parallelFor(rows, 4L * d, (from, to) -> {
                    for (int r = from; r < to; r++) {
                        int o = r * d;
                        double s1 = 0;
                        double s2 = 0;
                        for (int i = 0; i < d; i++) {
                            float dh = g[o + i] * gd[i];
                            s1 += dh;
                            s2 += (double) dh * xhat[o + i];
                        }
                        float m1 = (float) (s1 / d);
                        float m2 = (float) (s2 / d);
                        float rs = (float) rstd[r];
                        for (int i = 0; i < d; i++) {
                            float dh = g[o + i] * gd[i];
                            float v = rs * (dh - m1 - xhat[o + i] * m2);
                            gx[o + i] = fresh != null ? v : gx[o + i] + v;
                        }
                    }
                });
            }
            if (gamma.requiresGrad) {
                double[] sg = columnSums(g, rows, d, xhat);
                float[] gg = gamma.grad();
                for (int i = 0; i < d; i++) {
                    gg[i] += (float) sg[i];
                }
            }
            if (beta.requiresGrad) {
                double[] sb = columnSums(g, rows, d, null);
                float[] gb = beta.grad();
                for (int i = 0; i < d; i++) {
                    gb[i] += (float) sb[i];
                }
            }
        }, x, gamma, beta);
    }

    /** Natural softmax over the last dimension. */
    public static Tensor softmax(Tensor x) {
        return softmax(x, null, null, false);
    }

    /**
     * Softmax over the last dimension, {@code e^s / Σ e^s} or (base2) {@code 2^s / Σ 2^s} (SPEC.md 3.4's
     * attention softmax), where {@code s = x + additive} over the positions that {@code mask} marks valid.
     *
     * @param mask     validity mask (null = all valid): masked positions get exactly 0, and a row without a
     *                 valid position (or whose valid scores are all -infinity) is all zeros
     * @param additive additive mask (null = none) of {@code r · L} values broadcast over rows:
     *                 row {@code row} uses additive row {@code row % r}
     */
    public static Tensor softmax(Tensor x, RowMask mask, float[] additive, boolean base2) {
        int len = x.dim(-1);
        int rows = x.size() / len;
        Shapes.check(additive == null || (additive.length > 0 && additive.length % len == 0
                && (rows * len) % additive.length == 0), "softmax: additive mask size %s does not broadcast",
                additive == null ? 0 : additive.length);
        int addRows = additive == null ? 1 : additive.length / len;
        float[] out = Workspace.floats(x.size());
        double[] e = new double[len];
        for (int r = 0; r < rows; r++) {
            int o = r * len;
            double m = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < len; j++) {
                if (mask == null || mask.valid(r, j)) {
                    double s = x.data[o + j] + (additive == null ? 0.0 : additive[(r % addRows) * len + j]);
                    e[j] = s;
                    m = Math.max(m, s);
                } else {
                    e[j] = Double.NaN; // marker: masked
                }
            }
            if (m == Double.NEGATIVE_INFINITY) {
                continue; // fully masked row: zeros
            }
            double sum = 0;
            for (int j = 0; j < len; j++) {
                if (Double.isNaN(e[j])) {
                    e[j] = 0;
                } else {
                    e[j] = base2 ? Math.pow(2.0, e[j] - m) : Math.exp(e[j] - m);
                    sum += e[j];
                }
            }
            for (int j = 0; j < len; j++) {
                out[o + j] = (float) (e[j] / sum);
            }
        }
        double c = base2 ? LN2 : 1.0;
        return Tensor.result(out, x.shape, t -> {
            float[] g = t.grad;
            float[] gx = x.grad();
            for (int r = 0; r < rows; r++) {
                int o = r * len;
                double dot = 0;
                for (int j = 0; j < len; j++) {
                    dot += (double) g[o + j] * out[o + j];
                }
                for (int j = 0; j < len; j++) {
                    gx[o + j] += (float) (c * out[o + j] * (g[o + j] - dot));
                }
            }
        }, x);
    }

    /**
     * Fused multi-head attention with the base-2 softmax (SPEC.md 3.3 between the projections):
     * {@code q [B, Tq, d]}, {@code k, v [B, Tk, d]}, heads of {@code d_k = d / heads} contiguous columns;
     * per head {@code P = softmax2(Q_h · K_hᵀ)} over the valid keys (key {@code j} of batch row {@code b} is
     * valid iff {@code j < keyLengths[b]} and, when {@code causal}, {@code j <= i}); returns
     * {@code P · V_h} in the head's columns, {@code [B, Tq, d]}. Masked probabilities are exactly 0 and a
     * query without a valid key gives a zero row (SPEC.md 3.4). Equal to the composition of
     * {@link #transpose}, {@link #matmulBT}, {@link #softmax} and {@link #matmul}, without the intermediate
     * tensors and with one tape entry.
     */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal) {
        return attention(q, k, v, heads, keyLengths, causal, null);
    }

    /**
     * {@link #attention} whose probabilities in {@code P · V} are replaced (straight through) by values made
     * from the scores: {@code exactProbs} receives the scores {@code [B, H, Tq, Tk]} (read them during the call
     * only) and returns the probabilities to multiply V with in the forward pass and in V's gradient, as
     * {@code matmul(StraightThrough.replace(P, exact), V)} would; the softmax's gradient still uses its own
     * {@code P}. QAT's surrogate: the exact uint8 probabilities of SOFTMAX2 with the float softmax's gradient.
     * {@code exactProbs == null}: plain {@link #attention}.
     */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal,
                                   java.util.function.UnaryOperator<float[]> exactProbs) {
        Shapes.check(q.rank() == 3 && k.rank() == 3 && v.rank() == 3, "attention needs [B, T, d] inputs: %s, %s, %s",
                q, k, v);
        int b = q.dim(0);
        int tq = q.dim(1);
        int d = q.dim(2);
        int tk = k.dim(1);
        Shapes.check(Arrays.equals(k.shape, v.shape) && k.dim(0) == b && k.dim(2) == d,
                "attention: k %s and v %s must be [%s, Tk, %s]", k, v, b, d);
        Shapes.check(heads >= 1 && d % heads == 0, "attention: %s heads do not divide d = %s", heads, d);
        Shapes.check(keyLengths.length == b, "attention: %s key lengths for batch %s", keyLengths.length, b);
        Shapes.check(!causal || tq == tk, "attention: causal needs Tq == Tk, got %s and %s", tq, tk);
        int dk = d / heads;
        int bh = b * heads;
        int[] lens = keyLengths.clone();
        float[] qh = toHeads(q.data, b, tq, heads, dk);
        float[] kh = toHeads(k.data, b, tk, heads, dk);
        float[] vh = toHeads(v.data, b, tk, heads, dk);
        float[] p = Workspace.floatsToOverwrite(bh * tq * tk);
        MatMul.gemmBatched(bh, false, true, tq, tk, dk, qh, 0, tq * dk, kh, 0, tk * dk, p, 0, tq * tk, false);
        float[] pv = exactProbs == null ? p : exactProbs.apply(p);
        Shapes.check(pv.length == p.length, "attention: %s exact probabilities for %s", pv.length, p.length);
        maskedSoftmax2(p, b, heads, tq, tk, lens, causal);
        float[] ch = Workspace.floatsToOverwrite(bh * tq * dk);
        MatMul.gemmBatched(bh, false, false, tq, dk, tk, pv, 0, tq * tk, vh, 0, tk * dk, ch, 0, tq * dk, false);
        float[] out = Workspace.floatsToOverwrite(b * tq * d);
        fromHeads(ch, out, b, tq, heads, dk, false);
        return Tensor.result(out, q.shape, t -> {
            float[] gc = toHeads(t.grad, b, tq, heads, dk);
            if (v.requiresGrad) { // dV_h = Pᵀ · dC_h
                float[] gv = Workspace.floatsToOverwrite(bh * tk * dk);
                MatMul.gemmBatched(bh, true, false, tk, dk, tq, pv, 0, tq * tk, gc, 0, tq * dk, gv, 0, tk * dk, false);
                fromHeads(gv, v, b, tk, heads, dk);
            }
            if (q.requiresGrad || k.requiresGrad) {
                float[] gp = Workspace.floatsToOverwrite(bh * tq * tk); // dP = dC_h · V_hᵀ, then dS in place
                MatMul.gemmBatched(bh, false, true, tq, tk, dk, gc, 0, tq * dk, vh, 0, tk * dk, gp, 0, tq * tk, false);
                softmax2Backward(p, gp, bh * tq, tk);
                if (q.requiresGrad) { // dQ_h = dS · K_h
                    float[] gq = Workspace.floatsToOverwrite(bh * tq * dk);
                    MatMul.gemmBatched(bh, false, false, tq, dk, tk, gp, 0, tq * tk, kh, 0, tk * dk, gq, 0, tq * dk,
                            false);
                    fromHeads(gq, q, b, tq, heads, dk);
                }
                if (k.requiresGrad) { // dK_h = dSᵀ · Q_h
                    float[] gk = Workspace.floatsToOverwrite(bh * tk * dk);
                    MatMul.gemmBatched(bh, true, false, tk, dk, tq, gp, 0, tq * tk, qh, 0, tq * dk, gk, 0, tk * dk,
                            false);
                    fromHeads(gk, k, b, tk, heads, dk);
                }
            }
        }, q, k, v);
    }

    /** {@code [B, T, H·dk] -> [B, H, T, dk]} (copy). */
    private static float[] toHeads(float[] x, int b, int t, int heads, int dk) {
        float[] out = Workspace.floatsToOverwrite(x.length);
        int d = heads * dk;
        for (int ib = 0; ib < b; ib++) {
            for (int it = 0; it < t; it++) {
                int src = (ib * t + it) * d;
                for (int h = 0; h < heads; h++) {
                    System.arraycopy(x, src + h * dk, out, ((ib * heads + h) * t + it) * dk, dk);
                }
            }
        }
        return out;
    }

    /** {@code [B, H, T, dk] -> [B, T, H·dk]} into the gradient of {@code t} (written if fresh, else added). */
    private static void fromHeads(float[] x, Tensor t, int b, int len, int heads, int dk) {
        float[] fresh = t.gradToOverwrite();
        fromHeads(x, fresh != null ? fresh : t.grad(), b, len, heads, dk, fresh == null);
    }

    /** {@code [B, H, T, dk] -> [B, T, H·dk]}, stored or accumulated into {@code dst}. */
    private static void fromHeads(float[] x, float[] dst, int b, int t, int heads, int dk, boolean acc) {
        int d = heads * dk;
        for (int ib = 0; ib < b; ib++) {
            for (int h = 0; h < heads; h++) {
                for (int it = 0; it < t; it++) {
                    int src = ((ib * heads + h) * t + it) * dk;
                    int o = (ib * t + it) * d + h * dk;
                    if (acc) {
                        for (int c = 0; c < dk; c++) {
                            dst[o + c] += x[src + c];
                        }
                    } else {
                        System.arraycopy(x, src, dst, o, dk);
                    }
                }
            }
        }
    }

    /** In place: scores {@code [B, H, Tq, Tk]} to base-2 probabilities over the valid keys (statistics in double). */
    private static void maskedSoftmax2(float[] s, int b, int heads, int tq, int tk, int[] lens, boolean causal) {
        MatMul.parallelFor(b, 8L * heads * tq * tk, (from, to) -> maskedSoftmax2(s, from, to, heads, tq, tk, lens,
                causal));
    }

    private static void maskedSoftmax2(float[] s, int b0, int b1, int heads, int tq, int tk, int[] lens,
                                       boolean causal) {
        for (int ib = b0; ib < b1; ib++) {
            int len = Math.min(Math.max(lens[ib], 0), tk);
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < tq; i++) {
                    int o = ((ib * heads + h) * tq + i) * tk;
                    int valid = causal ? Math.min(len, i + 1) : len;
                    if (valid == 0) {
                        Arrays.fill(s, o, o + tk, 0f);
                        continue;
                    }
                    float m = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < valid; j++) {
                        m = Math.max(m, s[o + j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < valid; j++) {
                        double e = Math.exp((s[o + j] - (double) m) * LN2);
                        s[o + j] = (float) e;
                        sum += e;
                    }
                    double inv = 1.0 / sum;
                    for (int j = 0; j < valid; j++) {
                        s[o + j] = (float) (s[o + j] * inv);
                    }
                    Arrays.fill(s, o + valid, o + tk, 0f);
                }
            }
        }
    }

    /** In place: {@code g <- ln2 · p · (g - Σ g·p)} per row (the base-2 softmax backward). */
    private static void softmax2Backward(float[] p, float[] g, int rows, int len) {
        MatMul.parallelFor(rows, 4L * len, (from, to) -> softmax2Backward(p, g, from, to, len));
    }

    private static void softmax2Backward(float[] p, float[] g, int r0, int r1, int len) {
        for (int r = r0; r < r1; r++) {
            int o = r * len;
            double dot = 0;
            for (int j = 0; j < len; j++) {
                dot += (double) g[o + j] * p[o + j];
            }
            for (int j = 0; j < len; j++) {
                g[o + j] = (float) (LN2 * p[o + j] * (g[o + j] - dot));
            }
        }
    }

    // ---- embedding, dropout, views ---------------------------------------------------------------------

    /** Rows {@code table[ids[i]]} of a {@code [V, D]} table: result {@code [ids.length, D]}; grad scatter-adds. */
    public static Tensor embedding(Tensor table, int[] ids) {
        Shapes.check(table.rank() == 2, "embedding table must be [V, D]: %s", table);
        int vocab = table.dim(0);
        int d = table.dim(1);
        int[] idx = ids.clone();
        float[] out = Workspace.floatsToOverwrite(idx.length * d);
        for (int i = 0; i < idx.length; i++) {
            Shapes.check(idx[i] >= 0 && idx[i] < vocab, "embedding id %s out of range [0, %s)", idx[i], vocab);
            System.arraycopy(table.data, idx[i] * d, out, i * d, d);
        }
        return Tensor.result(out, new int[] {idx.length, d}, t -> {
            float[] gt = table.grad();
            for (int i = 0; i < idx.length; i++) { // fixed order: deterministic scatter-add
                int o = idx[i] * d;
                for (int c = 0; c < d; c++) {
                    gt[o + c] += t.grad[i * d + c];
                }
            }
        }, table);
    }

    /**
     * Inverted dropout: keeps each element with probability {@code 1 - p} and scales it by {@code 1/(1-p)}.
     * The keep mask is a function of {@code seed} only. Identity when not training or {@code p == 0}.
     */
    public static Tensor dropout(Tensor x, float p, long seed, boolean training) {
        Shapes.check(p >= 0f && p < 1f, "dropout probability must be in [0, 1): %s", p);
        if (!training || p == 0f) {
            return x;
        }
        float[] mask = dropoutMask(x.size(), p, seed);
        float[] out = Workspace.floatsToOverwrite(x.size());
        for (int i = 0; i < out.length; i++) {
            out[i] = x.data[i] * mask[i];
        }
        return Tensor.result(out, x.shape, t -> {
            float[] gx = x.grad();
            for (int i = 0; i < gx.length; i++) {
                gx[i] += t.grad[i] * mask[i];
            }
        }, x);
    }

    /**
     * Dropout's multipliers: element {@code i} is 0 if the {@code i}-th {@code nextDouble()} of
     * {@code new SplittableRandom(seed)} is below {@code p}, else 1/(1-p). The {@code i}-th draw is computed
     * directly (SplitMix64: {@code mix64(seed + (i+1)·γ)}; {@code OpsTest} checks it against
     * {@link SplittableRandom}), so ranges run on the kernel threads.
     */
    static float[] dropoutMask(int n, float p, long seed) {
        float keep = 1f / (1f - p);
        float[] mask = Workspace.floatsToOverwrite(n);
        MatMul.parallelFor(n, 4, (from, to) -> {
            long z = seed + (from + 1L) * GOLDEN_GAMMA;
            for (int i = from; i < to; i++, z += GOLDEN_GAMMA) {
                mask[i] = ((mix64(z) >>> 11) * 0x1.0p-53) < p ? 0f : keep;
            }
        });
        return mask;
    }

    /** SplittableRandom's gamma for a seeded generator. */
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    /** SplittableRandom's output function (SplitMix64). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The same values under a new shape (copied). One dimension may be -1 (inferred). */
    public static Tensor reshape(Tensor x, int... shape) {
        int[] s = shape.clone();
        int infer = -1;
        int known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                Shapes.check(infer < 0, "reshape: more than one -1 in %s", Arrays.toString(shape));
                infer = i;
            } else {
                known *= s[i];
            }
        }
        if (infer >= 0) {
            Shapes.check(known > 0 && x.size() % known == 0, "reshape: cannot infer %s from %s",
                    Arrays.toString(shape), x);
            s[infer] = x.size() / known;
        }
        Shapes.check(Shapes.size(s) == x.size(), "reshape: %s to %s changes the size", x, Arrays.toString(s));
        float[] copy = Workspace.floatsToOverwrite(x.size());
        System.arraycopy(x.data, 0, copy, 0, copy.length);
        return Tensor.result(copy, s, t -> x.addToGrad(t.grad), x);
    }

    /** Swaps dimensions {@code d1} and {@code d2} (copied), e.g. {@code [B,T,H,dk] -> [B,H,T,dk]}. */
    public static Tensor transpose(Tensor x, int d1, int d2) {
        int r = x.rank();
        int i = Math.min(norm(d1, r), norm(d2, r));
        int j = Math.max(norm(d1, r), norm(d2, r));
        int[] s = x.shape();
        if (i == j) {
            return reshape(x, s);
        }
        int p = 1;
        for (int q = 0; q < i; q++) {
            p *= s[q];
        }
        int a = s[i];
        int mid = 1;
        for (int q = i + 1; q < j; q++) {
            mid *= s[q];
        }
        int b = s[j];
        int rest = 1;
        for (int q = j + 1; q < r; q++) {
            rest *= s[q];
        }
        int[] os = s.clone();
        os[i] = s[j];
        os[j] = s[i];
        float[] out = Workspace.floatsToOverwrite(x.size());
        swap(x.data, out, p, a, mid, b, rest, false);
        final int fp = p;
        final int fm = mid;
        final int fr = rest;
        return Tensor.result(out, os, t -> swap(t.grad, x.grad(), fp, b, fm, a, fr, true), x);
    }

    private static int norm(int d, int r) {
        int v = d < 0 ? d + r : d;
        Shapes.check(v >= 0 && v < r, "dimension %s out of range for rank %s", d, r);
        return v;
    }

    /** {@code dst[p][y][m][x][r] (=|+=) src[p][x][m][y][r]}, src dims {@code [P, A, M, B, R]}. */
    private static void swap(float[] src, float[] dst, int p, int a, int m, int b, int rest, boolean acc) {
        for (int ip = 0; ip < p; ip++) {
            for (int ia = 0; ia < a; ia++) {
                for (int im = 0; im < m; im++) {
                    for (int ib = 0; ib < b; ib++) {
                        int so = (((ip * a + ia) * m + im) * b + ib) * rest;
                        int dO = (((ip * b + ib) * m + im) * a + ia) * rest;
                        if (acc) {
                            for (int q = 0; q < rest; q++) {
                                dst[dO + q] += src[so + q];
                            }
                        } else {
                            System.arraycopy(src, so, dst, dO, rest);
                        }
                    }
                }
            }
        }
    }

    // ---- loss ------------------------------------------------------------------------------------------

    /**
     * Mean cross-entropy of {@code logits [N, V]} against {@code targets[N]} with label smoothing
     * {@code eps} (target distribution {@code (1-eps)·onehot + eps/V}, as PyTorch); rows whose target is
     * {@code ignoreIndex} (the pad id) are skipped and the mean is over the remaining rows (0 if none).
     * Log-softmax in double.
     */
    public static Tensor crossEntropy(Tensor logits, int[] targets, float eps, int ignoreIndex) {
        int vocab = logits.dim(-1);
        int rows = logits.size() / vocab;
        Shapes.check(targets.length == rows, "crossEntropy: %s targets for %s rows", targets.length, rows);
        int[] tg = targets.clone();
        int count = 0;
        for (int r = 0; r < rows; r++) {
            if (tg[r] != ignoreIndex) {
                Shapes.check(tg[r] >= 0 && tg[r] < vocab, "target %s out of range [0, %s)", tg[r], vocab);
                count++;
            }
        }
        float[] x = logits.data;
        // rows of ignored targets are neither written nor read
        float[] prob = Workspace.floatsToOverwrite(logits.size());
        double[] rowLoss = Workspace.doubles(rows);
        MatMul.parallelFor(rows, 4L * vocab, (from, to) -> {
            for (int r = from; r < to; r++) {
                if (tg[r] == ignoreIndex) {
                    continue;
                }
                int o = r * vocab;
                float m = Float.NEGATIVE_INFINITY;
                double sumLogit = 0;
                for (int v = 0; v < vocab; v++) {
                    m = Math.max(m, x[o + v]);
                    sumLogit += x[o + v];
                }
                double se = 0;
                for (int v = 0; v < vocab; v++) {
                    double e = Math.exp((double) x[o + v] - m);
                    prob[o + v] = (float) e;
                    se += e;
                }
                float inv = (float) (1.0 / se);
                for (int v = 0; v < vocab; v++) {
                    prob[o + v] *= inv;
                }
                double lse = m + Math.log(se);
                rowLoss[r] = -(1.0 - eps) * (x[o + tg[r]] - lse) - (eps / vocab) * (sumLogit - vocab * lse);
            }
        });
        double total = 0;
        for (int r = 0; r < rows; r++) { // fixed order
            total += rowLoss[r];
        }
        int n = count;
        float loss = n == 0 ? 0f : (float) (total / n);
        return Tensor.result(new float[] {loss}, new int[] {1}, t -> {
            if (n == 0) {
                return;
            }
            float g = (float) (t.grad[0] / (double) n);
            float[] fresh = logits.gradToOverwrite(); // written instead of added: 0 + v == v
            float[] gl = fresh != null ? fresh : logits.grad();
            float off = eps / vocab;
            MatMul.parallelFor(rows, vocab, (from, to) -> {
                for (int r = from; r < to; r++) {
                    int o = r * vocab;
                    if (tg[r] == ignoreIndex) {
                        if (fresh != null) {
                            Arrays.fill(gl, o, o + vocab, 0f);
                        }
                        continue;
                    }
                    if (fresh != null) {
                        for (int v = 0; v < vocab; v++) {
                            gl[o + v] = g * (prob[o + v] - off);
                        }
                    } else {
                        for (int v = 0; v < vocab; v++) {
                            gl[o + v] += g * (prob[o + v] - off);
                        }
                    }
                    gl[o + tg[r]] -= g * (1f - eps);
                }
            });
        }, logits);
    }
}
