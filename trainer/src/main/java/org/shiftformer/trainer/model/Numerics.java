package org.shiftformer.trainer.model;

import org.shiftformer.trainer.autodiff.Tensor;

/**
 * The arithmetic of the model between its parameters. Every point where SPEC.md makes a value an integer
 * is exactly one call here, named by its SPEC.md section 2.3 prefix, so that the same model code runs
 * <ul>
 * <li>in float32 ({@code FloatNumerics}: plain autodiff ops, used for float training and evaluation),</li>
 * <li>while collecting activation statistics (calibration), and</li>
 * <li>fake-quantized ({@code org.shiftformer.trainer.qat}): forward bit-exact with SPEC.md's integer ops,
 *     backward straight-through with TQT threshold gradients.</li>
 * </ul>
 * Activations are {@code [B, T, width]} tensors, row-major; {@code ids} are {@code B * T} token ids, row
 * {@code b} at {@code [b * T, (b + 1) * T)}, padded with {@code pad_id}. Weights are {@code [out, in]} as
 * in SPEC.md. Names: {@code stream} is {@code "enc"} or {@code "dec"}; a LayerNorm prefix is e.g.
 * {@code "enc.0.ln1"} or {@code "dec.final"}; a linear prefix is e.g. {@code "enc.0.attn.q"},
 * {@code "dec.1.cross.o"}, {@code "enc.0.ffn.1"}; an attention prefix is e.g. {@code "dec.0.self"}.
 */
public interface Numerics {

    /**
     * SPEC.md 3.1 EMBED of a whole batch: {@code out[b, t] = E[ids[b*T+t]] · 2^scaleLog2 + P[t]}, shape
     * {@code [B, T, d]}; the result is the residual stream at exponent {@code {stream}.embed.out}.
     */
    Tensor embed(Tensor table, Tensor positions, int[] ids, int batch, int len, int scaleLog2, String stream);

