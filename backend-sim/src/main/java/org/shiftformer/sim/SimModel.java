package org.shiftformer.sim;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DatapathCycles;
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
 * <li>Several threads: the model owns a {@link WorkerPool} of {@code threads - 1} workers; the caller
 *     takes part. Each op is split into independent index ranges (GEMM output blocks, (sequence, head)
 *     pairs of attention, rows of LayerNorm and packing) and every output element is computed by the
 *     same exact integer code whichever thread runs it, so the bits never depend on {@code threads}. Ops
 *     smaller than {@link #DEFAULT_PARALLEL_MIN_WORK} run on the caller alone.</li>
 * </ul>
 */
public final class SimModel implements LoadedModel {
    /**
     * Smallest op (in multiply-accumulate equivalents, see {@link #region}) split across threads; smaller
     * ones cost less than waking and joining the workers.
     */
    public static final long DEFAULT_PARALLEL_MIN_WORK = 100_000;

    // region operations (WorkerPool.Body#run)
    private static final int OP_LN = 0;
    private static final int OP_PACK = 1;
    private static final int OP_GEMM = 2;
    private static final int OP_ENC_EMBED = 3;
    private static final int OP_ENC_ATTN = 4;
    private static final int OP_ENC_CROSS_STORE = 5;
    private static final int OP_DEC_SELF = 6;
    private static final int OP_DEC_CROSS = 7;
    // GEMM epilogues, applied by the thread that computed the columns
    private static final int EPI_NONE = 0;
    private static final int EPI_REQUANT = 1;
    private static final int EPI_REQUANT_PACK = 2;
    private static final int EPI_RESIDUAL = 3;

    private final TransformerWeights w;
    private final ModelConfig cfg;
    private final DatapathModel datapath;
    /** A decoder step's cost is counted in these (one thread at a time, like the other scratch). */
    private final DatapathCycles costWalk = new DatapathCycles();
    private int[] costPositions = new int[0];
    private int[] costSourceLengths = new int[0];
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
    private int[] xp2;
    private int[] acc;
    private byte[] qkv;
    private byte[] ctx;
    private byte[] hidden;
    /** Per-thread scratch, index 0 = the calling thread. */
    private final Scratch[] scratch;
    private final WorkerPool pool;
    private final int threads;
    private final long parallelMinWork;
    private long stepCounter;
    private volatile boolean closed;
    private volatile Runnable onClose;

    // ---- the current region's parameters (written by the caller before WorkerPool.run publishes them) --
    private int rRows;
    private LayerNormParams rLn;
    private byte[] rIn;
    private PackedWeights rW;
    private int[] rXp;
    private int[] rOut;
    private int rOutStride;
    private int rEpi;
    private byte[] rEpiOut;
    private int rShift0;
    private int rShift1;
    private int rShift2;
    private PackedWeights rNextW;
    private int[] rNextXp;
    private int rKr;
    private int rKa;
    private Attn rAttn;
    private int rLayer;
    private List<int[]> rSources;
    private int[] rStart;
    private SimSource[] rMade;
    private List<DecoderState> rStates;

    /** Scratch of one thread. */
    private static final class Scratch {
        final int[] tail = new int[32];
        final int[] scores;
        final byte[] probs;
        final int[] exps;
        final int[] pv;
        final long[] ln;
        final byte[] kT;

        Scratch(int keysPad, int d, int dk) {
            scores = new int[keysPad];
            probs = new byte[keysPad];
            exps = new int[keysPad];
            pv = new int[dk];
            ln = new long[d];
            kT = new byte[dk * keysPad];
        }
    }

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

    /** Packs {@code weights} (already validated by {@link TransformerWeights#of}); one thread. */
    public SimModel(TransformerWeights weights, DatapathModel datapath) {
        this(weights, datapath, 1, DEFAULT_PARALLEL_MIN_WORK);
    }

    /**
     * Packs {@code weights}; runs on {@code threads} threads (the caller and {@code threads - 1} workers
     * owned by this model, stopped by {@link #close}).
     */
    public SimModel(TransformerWeights weights, DatapathModel datapath, int threads) {
        this(weights, datapath, threads, DEFAULT_PARALLEL_MIN_WORK);
    }

    /** As above with the smallest op split across threads ({@code 0}: every op that can be split; tests). */
    SimModel(TransformerWeights weights, DatapathModel datapath, int threads, long parallelMinWork) {
        if (threads < 1 || threads > SimBackendProvider.MAX_THREADS) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "threads=" + threads + " is outside [1, " + SimBackendProvider.MAX_THREADS + "]");
        }
        this.threads = threads;
        this.parallelMinWork = parallelMinWork;
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
        // the embedding and positional tables are shared by both stacks: count them once
        this.deviceWeightBytes = encBytes + decBytes + crossKv - (long) (cfg.vocabSize() + cfg.maxPositions()) * d;
        int keysPad = (cfg.maxPositions() + 7) & ~7;
        this.scratch = new Scratch[threads];
        for (int i = 0; i < threads; i++) {
            scratch[i] = new Scratch(keysPad, d, dk);
        }
        ensureRows(1);
        this.pool = new WorkerPool(threads, this::runOp);
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

    /** Threads this model runs on, the caller included. */
    public int threads() {
        return threads;
    }

    /** Ids of this model's worker threads (tests: allocation accounting). */
    long[] workerThreadIds() {
        return pool.workerThreadIds();
    }

    /** Called once when the model closes (the backend forgets it). */
    void onClose(Runnable r) {
        this.onClose = r;
    }

    /** The datapath this model's costs are modelled on. */
    public DatapathModel datapath() {
        return datapath;
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
        xp2 = new int[r * Int8Gemm.pairStride(Math.max(d, dff))];
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
        }
        int total = start[count];
        List<EncodedSource> out = new ArrayList<>(count);
        if (count == 0) {
            return new EncodeResult(out, StepCost.ZERO);
        }
        ensureRows(total);
        rSources = sources;
        rStart = start;
        region(OP_ENC_EMBED, count, 1, (long) total * d * 8);
        rSources = null;
        for (int s = 0; s < count; s++) {
            tapShorts(tap, s, "enc.embed", h, start[s] * d, sources.get(s).length * d);
        }
        int eR = w.encEmbedOut();
        for (int l = 0; l < enc.length; l++) {
            EncLayer layer = enc[l];
            Attn at = layer.attn();
            layerNorm(total, layer.ln1(), at.in(), xp);
            gemm(xp, total, at.in(), acc, 3 * d, EPI_REQUANT, qkv, at.qShift(), at.kShift(), at.vShift());
            rAttn = at;
            long attnWork = 0;
            for (int s = 0; s < count; s++) {
                long n = start[s + 1] - start[s];
                attnWork += heads * n * attentionWork(n);
            }
            region(OP_ENC_ATTN, count * heads, 1, attnWork);
            pack(ctx, total, at.o(), xp);
            residualGemm(xp, total, at.o(), eR, at.oAccExp(), at.oOutExp());
            eR = at.oOutExp();
            tapRows(tap, count, start, encAttnPoint[l]);
            eR = ffnBlock(layer.ln2(), layer.ffn(), total, eR);
            tapRows(tap, count, start, encFfnPoint[l]);
        }
        PackedWeights memKv = dec.length > 0 ? dec[0].cross().memKv() : null;
        layerNorm(total, w.encFinal(), memKv, xp);
        SimSource[] made = new SimSource[count];
        for (int s = 0; s < count; s++) {
            int n = start[s + 1] - start[s];
            made[s] = new SimSource(this, n, d, dec.length);
            System.arraycopy(a, start[s] * d, made[s].memory, 0, n * d);
            tapBytes(tap, s, "enc.final", a, start[s] * d, n * d);
        }
        // cross-attention K and V of every decoder layer, once per source (the packed memory is shared)
        rMade = made;
        for (int l = 0; l < dec.length; l++) {
            Attn cross = dec[l].cross();
            gemm(xp, total, cross.memKv(), acc, 2 * d, EPI_REQUANT, qkv, cross.kShift(), cross.vShift(), 0);
            rLayer = l;
            region(OP_ENC_CROSS_STORE, count, 1, (long) total * d * 4);
        }
        rMade = null;
        rStart = null;
        rAttn = null;
        for (SimSource src : made) {
            out.add(src);
        }
        return new EncodeResult(out, encodeCost(start, count));
    }

    /** Model-level work estimate of one query's attention over {@code keys} keys in one head (MAC equivalents). */
    private long attentionWork(long keys) {
        return keys * (4L * dk + 40);
    }

    // ---- regions ------------------------------------------------------------------------------------

    /**
     * Runs op {@code op} over {@code [0, units)}: on the caller alone when one thread is configured or
     * the op's {@code work} (multiply-accumulates, or their equivalent for scalar code) is below the
     * threshold, otherwise in chunks of a multiple of {@code base} units on every thread.
     */
    private void region(int op, int units, int base, long work) {
        if (units <= 0) {
            return;
        }
        if (threads == 1 || work < parallelMinWork || units <= base) {
            runOp(op, 0, units, 0);
            return;
        }
        // about three chunks per thread: balance without much claiming
        int chunks = 3 * threads;
        int grain = (units + chunks - 1) / chunks;
        grain = (grain + base - 1) / base * base;
        pool.run(op, units, grain);
    }

    /** LayerNorm of {@code rows} rows of {@code h} into {@code a}, pair-packed into {@code xpOut} for {@code next} (if not null). */
    private void layerNorm(int rows, LayerNormParams ln, PackedWeights next, int[] xpOut) {
        rLn = ln;
        rW = next;
        rXp = xpOut;
        region(OP_LN, rows, 1, (long) rows * d * 24);
    }

    /** Pair-packs {@code rows} rows of {@code in} (width {@code d}) for {@code next}. */
    private void pack(byte[] in, int rows, PackedWeights next, int[] xpOut) {
        rIn = in;
        rW = next;
        rXp = xpOut;
        region(OP_PACK, rows, 1, (long) rows * d * 2);
    }

    /** {@code out = xp · W^T + b} ({@code rows} rows, stride {@code outStride}), split by output blocks, then the epilogue. */
    private void gemm(int[] xpIn, int rows, PackedWeights wt, int[] out, int outStride, int epi, byte[] epiOut, int s0, int s1,
                      int s2) {
        rXp = xpIn;
        rRows = rows;
        rW = wt;
        rOut = out;
        rOutStride = outStride;
        rEpi = epi;
        rEpiOut = epiOut;
        rShift0 = s0;
        rShift1 = s1;
        rShift2 = s2;
        // one-row products keep blocks of 4 (the 32-wide kernel)
        region(OP_GEMM, wt.nBlocks(), rows < 4 ? 4 : 1, (long) rows * wt.k() * wt.n());
        rEpiOut = null;
    }

    /** {@code h = RESIDUAL(h, xp · W^T + b)} ({@code rows} rows of width {@code d}). */
    private void residualGemm(int[] xpIn, int rows, PackedWeights wt, int eR, int eAcc, int eOut) {
        rKr = eOut - eR;
        rKa = eOut - eAcc;
        gemm(xpIn, rows, wt, acc, d, EPI_RESIDUAL, null, 0, 0, 0);
    }

    /** The body of every region: indices {@code [from, to)} of {@code op} on thread {@code worker} (0: the caller). */
    private void runOp(int op, int from, int to, int worker) {
        Scratch sc = scratch[worker];
        switch (op) {
            case OP_LN -> {
                LayerNormParams p = rLn;
                for (int r = from; r < to; r++) {
                    ElementKernels.layerNorm(h, r * d, d, p.gamma(), p.beta(), p.gammaExp(), p.outExp(), a, r * d, sc.ln);
                }
                PackedWeights next = rW;
                if (next != null) {
                    Int8Gemm.pairRows(a, from * d, d, to - from, d, next.unsignedInput(), rXp, from * Int8Gemm.pairStride(d));
                }
            }
            case OP_PACK -> Int8Gemm.pairRows(rIn, from * d, d, to - from, d, rW.unsignedInput(), rXp,
                    from * Int8Gemm.pairStride(d));
            case OP_GEMM -> gemmChunk(from, to, sc);
            case OP_ENC_EMBED -> {
                List<int[]> srcs = rSources;
                for (int s = from; s < to; s++) {
                    int[] src = srcs.get(s);
                    for (int i = 0; i < src.length; i++) {
                        embed(src[i], i, w.encEmbedOut(), h, (rStart[s] + i) * d);
                    }
                }
            }
            case OP_ENC_ATTN -> {
                for (int u = from; u < to; u++) {
                    int s = u / heads;
                    encoderSelfAttention(rStart[s], rStart[s + 1] - rStart[s], u % heads, rAttn, sc);
                }
            }
            case OP_ENC_CROSS_STORE -> {
                int l = rLayer;
                for (int s = from; s < to; s++) {
                    SimSource src = rMade[s];
                    for (int j = 0; j < src.length; j++) {
                        int row = (rStart[s] + j) * 2 * d;
                        AttentionKernels.scatterColumn(qkv, row, d, src.crossKT[l], 0, src.nPad, j);
                        System.arraycopy(qkv, row + d, src.crossV[l], j * d, d);
                    }
                }
            }
            case OP_DEC_SELF -> {
                int l = rLayer;
                Attn self = rAttn;
                List<DecoderState> states = rStates;
                for (int u = from; u < to; u++) {
                    int s = u / heads;
                    int hh = u % heads;
                    SimState st = (SimState) states.get(s);
                    int t = st.position;
                    int row = s * 3 * d;
                    // append this head's slice of the new key (as column t of K^T) and value
                    AttentionKernels.scatterColumn(qkv, row + d + hh * dk, dk, st.kT[l], hh * dk * st.capPad, st.capPad, t);
                    System.arraycopy(qkv, row + 2 * d + hh * dk, st.v[l], t * d + hh * dk, dk);
                    attendHead(sc, qkv, row + hh * dk, st.kT[l], hh * dk * st.capPad, st.capPad, t + 1, st.v[l], hh * dk, d,
                            self, s * d + hh * dk);
                }
            }
            case OP_DEC_CROSS -> {
                int l = rLayer;
                Attn cross = rAttn;
                List<DecoderState> states = rStates;
                for (int u = from; u < to; u++) {
                    int s = u / heads;
                    int hh = u % heads;
                    SimSource src = ((SimState) states.get(s)).source;
                    attendHead(sc, qkv, s * d + hh * dk, src.crossKT[l], hh * dk * src.nPad, src.nPad, src.length,
                            src.crossV[l], hh * dk, d, cross, s * d + hh * dk);
                }
            }
            default -> throw new ShiftformerException(ErrorCode.INTERNAL, "unknown region op " + op);
        }
    }

    /** Output blocks {@code [nb0, nb1)} of the current GEMM and its epilogue on those columns. */
    private void gemmChunk(int nb0, int nb1, Scratch sc) {
        PackedWeights wt = rW;
        int rows = rRows;
        int n = wt.n();
        int stride = rOutStride;
        int[] out = rOut;
        Int8Gemm.gemmBlocks(rXp, rows, wt, nb0, nb1, out, 0, stride, sc.tail);
        int c0 = nb0 * PackedWeights.BLOCK;
        int c1 = Math.min(nb1 * PackedWeights.BLOCK, n);
        switch (rEpi) {
            case EPI_REQUANT -> {
                // column c of part c / d (Q, K, V or K, V or Q) with that part's shift; int8 out, same stride
                byte[] dst = rEpiOut;
                for (int r = 0; r < rows; r++) {
                    int o = r * stride;
                    for (int part = c0 / d; part * d < c1; part++) {
                        int lo = Math.max(c0, part * d);
                        int hi = Math.min(c1, (part + 1) * d);
                        int shift = part == 0 ? rShift0 : part == 1 ? rShift1 : rShift2;
                        ElementKernels.requantize(out, o + lo, hi - lo, shift, false, dst, o + lo);
                    }
                }
            }
            case EPI_REQUANT_PACK -> {
                // FFN hidden: uint8 requantization, then the same columns pair-packed for the second linear
                byte[] dst = rEpiOut;
                PackedWeights next = rNextW;
                int[] nxp = rNextXp;
                int ps = Int8Gemm.pairStride(n);
                for (int r = 0; r < rows; r++) {
                    int o = r * stride;
                    ElementKernels.requantize(out, o + c0, c1 - c0, rShift0, true, dst, o + c0);
                    Int8Gemm.pairColumns(dst, o, c0, c1, n, next.unsignedInput(), nxp, r * ps);
                }
            }
            case EPI_RESIDUAL -> {
                for (int r = 0; r < rows; r++) {
                    int o = r * d + c0;
                    ElementKernels.residual(h, o, rKr, out, r * stride + c0, rKa, c1 - c0, h, o);
                }
            }
            default -> {
            }
        }
    }

    /** Self-attention of head {@code hh} of one source (rows {@code [r0, r0 + n)} of the stacked batch) into {@code ctx}. */
    private void encoderSelfAttention(int r0, int n, int hh, Attn at, Scratch sc) {
        int nPad = (n + 7) & ~7;
        int stride = 3 * d;
        byte[] kT = sc.kT;
        for (int j = 0; j < n; j++) {
            AttentionKernels.scatterColumn(qkv, (r0 + j) * stride + d + hh * dk, dk, kT, 0, nPad, j);
        }
        for (int i = 0; i < n; i++) {
            attendHead(sc, qkv, (r0 + i) * stride + hh * dk, kT, 0, nPad, n, qkv, r0 * stride + 2 * d + hh * dk, stride, at,
                    (r0 + i) * d + hh * dk);
        }
    }

    /**
     * One query head: scores against {@code keys} transposed keys, softmax over all of them (both masks
     * of the model are "every key so far"), attention·V, requantized into {@code ctx[ctxOff ..]}.
     */
    private void attendHead(Scratch sc, byte[] q, int qOff, byte[] keysT, int kOff, int kStride, int keys, byte[] values,
                            int vOff, int vStride, Attn at, int ctxOff) {
        int[] scores = sc.scores;
        byte[] probs = sc.probs;
        int[] pv = sc.pv;
        AttentionKernels.vecMat(q, qOff, dk, false, keysT, kOff, kStride, (keys + 7) & ~7, scores, 0);
        ElementKernels.softmax2(scores, 0, keys, keys, at.scoreExp(), lut, probs, 0, sc.exps);
        AttentionKernels.vecMat(probs, 0, keys, true, values, vOff, vStride, dk, pv, 0);
        ElementKernels.requantize(pv, 0, dk, at.ctxShift(), false, ctx, ctxOff);
    }

    /** LayerNorm, FFN and residual over {@code rows} rows of {@code h}; returns the new residual exponent. */
    private int ffnBlock(LayerNormParams ln, Ffn f, int rows, int eR) {
        layerNorm(rows, ln, f.w1(), xp);
        rNextW = f.w2();
        rNextXp = xp2;
        gemm(xp, rows, f.w1(), acc, dff, EPI_REQUANT_PACK, hidden, f.shift1(), 0, 0);
        rNextXp = null;
        residualGemm(xp2, rows, f.w2(), eR, f.accExp2(), f.outExp2());
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
        rStates = states;
        long selfWork = 0;
        long crossWork = 0;
        for (int s = 0; s < b; s++) {
            SimState st = (SimState) states.get(s);
            selfWork += heads * attentionWork(st.position + 1L);
            crossWork += heads * attentionWork(st.source.length);
        }
        int eR = w.decEmbedOut();
        for (int l = 0; l < dec.length; l++) {
            DecLayer layer = dec[l];
            rLayer = l;
            // causal self-attention over the cache plus the new row
            Attn self = layer.self();
            layerNorm(b, layer.ln1(), self.in(), xp);
            gemm(xp, b, self.in(), acc, 3 * d, EPI_REQUANT, qkv, self.qShift(), self.kShift(), self.vShift());
            rAttn = self;
            region(OP_DEC_SELF, b * heads, 1, selfWork);
            pack(ctx, b, self.o(), xp);
            residualGemm(xp, b, self.o(), eR, self.oAccExp(), self.oOutExp());
            eR = self.oOutExp();
            tapStep(tap, b, decSelfPoint[l]);
            // cross-attention over the source
            Attn cross = layer.cross();
            layerNorm(b, layer.ln2(), cross.in(), xp);
            gemm(xp, b, cross.in(), acc, d, EPI_REQUANT, qkv, cross.qShift(), 0, 0);
            rAttn = cross;
            region(OP_DEC_CROSS, b * heads, 1, crossWork);
            pack(ctx, b, cross.o(), xp);
            residualGemm(xp, b, cross.o(), eR, cross.oAccExp(), cross.oOutExp());
            eR = cross.oOutExp();
            tapStep(tap, b, decCrossPoint[l]);
            eR = ffnBlock(layer.ln3(), layer.ffn(), b, eR);
            tapStep(tap, b, decFfnPoint[l]);
        }
        rStates = null;
        rAttn = null;
        layerNorm(b, w.decFinal(), logitsW, xp);
        if (tap != null) {
            for (int s = 0; s < b; s++) {
                tapBytes(tap, s, "dec.final", a, s * d, d);
            }
        }
        gemm(xp, b, logitsW, logits, vocab, EPI_NONE, null, 0, 0, 0);
        rOut = null;
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
        int[] lengths = new int[count];
        for (int s = 0; s < count; s++) {
            lengths[s] = start[s + 1] - start[s];
        }
        return datapath.encodeCost(cfg, lengths);
    }

    private StepCost decodeCost(List<DecoderState> states, int b) {
        if (costPositions.length != b) {
            // a new batch size (requests joined or finished), not a new token
            costPositions = new int[b];
            costSourceLengths = new int[b];
        }
        for (int s = 0; s < b; s++) {
            SimState st = (SimState) states.get(s);
            costPositions[s] = st.position;
            costSourceLengths[s] = st.source.length;
        }
        return datapath.decodeStepCost(cfg, costPositions, costSourceLengths, costWalk);
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
        if (closed) {
            return;
        }
        closed = true;
        pool.close();
        Runnable r = onClose;
        if (r != null) {
            r.run();
        }
    }
}
