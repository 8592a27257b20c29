package org.shiftformer.api.spec;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.model.Attention;
import org.shiftformer.api.model.DecoderLayer;
import org.shiftformer.api.model.EncoderLayer;
import org.shiftformer.api.model.LayerNormParams;
import org.shiftformer.api.model.Linear;
import org.shiftformer.api.model.TransformerWeights;

/**
 * SPEC.md section 2 executed with the scalar reference ops, one sequence and one row at a time. Slow
 * and obviously correct: the yardstick every backend is compared with.
 */
public final class ReferenceModel implements LoadedModel {
    private final TransformerWeights w;
    private final ModelConfig cfg;
    private final int d;

    public ReferenceModel(TransformerWeights weights) {
        this.w = weights;
        this.cfg = weights.config();
        this.d = cfg.dModel();
    }

    @Override
    public ModelConfig config() {
        return cfg;
    }

    @Override
    public int logitsExponent() {
        return w.logitsExp();
    }

    @Override
    public EncodeResult encode(List<int[]> sources, LayerTap tap) {
        List<EncodedSource> out = new ArrayList<>();
        for (int s = 0; s < sources.size(); s++) {
            out.add(encodeOne(s, sources.get(s), tap));
        }
        return new EncodeResult(out, StepCost.ZERO);
    }

