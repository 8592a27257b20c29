package org.shiftformer.sim;

import java.util.ArrayList;
import java.util.List;
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
import org.shiftformer.sim.kernel.AttentionKernels;
import org.shiftformer.sim.kernel.ElementKernels;
import org.shiftformer.sim.kernel.Int8Gemm;
import org.shiftformer.sim.kernel.PackedWeights;

/**
 * SPEC.md section 2 executed with backend-sim's fast exact kernels, batched.
 *
 * <ul>
 * <li>Weights are packed once at load ({@link PackedWeights}); the Q, K and V projections of a
 *     self-attention share their input and are packed as one {@code [3d, d]} matrix, the cross-attention
 *     K and V as one {@code [2d, d]} matrix applied to the encoder memory.</li>
 * <li>The encoder stacks the rows of every source of a batch (no padding) into one matrix per linear;
 *     attention runs per source with its own length. The decoder step stacks one row per live state.
 *     Every op is row-wise exact integer arithmetic, so a sequence's bits never depend on the batch.</li>
 * <li>Cross-attention keys and values are computed once per source, at encode time; self-attention
 *     keys and values are appended to each state's preallocated cache ({@link SimState}).</li>
 * <li>Scratch buffers belong to the model (one thread at a time per model, as {@link LoadedModel}
 *     requires) and grow when a larger batch arrives; with {@code tap == null} a decoder step allocates
 *     nothing but its {@link StepCost}.</li>
 * </ul>
 */
public final class SimModel implements LoadedModel {
    private final TransformerWeights w;
    private final ModelConfig cfg;
    private final DatapathModel datapath;
    private final int d;
    private final int heads;
    private final int dk;
    private final int dff;
    private final int vocab;
    private final int[] lut;
    private final EncLayer[] enc;
    private final DecLayer[] dec;
    private final PackedWeights logitsW;
    private final long deviceWeightBytes;
    private final long encoderWeightBytes;
    private final long decoderStepWeightBytes;
    private final long crossKvWeightBytes;
    private final boolean resident;
    private final String[] encAttnPoint;
    private final String[] encFfnPoint;
    private final String[] decSelfPoint;
    private final String[] decCrossPoint;
    private final String[] decFfnPoint;

    // ---- scratch (grown on demand) -----------------------------------------------------------------
    private int scratchRows;
    private short[] h;
    private byte[] a;
    private int[] xp;
    private int[] acc;
    private byte[] qkv;
    private byte[] ctx;
    private byte[] hidden;
    private byte[] kT = new byte[0];
    private final int[] tail = new int[32];
    private final int[] scores;
    private final byte[] probs;
    private final int[] exps;
    private final int[] pv;
    private final long[] lnScratch;
    private long stepCounter;
    private volatile boolean closed;

    /** Packed weights and shifts of one attention branch. */
    private record Attn(PackedWeights in, PackedWeights memKv, int qShift, int kShift, int vShift, int scoreExp,
                        int ctxShift, PackedWeights o, int oAccExp, int oOutExp) {
    }

    private record Ffn(PackedWeights w1, int shift1, PackedWeights w2, int accExp2, int outExp2) {
    }

    private record EncLayer(LayerNormParams ln1, Attn attn, LayerNormParams ln2, Ffn ffn) {
    }

    private record DecLayer(LayerNormParams ln1, Attn self, LayerNormParams ln2, Attn cross, LayerNormParams ln3, Ffn ffn) {
    }