    /** SPEC.md 3.7 LAYERNORM over the last dimension; output exponent {@code {prefix}.out}. */
    Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, String prefix);

    /**
     * SPEC.md 3.2 LINEAR followed by REQUANT: {@code x · wᵀ + b} for {@code x [B, T, K]}, {@code w [N, K]};
     * {@code relu == false}: int8 output (Q, K, V projections); {@code relu == true}: uint8 output, i.e. the
     * ReLU of the first FFN layer. Weight {@code {prefix}.weight}, output exponent {@code {prefix}.out}.
     */
    Tensor linear(Tensor x, Tensor w, Tensor b, boolean relu, String prefix);

    /**
     * SPEC.md 3.5 RESIDUAL over a LINEAR without requantization: {@code r + x · wᵀ + b}. {@code prefix}
     * names the linear ({@code "enc.0.attn.o"}, {@code "enc.0.ffn.2"}); the int16 result is at exponent
     * {@code {prefix}.out}.
     */
    Tensor residual(Tensor r, Tensor x, Tensor w, Tensor b, String prefix);

    /**
     * The middle of SPEC.md 3.3: per head {@code h}, {@code SOFTMAX2(Q_h · K_hᵀ)} over the valid keys (key
     * {@code j} of batch row {@code b} is valid iff {@code j < keyLengths[b]} and, when {@code causal},
     * {@code j <= i}), times {@code V_h}, requantized to {@code {prefix}.ctx.out}. {@code q [B, Tq, d]},
     * {@code k, v [B, Tk, d]}; returns {@code [B, Tq, d]}. Scores are base-2 logits: no {@code 1/sqrt(d_k)}
     * here (it is folded into {@code W_Q}, SPEC.md 3.3).
     */
    Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal, String prefix);

    /** SPEC.md 3.8 tied logits: {@code f [B, T, d] · Eᵀ -> [B, T, vocab]}. */
    Tensor logits(Tensor f, Tensor table);

    /**
     * The last position of every sequence of a decoder output {@code f [B, T, d]}, as {@code [B, 1, d]}: greedy
     * decoding that recomputes the decoder over the prefix (and {@link #embedAt}'s default) needs the newest
     * position only, so it asks for these rows instead of all {@code T}
     * (whose logits, {@code B · T · vocab} values, dominate a step's memory at a real vocabulary). Evaluation
     * only: the result records no gradient. A numerics that keeps state beside its tensors (QAT's integers)
     * overrides this to carry it over.
     */
    default Tensor lastPosition(Tensor f) {
        return lastRows(f);
    }

    // ---- incremental (KV-cached) greedy decoding -----------------------------------------------------------
    //
    // Every SPEC.md integer op is per row (LINEAR, LAYERNORM, RESIDUAL per position, attention per query row
    // over its keys, exponents fixed per tensor), so running only the newest decoder position against cached
    // self-attention keys and values gives exactly the rows a decoder run over the whole prefix gives.

    /**
     * Whether {@link Seq2SeqModel#greedy} may decode incrementally with this numerics (embed one position,
     * cache keys and values): true unless the numerics changes its arithmetic during a pass (QAT while
     * calibrating: a threshold raised at a later step would leave the cached rows at an older exponent), in
     * which case greedy recomputes the decoder over the prefix at every step.
     */
    default boolean incrementalDecoding() {
        return true;
    }

    /**
     * SPEC.md 3.1 EMBED of one new decoder position: {@code out[b, 0] = E[ids[b]] · 2^scaleLog2 + P[position]},
     * shape {@code [B, 1, d]}, the row {@link #embed} gives at index {@code position}. Starts a decoding step
     * (a numerics that keeps state per decoder run drops the previous step's). This default embeds a prefix
     * of {@code position + 1} positions and keeps its last row; the numerics override it with the one row.
     */
    default Tensor embedAt(Tensor table, Tensor positions, int[] ids, int batch, int position, int scaleLog2,
                           String stream) {
        int len = position + 1;
        int[] all = new int[batch * len];
        for (int b = 0; b < batch; b++) {
            java.util.Arrays.fill(all, b * len, (b + 1) * len, ids[b]);
        }
        return lastPosition(embed(table, positions, all, batch, len, scaleLog2, stream));
    }

    /**
     * A key or value cache grown by one position: {@code cache [B, T, d]} (null: empty) followed, per
     * sequence, by {@code next [B, 1, d]}, as {@code [B, T + 1, d]}. Evaluation only. {@code cache} is
     * consumed (a numerics that keeps state beside its tensors may forget it); the result stays valid for the
     * rest of the pass, across decoding steps, until it is consumed in turn.
     */
    default Tensor appendPositions(Tensor cache, Tensor next) {
        return appendRows(cache, next);
    }

    /**
     * Sequences {@code which} (ascending batch indices) of {@code t [B, T, d]}, as {@code [which.length, T, d]}:
     * greedy decoding drops the sequences that finished from its caches. Evaluation only; {@code t} is
     * consumed and the result stays valid for the rest of the pass, as for {@link #appendPositions}.
     */
    default Tensor keepSequences(Tensor t, int[] which) {
        return selectSequences(t, which);
    }

    /** {@link #appendPositions}'s values (a new tensor). */
    static Tensor appendRows(Tensor cache, Tensor next) {
        int b = next.dim(0);
        int d = next.dim(2);
        if (next.dim(1) != 1) {
            throw new IllegalArgumentException("append one position per sequence, not " + next.dim(1));
        }
        if (cache == null) {
            return Tensor.of(next.data().clone(), b, 1, d);
        }
        if (cache.dim(0) != b || cache.dim(2) != d) {
            throw new IllegalArgumentException("cache " + java.util.Arrays.toString(cache.shape()) + " and rows "
                    + java.util.Arrays.toString(next.shape()) + " differ");
        }
        int t = cache.dim(1);
        float[] out = new float[b * (t + 1) * d];
        appendRows(cache.data(), next.data(), out, b, t, d);
        return Tensor.of(out, b, t + 1, d);
    }

    /** Sequence by sequence, {@code t} rows of {@code cache} then one of {@code next} (arrays of one type). */
    static void appendRows(Object cache, Object next, Object dst, int b, int t, int d) {
        for (int i = 0; i < b; i++) {
            System.arraycopy(cache, i * t * d, dst, i * (t + 1) * d, t * d);
            System.arraycopy(next, i * d, dst, (i * (t + 1) + t) * d, d);
        }
    }

    /** {@link #keepSequences}'s values (a new tensor). */
    static Tensor selectSequences(Tensor t, int[] which) {
        int[] shape = t.shape().clone();
        int per = t.size() / shape[0];
        float[] out = new float[which.length * per];
        selectSequences(t.data(), out, which, per);
        shape[0] = which.length;
        return Tensor.of(out, shape);
    }

    /** Copies blocks {@code which[i]} of {@code per} elements of {@code src} to block {@code i} of {@code dst}. */
    static void selectSequences(Object src, Object dst, int[] which, int per) {
        for (int i = 0; i < which.length; i++) {
            System.arraycopy(src, which[i] * per, dst, i * per, per);
        }
    }

    /** {@link #lastPosition}'s values: row {@code T - 1} of each sequence of {@code f [B, T, d]}, copied. */
    static Tensor lastRows(Tensor f) {
        int b = f.dim(0);
        int t = f.dim(1);
        int d = f.dim(2);
        float[] out = new float[b * d];
        lastRows(f.data(), out, b, t, d);
        return Tensor.of(out, b, 1, d);
    }

    /** Copies row {@code t - 1} of each of {@code b} sequences of {@code t} rows of {@code d} (arrays of one type). */
    static void lastRows(Object src, Object dst, int b, int t, int d) {
        for (int i = 0; i < b; i++) {
            System.arraycopy(src, (i * t + t - 1) * d, dst, i * d, d);
        }
    }
}