    private Source encodeOne(int seq, int[] tokens, LayerTap tap) {
        int n = tokens.length;
        if (n < 1 || n > cfg.maxPositions()) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "source length " + n + " outside [1, " + cfg.maxPositions() + "]");
        }
        short[] h = new short[n * d];
        for (int i = 0; i < n; i++) {
            checkToken(tokens[i]);
            IntOps.embed(w.embed(), w.embedExp(), cfg.embedScaleLog2(), w.positions(), w.positionsExp(), d, tokens[i], i,
                    w.encEmbedOut(), h, i * d);
        }
        int eR = w.encEmbedOut();
        tap(tap, seq, "enc.embed", h);
        for (int l = 0; l < cfg.encoderLayers(); l++) {
            EncoderLayer layer = w.encoder().get(l);
            byte[] a = layerNorm(h, n, layer.ln1());
            Attention at = layer.attn();
            byte[] q = project(a, n, at.q());
            byte[] k = project(a, n, at.k());
            byte[] v = project(a, n, at.v());
            int[] validLen = new int[n];
            java.util.Arrays.fill(validLen, n);
            int[] acc = attendAndProject(q, n, k, v, n, validLen, at);
            h = residual(h, eR, acc, at.o(), n);
            eR = at.o().outExp();
            tap(tap, seq, "enc." + l + ".attn", h);
            byte[] a2 = layerNorm(h, n, layer.ln2());
            int[] acc2 = ffn(a2, n, layer.ffn1(), layer.ffn2());
            h = residual(h, eR, acc2, layer.ffn2(), n);
            eR = layer.ffn2().outExp();
            tap(tap, seq, "enc." + l + ".ffn", h);
        }
        byte[] memory = layerNorm(h, n, w.encFinal());
        tap(tap, seq, "enc.final", memory);
        byte[][] crossK = new byte[cfg.decoderLayers()][];
        byte[][] crossV = new byte[cfg.decoderLayers()][];
        for (int l = 0; l < cfg.decoderLayers(); l++) {
            Attention cross = w.decoder().get(l).cross();
            crossK[l] = project(memory, n, cross.k());
            crossV[l] = project(memory, n, cross.v());
        }
        return new Source(n, memory, crossK, crossV);
    }

    @Override
    public DecoderState newDecoder(EncodedSource source, int capacity) {
        if (!(source instanceof Source src)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "source was not encoded by this model");
        }
        if (capacity < 1 || capacity > cfg.maxPositions()) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "decoder capacity " + capacity + " outside [1, " + cfg.maxPositions() + "]");
        }
        return new State(src, capacity, cfg.decoderLayers(), d);
    }

    @Override
    public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        int vocab = cfg.vocabSize();
        for (int s = 0; s < states.size(); s++) {
            State st = (State) states.get(s);
            checkToken(tokens[s]);
            if (st.position >= st.capacity) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                        "decoder state is full (" + st.capacity + " positions)");
            }
            int[] row = stepOne(s, st, tokens[s], tap);
            System.arraycopy(row, 0, logits, s * vocab, vocab);
        }
        return StepCost.ZERO;
    }

    private int[] stepOne(int seq, State st, int token, LayerTap tap) {
        int t = st.position;
        short[] g = new short[d];
        IntOps.embed(w.embed(), w.embedExp(), cfg.embedScaleLog2(), w.positions(), w.positionsExp(), d, token, t,
                w.decEmbedOut(), g, 0);
        int eR = w.decEmbedOut();
        tap(tap, seq, "dec.embed", g);
        for (int l = 0; l < cfg.decoderLayers(); l++) {
            DecoderLayer layer = w.decoder().get(l);
            // causal self-attention: the new row attends to cached rows 0..t and itself
            byte[] a = layerNorm(g, 1, layer.ln1());
            Attention self = layer.self();
            byte[] q = project(a, 1, self.q());
            System.arraycopy(project(a, 1, self.k()), 0, st.selfK[l], t * d, d);
            System.arraycopy(project(a, 1, self.v()), 0, st.selfV[l], t * d, d);
            int[] acc = attendAndProject(q, 1, st.selfK[l], st.selfV[l], t + 1, new int[] {t + 1}, self);
            g = residual(g, eR, acc, self.o(), 1);
            eR = self.o().outExp();
            tap(tap, seq, "dec." + l + ".self", g);
            // cross-attention over the source
            byte[] a2 = layerNorm(g, 1, layer.ln2());
            Attention cross = layer.cross();
            byte[] q2 = project(a2, 1, cross.q());
            int n = st.source.length;
            int[] acc2 = attendAndProject(q2, 1, st.source.crossK[l], st.source.crossV[l], n, new int[] {n}, cross);
            g = residual(g, eR, acc2, cross.o(), 1);
            eR = cross.o().outExp();
            tap(tap, seq, "dec." + l + ".cross", g);
            byte[] a3 = layerNorm(g, 1, layer.ln3());
            int[] acc3 = ffn(a3, 1, layer.ffn1(), layer.ffn2());
            g = residual(g, eR, acc3, layer.ffn2(), 1);
            eR = layer.ffn2().outExp();
            tap(tap, seq, "dec." + l + ".ffn", g);
        }
        byte[] f = layerNorm(g, 1, w.decFinal());
        tap(tap, seq, "dec.final", f);
        int[] logits = new int[cfg.vocabSize()];
        IntOps.linear(f, 0, false, d, w.embed(), cfg.vocabSize(), null, logits, 0);
        if (tap != null) {
            tap.accept(seq, "logits", logits, logits.length);
        }
        st.position = t + 1;
        return logits;
    }

    /**
     * The decoder over a whole prefix at once, without a cache: every row {@code i} of {@code prefix}
     * (starting with BOS) attends causally to rows {@code 0..i}. Returns the logits of every row,
     * {@code [prefix.length, vocab]}. SPEC.md section 6 says this equals cached decoding bit for bit.
     */
    public int[] recomputeLogits(EncodedSource source, int[] prefix) {
        Source src = (Source) source;
        int rows = prefix.length;
        short[] g = new short[rows * d];
        for (int i = 0; i < rows; i++) {
            checkToken(prefix[i]);
            IntOps.embed(w.embed(), w.embedExp(), cfg.embedScaleLog2(), w.positions(), w.positionsExp(), d, prefix[i], i,
                    w.decEmbedOut(), g, i * d);
        }
        int eR = w.decEmbedOut();
        int[] causal = new int[rows];
        int[] cross = new int[rows];
        for (int i = 0; i < rows; i++) {
            causal[i] = i + 1;
            cross[i] = src.length;
        }
        for (int l = 0; l < cfg.decoderLayers(); l++) {
            DecoderLayer layer = w.decoder().get(l);
            byte[] a = layerNorm(g, rows, layer.ln1());
            Attention self = layer.self();
            int[] acc = attendAndProject(project(a, rows, self.q()), rows, project(a, rows, self.k()),
                    project(a, rows, self.v()), rows, causal, self);
            g = residual(g, eR, acc, self.o(), rows);
            eR = self.o().outExp();
            byte[] a2 = layerNorm(g, rows, layer.ln2());
            int[] acc2 = attendAndProject(project(a2, rows, layer.cross().q()), rows, src.crossK[l], src.crossV[l],
                    src.length, cross, layer.cross());
            g = residual(g, eR, acc2, layer.cross().o(), rows);
            eR = layer.cross().o().outExp();
            byte[] a3 = layerNorm(g, rows, layer.ln3());
            g = residual(g, eR, ffn(a3, rows, layer.ffn1(), layer.ffn2()), layer.ffn2(), rows);
            eR = layer.ffn2().outExp();
        }
        byte[] f = layerNorm(g, rows, w.decFinal());
        int[] logits = new int[rows * cfg.vocabSize()];
        for (int i = 0; i < rows; i++) {
            IntOps.linear(f, i * d, false, d, w.embed(), cfg.vocabSize(), null, logits, i * cfg.vocabSize());
        }
        return logits;
    }

    // ---- layers -------------------------------------------------------------------------------------

    private byte[] layerNorm(short[] x, int rows, LayerNormParams p) {
        byte[] out = new byte[rows * d];
        for (int r = 0; r < rows; r++) {
            IntOps.layerNorm(x, r * d, d, p.gamma(), p.beta(), p.gammaExp(), p.outExp(), out, r * d);
        }
        return out;
    }

    /** LINEAR then REQUANT to int8 (Q, K, V). */
    private static byte[] project(byte[] x, int rows, Linear lin) {
        int[] acc = new int[rows * lin.n()];
        for (int r = 0; r < rows; r++) {
            IntOps.linear(x, r * lin.k(), lin.unsignedInput(), lin.k(), lin.weight(), lin.n(), lin.bias(), acc, r * lin.n());
        }
        byte[] out = new byte[rows * lin.n()];
        IntOps.requantize(acc, 0, acc.length, lin.shift(), DType.INT8, out, 0);
        return out;
    }

    /** Per head: scores, masked softmax, attention·V, requantized context; then the output projection. */
    private int[] attendAndProject(byte[] q, int rows, byte[] k, byte[] v, int keys, int[] validLen, Attention at) {
        int heads = cfg.heads();
        int dk = cfg.dHead();
        int eS = at.scoreExp();
        int ctxShift = at.ctxExp() - (-8 + at.v().outExp());
        byte[] ctx = new byte[rows * d];
        int[] scores = new int[keys];
        byte[] p = new byte[keys];
        int[] acc = new int[dk];
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                for (int j = 0; j < keys; j++) {
                    scores[j] = IntOps.dot(q, r * d + h * dk, k, j * d + h * dk, dk);
                }
                IntOps.softmax2(scores, 0, keys, validLen[r], eS, w.softmaxLut(), p, 0);
                IntOps.attendValues(p, 0, keys, v, d, h * dk, dk, acc, 0);
                IntOps.requantize(acc, 0, dk, ctxShift, DType.INT8, ctx, r * d + h * dk);
            }
        }
        Linear o = at.o();
        int[] out = new int[rows * d];
        for (int r = 0; r < rows; r++) {
            IntOps.linear(ctx, r * d, false, d, o.weight(), d, o.bias(), out, r * d);
        }
        return out;
    }

    private int[] ffn(byte[] a, int rows, Linear ffn1, Linear ffn2) {
        int f = cfg.dFf();
        int[] acc1 = new int[rows * f];
        for (int r = 0; r < rows; r++) {
            IntOps.linear(a, r * d, false, d, ffn1.weight(), f, ffn1.bias(), acc1, r * f);
        }
        byte[] hidden = new byte[rows * f];
        IntOps.requantize(acc1, 0, acc1.length, ffn1.shift(), DType.UINT8, hidden, 0);
        int[] acc2 = new int[rows * d];
        for (int r = 0; r < rows; r++) {
            IntOps.linear(hidden, r * f, true, f, ffn2.weight(), d, ffn2.bias(), acc2, r * d);
        }
        return acc2;
    }

    private short[] residual(short[] h, int eR, int[] acc, Linear branch, int rows) {
        short[] out = new short[rows * d];
        IntOps.residual(h, 0, eR, acc, 0, branch.accExp(), branch.outExp(), rows * d, out, 0);
        return out;
    }

    private void checkToken(int token) {
        if (token < 0 || token >= cfg.vocabSize()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "token id " + token + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
        }
    }

    private static void tap(LayerTap tap, int seq, String point, short[] values) {
        if (tap != null) {
            int[] wide = new int[values.length];
            for (int i = 0; i < wide.length; i++) {
                wide[i] = values[i];
            }
            tap.accept(seq, point, wide, wide.length);
        }
    }

    private static void tap(LayerTap tap, int seq, String point, byte[] values) {
        if (tap != null) {
            int[] wide = new int[values.length];
            for (int i = 0; i < wide.length; i++) {
                wide[i] = values[i];
            }
            tap.accept(seq, point, wide, wide.length);
        }
    }

    @Override
    public void close() {
        // heap only
    }

    private static final class Source implements EncodedSource {
        final int length;
        final byte[] memory;
        final byte[][] crossK;
        final byte[][] crossV;

        Source(int length, byte[] memory, byte[][] crossK, byte[][] crossV) {
            this.length = length;
            this.memory = memory;
            this.crossK = crossK;
            this.crossV = crossV;
        }

        @Override
        public int length() {
            return length;
        }

        @Override
        public byte[] memory() {
            return memory.clone();
        }

        @Override
        public void close() {
        }
    }

    private static final class State implements DecoderState {
        final Source source;
        final int capacity;
        final byte[][] selfK;
        final byte[][] selfV;
        int position;

        State(Source source, int capacity, int layers, int d) {
            this.source = source;
            this.capacity = capacity;
            this.selfK = new byte[layers][capacity * d];
            this.selfV = new byte[layers][capacity * d];
        }

        @Override
        public int position() {
            return position;
        }

        @Override
        public int capacity() {
            return capacity;
        }

        @Override
        public EncodedSource source() {
            return source;
        }

        @Override
        public DecoderState fork() {
            State s = new State(source, capacity, selfK.length, selfK[0].length / capacity);
            s.copyFrom(this);
            return s;
        }

        @Override
        public void copyFrom(DecoderState other) {
            State o = (State) other;
            if (o.source != source || o.capacity != capacity) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "copyFrom needs a state of the same source and capacity");
            }
            for (int l = 0; l < selfK.length; l++) {
                System.arraycopy(o.selfK[l], 0, selfK[l], 0, selfK[l].length);
                System.arraycopy(o.selfV[l], 0, selfV[l], 0, selfV[l].length);
            }
            position = o.position;
        }

        @Override
        public void close() {
        }
    }
}