    /** Packs {@code weights} (already validated by {@link TransformerWeights#of}). */
    public SimModel(TransformerWeights weights, DatapathModel datapath) {
        this.w = weights;
        this.cfg = weights.config();
        this.datapath = datapath;
        this.d = cfg.dModel();
        this.heads = cfg.heads();
        this.dk = cfg.dHead();
        this.dff = cfg.dFf();
        this.vocab = cfg.vocabSize();
        this.lut = weights.softmaxLut();
        long encBytes = 0;
        this.enc = new EncLayer[cfg.encoderLayers()];
        this.encAttnPoint = new String[enc.length];
        this.encFfnPoint = new String[enc.length];
        for (int l = 0; l < enc.length; l++) {
            EncoderLayer e = weights.encoder().get(l);
            enc[l] = new EncLayer(e.ln1(), selfAttn(e.attn()), e.ln2(), ffn(e.ffn1(), e.ffn2()));
            encBytes += attnBytes(e.attn()) + bytes(e.ffn1()) + bytes(e.ffn2()) + 2 * lnBytes();
            encAttnPoint[l] = "enc." + l + ".attn";
            encFfnPoint[l] = "enc." + l + ".ffn";
        }
        encBytes += lnBytes() + (long) cfg.vocabSize() * d + (long) cfg.maxPositions() * d;
        long decBytes = 0;
        long crossKv = 0;
        this.dec = new DecLayer[cfg.decoderLayers()];
        this.decSelfPoint = new String[dec.length];
        this.decCrossPoint = new String[dec.length];
        this.decFfnPoint = new String[dec.length];
        for (int l = 0; l < dec.length; l++) {
            DecoderLayer x = weights.decoder().get(l);
            dec[l] = new DecLayer(x.ln1(), selfAttn(x.self()), x.ln2(), crossAttn(x.cross()), x.ln3(), ffn(x.ffn1(), x.ffn2()));
            decBytes += attnBytes(x.self()) + bytes(x.cross().q()) + bytes(x.cross().o()) + bytes(x.ffn1()) + bytes(x.ffn2())
                    + 3 * lnBytes();
            crossKv += bytes(x.cross().k()) + bytes(x.cross().v());
            decSelfPoint[l] = "dec." + l + ".self";
            decCrossPoint[l] = "dec." + l + ".cross";
            decFfnPoint[l] = "dec." + l + ".ffn";
        }
        decBytes += lnBytes() + (long) cfg.vocabSize() * d + (long) cfg.maxPositions() * d;
        this.logitsW = PackedWeights.pack(weights.embed(), 0, vocab, d, null, false);
        this.encoderWeightBytes = encBytes;
        this.decoderStepWeightBytes = decBytes;
        this.crossKvWeightBytes = crossKv;
        // the embedding and positional tables are shared by both stacks: count them once
        this.deviceWeightBytes = encBytes + decBytes + crossKv - (long) (cfg.vocabSize() + cfg.maxPositions()) * d;
        this.resident = datapath.weightsResident(deviceWeightBytes);
        int keysPad = (cfg.maxPositions() + 7) & ~7;
        this.scores = new int[keysPad];
        this.probs = new byte[keysPad];
        this.exps = new int[keysPad];
        this.pv = new int[dk];
        this.lnScratch = new long[d];
        ensureRows(1);
    }

    private Attn selfAttn(Attention at) {
        Linear q = at.q();
        Linear k = at.k();
        Linear v = at.v();
        byte[] wq = new byte[3 * d * d];
        System.arraycopy(q.weight(), 0, wq, 0, d * d);
        System.arraycopy(k.weight(), 0, wq, d * d, d * d);
        System.arraycopy(v.weight(), 0, wq, 2 * d * d, d * d);
        int[] b = new int[3 * d];
        System.arraycopy(q.bias(), 0, b, 0, d);
        System.arraycopy(k.bias(), 0, b, d, d);
        System.arraycopy(v.bias(), 0, b, 2 * d, d);
        return new Attn(PackedWeights.pack(wq, 0, 3 * d, d, b, false), null, q.shift(), k.shift(), v.shift(),
                at.scoreExp(), at.ctxExp() - (-8 + v.outExp()), pack(at.o()), at.o().accExp(), at.o().outExp());
    }

