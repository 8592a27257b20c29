package org.shiftformer.trainer.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.TensorNames;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.trainer.autodiff.Ops;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * The encoder-decoder of SPEC.md section 2 over {@link TransformerParams}, written once against
 * {@link Numerics}: every SPEC.md integer point (EMBED, each LAYERNORM, the Q/K/V and first-FFN LINEARs,
 * each RESIDUAL, each attention, the tied LOGITS) is one {@code Numerics} call with its SPEC.md 2.3 prefix,
 * so the same code is the float model ({@link FloatNumerics}) and the fake-quantized one.
 *
 * <p>Training uses teacher forcing ({@link Batch}) and label-smoothed cross-entropy ignoring {@code pad_id};
 * {@link #greedy} decodes as SPEC.md 3.8 / 5 do (argmax over all ids but pad and bos, ties to the lowest
 * id, until EOS) incrementally: one new decoder position per step against per-layer key/value caches,
 * bit-exact with recomputing the decoder over the whole prefix (SPEC.md 2.2; {@link #greedyRecompute}).
 */
public final class Seq2SeqModel {

    private final TransformerParams params;
    private final ModelConfig cfg;
    private final float labelSmoothing;

    public Seq2SeqModel(TransformerParams params, float labelSmoothing) {
        if (!(labelSmoothing >= 0f && labelSmoothing < 1f)) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1): " + labelSmoothing);
        }
        this.params = params;
        this.cfg = params.config();
        this.labelSmoothing = labelSmoothing;
    }

    public TransformerParams params() {
        return params;
    }

    public ModelConfig config() {
        return cfg;
    }

    public float labelSmoothing() {
        return labelSmoothing;
    }

    /** The encoder input for {@code text}, exactly as runtime-core's {@code Translator.sourceIds}: ids + EOS. */
    public static int[] sourceIds(ByteBpeTokenizer tokenizer, String text, int eosId) {
        int[] ids = tokenizer.encode(text);
        int[] src = Arrays.copyOf(ids, ids.length + 1);
        src[ids.length] = eosId;
        return src;
    }

    // ---- forward ---------------------------------------------------------------------------------------

    /** SPEC.md 2.1: the encoder memory {@code [B, S, d]} (after {@code enc.final}). */
    public Tensor encode(int[] src, int[] srcLengths, int batch, int srcLen, Numerics n) {
        Tensor h = n.embed(p(TensorNames.EMBED), params.positions(), src, batch, srcLen, cfg.embedScaleLog2(), "enc");
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            String ln1 = TensorNames.enc(i, "ln1");
            Tensor a = n.layerNorm(h, gamma(ln1), beta(ln1), ln1);
            h = attentionBranch(h, a, a, TensorNames.enc(i, "attn"), srcLengths, false, n);
            h = ffnBranch(h, TensorNames.enc(i, "ln2"), TensorNames.enc(i, "ffn"), n);
        }
        return n.layerNorm(h, gamma(TensorNames.ENC_FINAL), beta(TensorNames.ENC_FINAL), TensorNames.ENC_FINAL);
    }

    /** SPEC.md 2.2: the final decoder LayerNorm output {@code f [B, T, d]} for decoder inputs {@code ids}. */
    public Tensor decode(Tensor memory, int[] srcLengths, int[] ids, int batch, int len, Numerics n) {
        Tensor g = n.embed(p(TensorNames.EMBED), params.positions(), ids, batch, len, cfg.embedScaleLog2(), "dec");
        int[] selfLengths = new int[batch];
        Arrays.fill(selfLengths, len);
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            String ln1 = TensorNames.dec(i, "ln1");
            Tensor a = n.layerNorm(g, gamma(ln1), beta(ln1), ln1);
            g = attentionBranch(g, a, a, TensorNames.dec(i, "self"), selfLengths, true, n);
            String ln2 = TensorNames.dec(i, "ln2");
            a = n.layerNorm(g, gamma(ln2), beta(ln2), ln2);
            g = attentionBranch(g, a, memory, TensorNames.dec(i, "cross"), srcLengths, false, n);
            g = ffnBranch(g, TensorNames.dec(i, "ln3"), TensorNames.dec(i, "ffn"), n);
        }
        return n.layerNorm(g, gamma(TensorNames.DEC_FINAL), beta(TensorNames.DEC_FINAL), TensorNames.DEC_FINAL);
    }

    /** SPEC.md 3.3 and 3.5: {@code h + ATTENTION_BRANCH(a, c, prefix)}. */
    private Tensor attentionBranch(Tensor h, Tensor a, Tensor c, String prefix, int[] keyLengths, boolean causal,
                                   Numerics n) {
        Tensor q = n.linear(a, w(prefix + ".q"), b(prefix + ".q"), false, prefix + ".q");
        Tensor k = n.linear(c, w(prefix + ".k"), b(prefix + ".k"), false, prefix + ".k");
        Tensor v = n.linear(c, w(prefix + ".v"), b(prefix + ".v"), false, prefix + ".v");
        Tensor ctx = n.attention(q, k, v, cfg.heads(), keyLengths, causal, prefix);
        return n.residual(h, ctx, w(prefix + ".o"), b(prefix + ".o"), prefix + ".o");
    }

    /** SPEC.md 3.6 and 3.5 with the LayerNorm in front: {@code h + FFN_BRANCH(LAYERNORM(h, ln), ffn)}. */
    private Tensor ffnBranch(Tensor h, String ln, String ffn, Numerics n) {
        Tensor a = n.layerNorm(h, gamma(ln), beta(ln), ln);
        Tensor u = n.linear(a, w(ffn + ".1"), b(ffn + ".1"), true, ffn + ".1");
        return n.residual(h, u, w(ffn + ".2"), b(ffn + ".2"), ffn + ".2");
    }

    /** Tied logits {@code [B, T, vocab]} of a batch under teacher forcing. */
    public Tensor logits(Batch batch, Numerics n) {
        Tensor memory = encode(batch.src(), batch.srcLengths(), batch.size(), batch.srcLen(), n);
        Tensor f = decode(memory, batch.srcLengths(), batch.decoderInput(), batch.size(), batch.tgtLen(), n);
        return n.logits(f, p(TensorNames.EMBED));
    }

    /**
     * Mean label-smoothed cross-entropy over the non-pad targets of {@code batch}.
     *
     * @param training {@code true}: records the graph for {@code backward()} (and keeps the dropout of a
     *                 training {@link FloatNumerics}); {@code false}: evaluation, nothing recorded, no dropout
     */
    public Tensor loss(Batch batch, Numerics n, boolean training) {
        if (training) {
            return Ops.crossEntropy(logits(batch, n), batch.targets(), labelSmoothing, cfg.padId());
        }
        Numerics eval = n instanceof FloatNumerics ? FloatNumerics.plain() : n;
        try (var ignored = Tensor.noGrad()) {
            return Ops.crossEntropy(logits(batch, eval), batch.targets(), labelSmoothing, cfg.padId());
        }
    }

    // ---- greedy decoding -------------------------------------------------------------------------------

    /**
     * Greedy decoding of {@code sources} (each ending in EOS) together in one batch: returns the generated
     * ids of each, without the EOS. At most {@code maxNewTokens} tokens are generated (EOS included), and
     * never more than {@code max_positions - 1} (SPEC.md 5).
     */
    public List<int[]> greedy(List<int[]> sources, int maxNewTokens, Numerics n) {
        int[] limits = new int[sources.size()];
        Arrays.fill(limits, maxNewTokens);
        return greedy(sources, limits, n);
    }

    /**
     * Greedy decoding as {@link #greedy(List, int, Numerics)} with a limit per source: sequence {@code i}
     * stops after {@code maxNewTokens[i]} steps (EOS included) like runtime-core's {@code GreedySearch}, so
     * its output does not depend on which other sources share the batch.
     *
     * <p>Incremental, as runtime-core's decoder: the encoder runs once, each decoder layer's cross-attention
     * keys and values of the memory are computed once, and every step runs only the new position through the
     * decoder, against per-layer caches of the self-attention keys and values (its one query row sees every
     * cached key, so no causal mask is needed), and computes that row's logits. Sequences that finished leave
     * the batch (and the caches). Every SPEC.md op being per row, the ids are exactly those of
     * {@link #greedyRecompute} (tested for the float and the fake-quantized numerics); a numerics that cannot
     * decode incrementally ({@link Numerics#incrementalDecoding()}: QAT while calibrating) gets that path.
     */
    public List<int[]> greedy(List<int[]> sources, int[] maxNewTokens, Numerics n) {
        Numerics eval = n instanceof FloatNumerics ? FloatNumerics.plain() : n;
        if (!eval.incrementalDecoding()) {
            return greedyRecompute(sources, maxNewTokens, n);
        }
        Sources in = sources(sources, maxNewTokens);
        if (in == null) {
            return List.of();
        }
        int b = in.lens.length;
        int layers = cfg.decoderLayers();
        int vocab = cfg.vocabSize();
        Tensor table = p(TensorNames.EMBED);
        List<int[]> result = new ArrayList<>(java.util.Collections.nCopies(b, (int[]) null));
        try (var ignored = Tensor.noGrad()) {
            Tensor memory = encode(in.src, in.lens, b, in.s, eval);
            Tensor[] crossK = new Tensor[layers];
            Tensor[] crossV = new Tensor[layers];
            for (int i = 0; i < layers; i++) {
                String c = TensorNames.dec(i, "cross");
                crossK[i] = eval.linear(memory, w(c + ".k"), b(c + ".k"), false, c + ".k");
                crossV[i] = eval.linear(memory, w(c + ".v"), b(c + ".v"), false, c + ".v");
            }
            Tensor[] selfK = new Tensor[layers];
            Tensor[] selfV = new Tensor[layers];
            // the active sequences: their indices in sources, source lengths, last token and output so far
            int m = b;
            int[] active = new int[b];
            int[] srcLens = in.lens.clone();
            int[] last = new int[b];
            int[][] out = new int[b][];
            for (int i = 0; i < b; i++) {
                active[i] = i;
                last[i] = cfg.bosId();
                out[i] = new int[Math.max(0, in.limit[i])];
            }
            int[] produced = new int[b];
            m = dropFinished(in, active, srcLens, last, out, produced, result, m, -1, selfK, selfV, crossK, crossV,
                    eval); // limits of 0
            for (int step = 0; m > 0; step++) {
                int[] selfLens = new int[m];
                Arrays.fill(selfLens, step + 1);
                int[] crossLens = Arrays.copyOf(srcLens, m);
                Tensor g = eval.embedAt(table, params.positions(), Arrays.copyOf(last, m), m, step,
                        cfg.embedScaleLog2(), "dec");
                for (int i = 0; i < layers; i++) {
                    String ln1 = TensorNames.dec(i, "ln1");
                    Tensor a = eval.layerNorm(g, gamma(ln1), beta(ln1), ln1);
                    String self = TensorNames.dec(i, "self");
                    Tensor q = eval.linear(a, w(self + ".q"), b(self + ".q"), false, self + ".q");
                    Tensor k = eval.linear(a, w(self + ".k"), b(self + ".k"), false, self + ".k");
                    Tensor v = eval.linear(a, w(self + ".v"), b(self + ".v"), false, self + ".v");
                    selfK[i] = eval.appendPositions(selfK[i], k);
                    selfV[i] = eval.appendPositions(selfV[i], v);
                    Tensor ctx = eval.attention(q, selfK[i], selfV[i], cfg.heads(), selfLens, false, self);
                    g = eval.residual(g, ctx, w(self + ".o"), b(self + ".o"), self + ".o");
                    String ln2 = TensorNames.dec(i, "ln2");
                    a = eval.layerNorm(g, gamma(ln2), beta(ln2), ln2);
                    String cross = TensorNames.dec(i, "cross");
                    q = eval.linear(a, w(cross + ".q"), b(cross + ".q"), false, cross + ".q");
                    ctx = eval.attention(q, crossK[i], crossV[i], cfg.heads(), crossLens, false, cross);
                    g = eval.residual(g, ctx, w(cross + ".o"), b(cross + ".o"), cross + ".o");
                    g = ffnBranch(g, TensorNames.dec(i, "ln3"), TensorNames.dec(i, "ffn"), eval);
                }
                Tensor f = eval.layerNorm(g, gamma(TensorNames.DEC_FINAL), beta(TensorNames.DEC_FINAL),
                        TensorNames.DEC_FINAL);
                float[] logits = eval.logits(f, table).data(); // [m, 1, vocab]
                for (int r = 0; r < m; r++) {
                    last[r] = argmax(logits, r * vocab, vocab);
                }
                m = dropFinished(in, active, srcLens, last, out, produced, result, m, step, selfK, selfV, crossK,
                        crossV, eval);
            }
        }
        return result;
    }

    /**
     * Records the tokens {@code last} of the active sequences chosen at {@code step} (none when
     * {@code step < 0}) and removes the sequences that finished (EOS, or their limit reached) from the active
     * arrays and the caches, keeping the others in order; returns how many stay active.
     */
    private int dropFinished(Sources in, int[] active, int[] srcLens, int[] last, int[][] out, int[] produced,
                             List<int[]> result, int m, int step, Tensor[] selfK, Tensor[] selfV, Tensor[] crossK,
                             Tensor[] crossV, Numerics n) {
        int[] keep = new int[m];
        int kept = 0;
        for (int r = 0; r < m; r++) {
            int i = active[r];
            boolean done;
            if (step < 0) {
                done = in.limit[i] <= 0;
            } else if (last[r] == cfg.eosId()) {
                done = true;
            } else {
                out[i][produced[i]++] = last[r];
                done = step + 1 == in.limit[i];
            }
            if (done) {
                result.set(i, Arrays.copyOf(out[i], produced[i]));
                out[i] = null;
            } else {
                keep[kept++] = r;
            }
        }
        if (kept == m) {
            return m;
        }
        for (int j = 0; j < kept; j++) {
            int r = keep[j];
            active[j] = active[r];
            srcLens[j] = srcLens[r];
            last[j] = last[r];
        }
        if (kept > 0) {
            int[] which = Arrays.copyOf(keep, kept);
            for (int l = 0; l < selfK.length; l++) {
                if (selfK[l] != null) { // null before the first step
                    selfK[l] = n.keepSequences(selfK[l], which);
                    selfV[l] = n.keepSequences(selfV[l], which);
                }
                crossK[l] = n.keepSequences(crossK[l], which);
                crossV[l] = n.keepSequences(crossV[l], which);
            }
        }
        return kept;
    }

    /**
     * The reference greedy decoding: the decoder recomputed over the whole prefix at every step, all
     * sequences until the last one finished (O(T²) decoder rows per sequence). {@link #greedy} gives the same
     * ids; kept for the tests that check it, for numerics that cannot decode incrementally, and for
     * benchmarks' {@code GreedyBench}.
     */
    public List<int[]> greedyRecompute(List<int[]> sources, int[] maxNewTokens, Numerics n) {
        Sources in = sources(sources, maxNewTokens);
        if (in == null) {
            return List.of();
        }
        int b = in.lens.length;
        int s = in.s;
        int[] src = in.src;
        int[] lens = in.lens;
        int[] limit = in.limit;
        int maxNew = 0;
        for (int i = 0; i < b; i++) {
            maxNew = Math.max(maxNew, limit[i]);
        }
        List<List<Integer>> out = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            out.add(new ArrayList<>());
        }
        boolean[] done = new boolean[b];
        int remaining = b;
        for (int i = 0; i < b; i++) {
            if (limit[i] <= 0) {
                done[i] = true;
                remaining--;
            }
        }
        int vocab = cfg.vocabSize();
        try (var ignored = Tensor.noGrad()) {
            Numerics eval = n instanceof FloatNumerics ? FloatNumerics.plain() : n;
            Tensor memory = encode(src, lens, b, s, eval);
            int[] ids = new int[b];
            Arrays.fill(ids, cfg.bosId());
            for (int step = 0; step < maxNew && remaining > 0; step++) {
                int t = step + 1;
                // logits of the last position of each sequence only (through the numerics: QAT's logits
                // need the integers it keeps beside its tensors); the decoder still runs over the prefix
                Tensor last = eval.lastPosition(decode(memory, lens, ids, b, t, eval));
                float[] logits = eval.logits(last, p(TensorNames.EMBED)).data();
                int[] next = new int[b * (t + 1)];
                for (int i = 0; i < b; i++) {
                    System.arraycopy(ids, i * t, next, i * (t + 1), t);
                    int best = argmax(logits, i * vocab, vocab);
                    if (!done[i]) {
                        if (best == cfg.eosId()) {
                            done[i] = true;
                            remaining--;
                        } else {
                            out.get(i).add(best);
                            if (step + 1 == limit[i]) {
                                done[i] = true;
                                remaining--;
                            }
                        }
                    }
                    next[i * (t + 1) + t] = best;
                }
                ids = next;
            }
        }
        List<int[]> result = new ArrayList<>(b);
        for (List<Integer> o : out) {
            result.add(o.stream().mapToInt(Integer::intValue).toArray());
        }
        return result;
    }

    /** Checked greedy inputs: sources padded to {@code [B, s]}, their lengths and their step limits. */
    private record Sources(int[] src, int[] lens, int s, int[] limit) {
    }

    /** The padded batch of {@code sources}, limits capped at {@code max_positions - 1}; null if empty. */
    private Sources sources(List<int[]> sources, int[] maxNewTokens) {
        if (sources.isEmpty()) {
            return null;
        }
        if (maxNewTokens.length != sources.size()) {
            throw new IllegalArgumentException(maxNewTokens.length + " limits for " + sources.size() + " sources");
        }
        int b = sources.size();
        int s = 0;
        for (int[] x : sources) {
            if (x.length == 0 || x.length > cfg.maxPositions()) {
                throw new IllegalArgumentException("source of " + x.length + " ids: must be in [1, "
                        + cfg.maxPositions() + "] with its EOS");
            }
            s = Math.max(s, x.length);
        }
        int[] src = new int[b * s];
        Arrays.fill(src, cfg.padId());
        int[] lens = new int[b];
        int[] limit = new int[b];
        for (int i = 0; i < b; i++) {
            System.arraycopy(sources.get(i), 0, src, i * s, sources.get(i).length);
            lens[i] = sources.get(i).length;
            limit[i] = Math.min(maxNewTokens[i], cfg.maxPositions() - 1);
        }
        return new Sources(src, lens, s, limit);
    }

    /** SPEC.md 3.8: argmax over all ids except pad and bos, ties to the lowest id. */
    private int argmax(float[] logits, int off, int vocab) {
        int best = -1;
        float bv = 0f;
        for (int v = 0; v < vocab; v++) {
            if (v == cfg.padId() || v == cfg.bosId()) {
                continue;
            }
            float x = logits[off + v];
            if (best < 0 || x > bv) {
                best = v;
                bv = x;
            }
        }
        return best;
    }

    // ---- parameter access ------------------------------------------------------------------------------

    private Tensor p(String name) {
        return params.get(name);
    }

    private Tensor w(String prefix) {
        return params.get(TensorNames.weight(prefix));
    }

    private Tensor b(String prefix) {
        return params.get(TensorNames.bias(prefix));
    }

    private Tensor gamma(String prefix) {
        return params.get(TensorNames.gamma(prefix));
    }

    private Tensor beta(String prefix) {
        return params.get(TensorNames.beta(prefix));
    }
}