    private Attn crossAttn(Attention at) {
        Linear k = at.k();
        Linear v = at.v();
        byte[] wkv = new byte[2 * d * d];
        System.arraycopy(k.weight(), 0, wkv, 0, d * d);
        System.arraycopy(v.weight(), 0, wkv, d * d, d * d);
        int[] b = new int[2 * d];
        System.arraycopy(k.bias(), 0, b, 0, d);
        System.arraycopy(v.bias(), 0, b, d, d);
        return new Attn(pack(at.q()), PackedWeights.pack(wkv, 0, 2 * d, d, b, false), at.q().shift(), k.shift(),
                v.shift(), at.scoreExp(), at.ctxExp() - (-8 + v.outExp()), pack(at.o()), at.o().accExp(), at.o().outExp());
    }

    private static Ffn ffn(Linear f1, Linear f2) {
        return new Ffn(pack(f1), f1.shift(), pack(f2), f2.accExp(), f2.outExp());
    }

    private static PackedWeights pack(Linear l) {
        return PackedWeights.pack(l.weight(), 0, l.n(), l.k(), l.bias(), l.unsignedInput());
    }

    private static long bytes(Linear l) {
        return (long) l.n() * l.k() + 4L * l.n();
    }

    private static long attnBytes(Attention at) {
        return bytes(at.q()) + bytes(at.k()) + bytes(at.v()) + bytes(at.o());
    }

    private long lnBytes() {
        return 6L * d;
    }

    @Override
    public ModelConfig config() {
        return cfg;
    }

    @Override
    public int logitsExponent() {
        return w.logitsExp();
    }

    /** The datapath this model's costs are modelled on. */
    public DatapathModel datapath() {
        return datapath;
    }

    /** Whether the modelled device keeps every weight on chip. */
    public boolean weightsResident() {
        return resident;
    }

    /** Bytes of weights the modelled device holds (int8 weights, int32 biases, LayerNorm parameters, tables). */
    public long deviceWeightBytes() {
        return deviceWeightBytes;
    }

    private void ensureRows(int rows) {
        if (rows <= scratchRows) {
            return;
        }
        int r = Math.max(rows, scratchRows * 2);
        int widest = Math.max(3 * d, dff);
        h = new short[r * d];
        a = new byte[r * d];
        xp = new int[r * Int8Gemm.pairStride(Math.max(d, dff))];
        acc = new int[r * widest];
        qkv = new byte[r * 3 * d];
        ctx = new byte[r * d];
        hidden = new byte[r * dff];
        scratchRows = r;
    }

    private void checkOpen() {
        if (closed) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "model is closed");
        }
    }

    private void checkToken(int token) {
        if (token < 0 || token >= vocab) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "token id " + token + " outside the vocabulary [0, " + vocab + ")");
        }
    }

    // ---- encoder ----------------------------------------------------------------------------------

    @Override
    public EncodeResult encode(List<int[]> sources, LayerTap tap) {
        checkOpen();
        if (sources == null) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "sources is null");
        }
        int count = sources.size();
        if (count > SimBackendProvider.MAX_BATCH) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "encoder batch of " + count + " exceeds " + SimBackendProvider.MAX_BATCH);
        }
        int[] start = new int[count + 1];
        int maxLen = 0;
        for (int s = 0; s < count; s++) {
            int[] src = sources.get(s);
            if (src == null) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "source " + s + " is null");
            }
            int n = src.length;
            if (n < 1 || n > cfg.maxPositions()) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                        "source " + s + " length " + n + " outside [1, " + cfg.maxPositions() + "]");
            }
            for (int token : src) {
                checkToken(token);
            }
            start[s + 1] = start[s] + n;
            maxLen = Math.max(maxLen, n);
        }
        int total = start[count];
        List<EncodedSource> out = new ArrayList<>(count);
        if (count == 0) {
            return new EncodeResult(out, StepCost.ZERO);
        }
        ensureRows(total);
        int maxPad = (maxLen + 7) & ~7;
        if (kT.length < d * maxPad) {
            kT = new byte[d * maxPad];
        }
        for (int s = 0; s < count; s++) {
            int[] src = sources.get(s);
            for (int i = 0; i < src.length; i++) {
                embed(src[i], i, w.encEmbedOut(), h, (start[s] + i) * d);
            }
            tapShorts(tap, s, "enc.embed", h, start[s] * d, src.length * d);
        }
        int eR = w.encEmbedOut();
        for (int l = 0; l < enc.length; l++) {
            EncLayer layer = enc[l];
            layerNorm(h, total, layer.ln1(), a);
            Attn at = layer.attn();
            projectQkv(a, total, at);
            for (int s = 0; s < count; s++) {
                encoderSelfAttention(start[s], start[s + 1] - start[s], at);
            }
            Int8Gemm.linear(ctx, 0, d, total, at.o(), acc, 0, d, xp, tail);
            residual(h, total, eR, at.oAccExp(), at.oOutExp());
            eR = at.oOutExp();
            tapRows(tap, count, start, encAttnPoint[l]);
            eR = ffnBlock(layer.ln2(), layer.ffn(), total, eR);
            tapRows(tap, count, start, encFfnPoint[l]);
        }
        layerNorm(h, total, w.encFinal(), a);
        SimSource[] made = new SimSource[count];
        for (int s = 0; s < count; s++) {
            int n = start[s + 1] - start[s];
            made[s] = new SimSource(this, n, d, dec.length);
            System.arraycopy(a, start[s] * d, made[s].memory, 0, n * d);
            tapBytes(tap, s, "enc.final", a, start[s] * d, n * d);
        }
        // cross-attention K and V of every decoder layer, once per source
        for (int l = 0; l < dec.length; l++) {
            Attn cross = dec[l].cross();
            Int8Gemm.linear(a, 0, d, total, cross.memKv(), acc, 0, 2 * d, xp, tail);
            for (int r = 0; r < total; r++) {
                ElementKernels.requantize(acc, r * 2 * d, d, cross.kShift(), false, qkv, r * 2 * d);
                ElementKernels.requantize(acc, r * 2 * d + d, d, cross.vShift(), false, qkv, r * 2 * d + d);
            }
            for (int s = 0; s < count; s++) {
                SimSource src = made[s];
                for (int j = 0; j < src.length; j++) {
                    int row = (start[s] + j) * 2 * d;
                    AttentionKernels.scatterColumn(qkv, row, d, src.crossKT[l], 0, src.nPad, j);
                    System.arraycopy(qkv, row + d, src.crossV[l], j * d, d);
                }
            }
        }
        for (SimSource src : made) {
            out.add(src);
        }
        return new EncodeResult(out, encodeCost(start, count));
    }

    /** Self-attention of one source (rows {@code [r0, r0 + n)} of the stacked batch) into {@code ctx}. */
    private void encoderSelfAttention(int r0, int n, Attn at) {
        int nPad = (n + 7) & ~7;
        int stride = 3 * d;
        for (int j = 0; j < n; j++) {
            AttentionKernels.scatterColumn(qkv, (r0 + j) * stride + d, d, kT, 0, nPad, j);
        }
        for (int i = 0; i < n; i++) {
            int qRow = (r0 + i) * stride;
            for (int hh = 0; hh < heads; hh++) {
                attendHead(qkv, qRow + hh * dk, kT, hh * dk * nPad, nPad, n, qkv, r0 * stride + 2 * d + hh * dk, stride,
                        at, (r0 + i) * d + hh * dk);
            }
        }
    }

    /**
     * One query head: scores against {@code keys} transposed keys, softmax over all of them (both masks
     * of the model are "every key so far"), attention·V, requantized into {@code ctx[ctxOff ..]}.
     */
    private void attendHead(byte[] q, int qOff, byte[] keysT, int kOff, int kStride, int keys, byte[] values, int vOff,
                            int vStride, Attn at, int ctxOff) {
        AttentionKernels.vecMat(q, qOff, dk, false, keysT, kOff, kStride, (keys + 7) & ~7, scores, 0);
        ElementKernels.softmax2(scores, 0, keys, keys, at.scoreExp(), lut, probs, 0, exps);
        AttentionKernels.vecMat(probs, 0, keys, true, values, vOff, vStride, dk, pv, 0);
        ElementKernels.requantize(pv, 0, dk, at.ctxShift(), false, ctx, ctxOff);
    }

    /** Q, K, V of {@code rows} rows of {@code a} into {@code qkv} ({@code [rows, 3d]}). */
    private void projectQkv(byte[] in, int rows, Attn at) {
        int stride = 3 * d;
        Int8Gemm.linear(in, 0, d, rows, at.in(), acc, 0, stride, xp, tail);
        for (int r = 0; r < rows; r++) {
            int o = r * stride;
            ElementKernels.requantize(acc, o, d, at.qShift(), false, qkv, o);
            ElementKernels.requantize(acc, o + d, d, at.kShift(), false, qkv, o + d);
            ElementKernels.requantize(acc, o + 2 * d, d, at.vShift(), false, qkv, o + 2 * d);
        }
    }

    /** LayerNorm, FFN and residual over {@code rows} rows of {@code h}; returns the new residual exponent. */
    private int ffnBlock(LayerNormParams ln, Ffn f, int rows, int eR) {
        layerNorm(h, rows, ln, a);
        Int8Gemm.linear(a, 0, d, rows, f.w1(), acc, 0, dff, xp, tail);
        ElementKernels.requantize(acc, 0, rows * dff, f.shift1(), true, hidden, 0);
        Int8Gemm.linear(hidden, 0, dff, rows, f.w2(), acc, 0, d, xp, tail);
        residual(h, rows, eR, f.accExp2(), f.outExp2());
        return f.outExp2();
    }

    private void embed(int token, int pos, int eOut, short[] out, int off) {
        byte[] e = w.embed();
        byte[] p = w.positions();
        int ke = eOut - (w.embedExp() + cfg.embedScaleLog2());
        int kp = eOut - w.positionsExp();
        // SPEC.md 3.1 is a RESIDUAL-shaped sum of two shifted int8 values
        for (int j = 0; j < d; j++) {
            long x = shift(e[token * d + j], ke) + shift(p[pos * d + j], kp);
            out[off + j] = (short) Math.min(Math.max(x, -32768), 32767);
        }
    }

    private static long shift(long v, int k) {
        return k > 0 ? (v + (1L << (k - 1))) >> k : v << -k;
    }

    private void layerNorm(short[] x, int rows, LayerNormParams p, byte[] out) {
        for (int r = 0; r < rows; r++) {
            ElementKernels.layerNorm(x, r * d, d, p.gamma(), p.beta(), p.gammaExp(), p.outExp(), out, r * d, lnScratch);
        }
    }

    private void residual(short[] x, int rows, int eR, int eAcc, int eOut) {
        ElementKernels.residual(x, 0, eOut - eR, acc, 0, eOut - eAcc, rows * d, x, 0);
    }

    // ---- decoder ------------------------------------------------------------------------------------

    @Override
    public DecoderState newDecoder(EncodedSource source, int capacity) {
        checkOpen();
        if (!(source instanceof SimSource src) || src.owner != this) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "source was not encoded by this model");
        }
        if (capacity < 1 || capacity > cfg.maxPositions()) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "decoder capacity " + capacity + " outside [1, " + cfg.maxPositions() + "]");
        }
        return new SimState(this, src, capacity, d, dec.length);
    }

    @Override
    public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        checkOpen();
        int b = states.size();
        if (b > SimBackendProvider.MAX_BATCH) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "decoder step of " + b + " states exceeds " + SimBackendProvider.MAX_BATCH);
        }
        if (tokens.length < b) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, tokens.length + " tokens for " + b + " decoder states");
        }
        if (logits.length < (long) b * vocab) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "logits holds " + logits.length + " values, a step of " + b + " needs " + (long) b * vocab);
        }
        long step = ++stepCounter;
        for (int s = 0; s < b; s++) {
            DecoderState ds = states.get(s);
            if (!(ds instanceof SimState st) || st.owner != this) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder state " + s + " is not of this model");
            }
            st.checkOpen();
            st.source.checkOpen();
            checkToken(tokens[s]);
            if (st.position >= st.capacity) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                        "decoder state " + s + " is full (" + st.capacity + " positions)");
            }
            if (st.stamp == step) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder state " + s + " appears twice in one step");
            }
            st.stamp = step;
        }
        if (b == 0) {
            return StepCost.ZERO;
        }
        ensureRows(b);
        for (int s = 0; s < b; s++) {
            SimState st = (SimState) states.get(s);
            embed(tokens[s], st.position, w.decEmbedOut(), h, s * d);
            tapShorts(tap, s, "dec.embed", h, s * d, d);
        }
        int eR = w.decEmbedOut();
        for (int l = 0; l < dec.length; l++) {
            DecLayer layer = dec[l];
            // causal self-attention over the cache plus the new row
            layerNorm(h, b, layer.ln1(), a);
            Attn self = layer.self();
            projectQkv(a, b, self);
            for (int s = 0; s < b; s++) {
                SimState st = (SimState) states.get(s);
                int t = st.position;
                int row = s * 3 * d;
                AttentionKernels.scatterColumn(qkv, row + d, d, st.kT[l], 0, st.capPad, t);
                System.arraycopy(qkv, row + 2 * d, st.v[l], t * d, d);
                for (int hh = 0; hh < heads; hh++) {
                    attendHead(qkv, row + hh * dk, st.kT[l], hh * dk * st.capPad, st.capPad, t + 1, st.v[l], hh * dk, d,
                            self, s * d + hh * dk);
                }
            }
            Int8Gemm.linear(ctx, 0, d, b, self.o(), acc, 0, d, xp, tail);
            residual(h, b, eR, self.oAccExp(), self.oOutExp());
            eR = self.oOutExp();
            tapStep(tap, b, decSelfPoint[l]);
            // cross-attention over the source
            layerNorm(h, b, layer.ln2(), a);
            Attn cross = layer.cross();
            Int8Gemm.linear(a, 0, d, b, cross.in(), acc, 0, d, xp, tail);
            ElementKernels.requantize(acc, 0, b * d, cross.qShift(), false, qkv, 0);
            for (int s = 0; s < b; s++) {
                SimSource src = ((SimState) states.get(s)).source;
                for (int hh = 0; hh < heads; hh++) {
                    attendHead(qkv, s * d + hh * dk, src.crossKT[l], hh * dk * src.nPad, src.nPad, src.length,
                            src.crossV[l], hh * dk, d, cross, s * d + hh * dk);
                }
            }
            Int8Gemm.linear(ctx, 0, d, b, cross.o(), acc, 0, d, xp, tail);
            residual(h, b, eR, cross.oAccExp(), cross.oOutExp());
            eR = cross.oOutExp();
            tapStep(tap, b, decCrossPoint[l]);
            eR = ffnBlock(layer.ln3(), layer.ffn(), b, eR);
            tapStep(tap, b, decFfnPoint[l]);
        }
        layerNorm(h, b, w.decFinal(), a);
        if (tap != null) {
            for (int s = 0; s < b; s++) {
                tapBytes(tap, s, "dec.final", a, s * d, d);
            }
        }
        Int8Gemm.linear(a, 0, d, b, logitsW, logits, 0, vocab, xp, tail);
        if (tap != null) {
            for (int s = 0; s < b; s++) {
                int[] row = new int[vocab];
                System.arraycopy(logits, s * vocab, row, 0, vocab);
                tap.accept(s, "logits", row, vocab);
            }
        }
        StepCost cost = decodeCost(states, b);
        for (int s = 0; s < b; s++) {
            ((SimState) states.get(s)).position++;
        }
        return cost;
    }

    // ---- cost -----------------------------------------------------------------------------------------

    private StepCost encodeCost(int[] start, int count) {
        DatapathModel dp = datapath;
        long t = start[count];
        long cycles = dp.embedCycles(t, d);
        for (int l = 0; l < enc.length; l++) {
            cycles += dp.layerNormCycles(t, d) + dp.matmulCycles(t, d, 3L * d);
            for (int s = 0; s < count; s++) {
                long n = start[s + 1] - start[s];
                cycles += dp.attentionCoreCycles(cfg, n, n);
            }
            cycles += dp.matmulCycles(t, d, d) + dp.layerNormCycles(t, d) + dp.matmulCycles(t, d, dff)
                    + dp.matmulCycles(t, dff, d);
        }
        cycles += dp.layerNormCycles(t, d);
        for (int l = 0; l < dec.length; l++) {
            cycles += dp.matmulCycles(t, d, 2L * d);
        }
        long offchip = 2L * dec.length * t * d;
        if (!resident) {
            offchip += encoderWeightBytes + crossKvWeightBytes;
        }
        return dp.cost(cycles, offchip, 1, 4 * t);
    }

    private StepCost decodeCost(List<DecoderState> states, int b) {
        DatapathModel dp = datapath;
        long cycles = dp.embedCycles(b, d);
        long kvBytes = 0;
        for (int s = 0; s < b; s++) {
            SimState st = (SimState) states.get(s);
            long keys = st.position + 1L;
            long n = st.source.length;
            cycles += dec.length * (dp.attentionCoreCycles(cfg, 1, keys) + dp.attentionCoreCycles(cfg, 1, n));
            kvBytes += dec.length * (2L * keys * d + 2L * d + 2L * n * d);
        }
        for (int l = 0; l < dec.length; l++) {
            cycles += 3 * dp.layerNormCycles(b, d) + dp.matmulCycles(b, d, 3L * d) + 3 * dp.matmulCycles(b, d, d)
                    + dp.matmulCycles(b, d, dff) + dp.matmulCycles(b, dff, d);
        }
        cycles += dp.layerNormCycles(b, d) + dp.matmulCycles(b, d, vocab);
        long offchip = kvBytes + (resident ? 0 : decoderStepWeightBytes);
        return dp.cost(cycles, offchip, 2, 8L * b + 4L * b * vocab);
    }

    // ---- taps -------------------------------------------------------------------------------------------

    private void tapRows(LayerTap tap, int count, int[] start, String point) {
        if (tap != null) {
            for (int s = 0; s < count; s++) {
                tapShorts(tap, s, point, h, start[s] * d, (start[s + 1] - start[s]) * d);
            }
        }
    }

    private void tapStep(LayerTap tap, int b, String point) {
        if (tap != null) {
            for (int s = 0; s < b; s++) {
                tapShorts(tap, s, point, h, s * d, d);
            }
        }
    }

    private static void tapShorts(LayerTap tap, int seq, String point, short[] v, int off, int len) {
        if (tap != null) {
            int[] wide = new int[len];
            for (int i = 0; i < len; i++) {
                wide[i] = v[off + i];
            }
            tap.accept(seq, point, wide, len);
        }
    }

    private static void tapBytes(LayerTap tap, int seq, String point, byte[] v, int off, int len) {
        if (tap != null) {
            int[] wide = new int[len];
            for (int i = 0; i < len; i++) {
                wide[i] = v[off + i];
            }
            tap.accept(seq, point, wide, len);
        }
    }

    @Override
    public void close() {
        closed = true;
    }
}
