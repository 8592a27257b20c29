package org.shiftformer.trainer.qat;

import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.shiftformer.api.DType;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.PositionalTable;
import org.shiftformer.api.spec.ReferenceKernels;
import org.shiftformer.api.spec.Tables;
import org.shiftformer.trainer.autodiff.FakeQuant;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Ops;
import org.shiftformer.trainer.autodiff.StraightThrough;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.autodiff.Workspace;
import org.shiftformer.trainer.model.Numerics;

/**
 * Quantization-aware numerics: the forward pass is <b>bit-exact</b> with SPEC.md's integer model and the
 * backward pass is the float surrogate's, with TQT threshold gradients (trainer/README.md, `FakeQuant`).
 *
 * <p>Every op computes two things. The <em>integers</em>: the exact SPEC.md op on the integer values of
 * its inputs (kept beside each output tensor) through {@link IntKernels} (the reference or a backend's
 * kernels, all conformance-tested against {@code IntOps}). And a float <em>surrogate</em> of the same
 * arithmetic on the dequantized inputs, fake-quantized with the output's threshold ({@link FakeQuant}).
 * The op's output carries the exact values ({@code q · 2^e}) and passes its gradient to the surrogate
 * (straight through: {@link FakeQuant#applyWithValues}). So the loss sees exactly what the integer engine
 * computes, and the logits of a forward pass are the runtime's int32 logits ({@link #intLogits}).
 *
 * <p><b>Integer matmuls read off the surrogate.</b> The surrogate of a linear, of the logits and of the
 * attention's {@code Q·Kᵀ} and {@code P·V} is the same product on exactly representable inputs
 * ({@code q · 2^e}); when a bound shows that no partial sum reaches {@code 2^24} units
 * ({@link #floatAccumulatorsExact}), float computed every sum exactly and the int32 accumulators are the
 * surrogate's values over {@code 2^eAcc} (otherwise, or with {@link #useFloatAccumulators} off, the
 * kernels compute them). REQUANT of such accumulators is the output's fake-quantizer applied to the
 * surrogate ({@link #requantizedSurrogate}); RESIDUAL, LAYERNORM, SOFTMAX2 and EMBED run on the kernels
 * ({@code IntOps} for EMBED). So the forward pass costs about a float forward pass plus the fake-quantizers
 * and those element kernels (trainer/README.md, "Speed").
 *
 * <p>Weights are fake-quantized to int8 with their own trained thresholds, biases to int32 at
 * {@code eIn + eW}, LayerNorm gamma to int16 at an exponent chosen from its largest magnitude and beta to
 * int32 at {@code eG - 12}. The positional table is SPEC.md's int8 table (not trained).
 *
 * <p><b>Calibration.</b> While {@link #calibrating(boolean)} is on, each activation threshold is raised
 * to {@code log2} of the largest magnitude its surrogate takes (a running maximum over the calibration
 * batches, with the upstream tensors already quantized); missing weight thresholds are created from the
 * weight's largest magnitude at any time.
 *
 * <p>The kernel calls (rows of a linear, batch entries of an attention, row or element ranges of the
 * element kernels) run on the trainer's kernel threads ({@link MatMul#parallelFor}); the kernels must be
 * thread-safe (the reference and backend-sim's are stateless), and since every row is computed alone the
 * thread count changes no bit.
 *
 * <p>A forward pass starts with the encoder's {@code embed}, which drops the previous pass's
 * integers and weight quantizations (weights change between passes); call {@link #reset()} before a pass
 * that starts elsewhere. Not thread-safe: one pass at a time.
 */
public final class QatNumerics implements Numerics {
    /** Threshold used for an activation that was exactly zero during calibration. */
    private static final float EMPTY_LOG2T = -8f;
    private static final float LN_EPS = 1e-6f;

    /**
     * Integer values of a quantized tensor and their exponent, in the array type the kernels use:
     * {@code byte[]} for int8 and uint8, {@code short[]} for int16, {@code int[]} for int32. Never modified.
     */
    record Q(Object raw, int exp, DType type) {
        byte[] bytes() {
            if (raw instanceof byte[] b) {
                return b;
            }
            int[] v = ints();
            byte[] b = new byte[v.length];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) v[i];
            }
            return b;
        }

        short[] shorts() {
            if (raw instanceof short[] s) {
                return s;
            }
            int[] v = ints();
            short[] s = new short[v.length];
            for (int i = 0; i < s.length; i++) {
                s[i] = (short) v[i];
            }
            return s;
        }

        /** The values as ints (a new array, except for int32). */
        int[] ints() {
            return switch (raw) {
                case int[] i -> i;
                case short[] s -> {
                    int[] v = new int[s.length];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = s[i];
                    }
                    yield v;
                }
                case byte[] b -> {
                    int[] v = new int[b.length];
                    boolean unsigned = type == DType.UINT8;
                    for (int i = 0; i < v.length; i++) {
                        v[i] = unsigned ? b[i] & 0xFF : b[i];
                    }
                    yield v;
                }
                default -> throw new IllegalStateException(raw.getClass().getName());
            };
        }
    }

    /**
     * A weight fake-quantized for this pass: the float tensor {@code fq}, its int8 values, and for the
     * exactness bound of {@link #floatAccumulatorsExact} the largest |value| and the largest row sum of |values|.
     */
    private record QWeight(Tensor fq, byte[] ints, int exp, int maxAbs, long maxRowAbsSum) {
    }

    private final ModelConfig cfg;
    private final IntKernels kernels;
    private final Thresholds thresholds;
    private final int[] lut = Tables.exp2Lut();
    private final byte[] positions;
    private final Map<Tensor, Q> ints = new IdentityHashMap<>();
    /**
     * The tensors of {@link #ints} made since the last decoder {@code embed} or {@code embedAt}: a greedy
     * decode runs the decoder once per token over the same encoder memory, and each run's (or KV-cached
     * step's) integers are dropped when the next one starts, so a pass keeps the encoder's integers, one
     * decoder run's and the key/value caches ({@link #appendPositions}, {@link #keepSequences}: each replaces
     * the tensor it consumed), however many tokens it makes.
     */
    private final java.util.List<Tensor> decoderRun = new java.util.ArrayList<>();
    private boolean inDecoder;
    private final Map<String, QWeight> weights = new HashMap<>();
    /**
     * Each weight's int8 values and bias made ready for the kernels once per pass ({@link IntKernels#prepareLinear}:
     * backend-sim packs them), by weight name and accumulator exponent; not per call and row chunk.
     */
    private final Map<String, IntKernels.PreparedLinear> prepared = new HashMap<>();
    /** Exponents the last pass used: input exponents of linears, gamma exponents, activation exponents. */
    private final Map<String, Integer> used = new TreeMap<>();
    private boolean calibrating;

    public QatNumerics(ModelConfig cfg, IntKernels kernels, Thresholds thresholds) {
        this.cfg = cfg;
        this.kernels = kernels;
        this.thresholds = thresholds;
        this.positions = PositionalTable.build(cfg.maxPositions(), cfg.dModel());
    }

    /**
     * The op kernels of the highest-ranked installed backend that offers them (backend-sim's vectorised
     * kernels when it is on the class path), else the scalar reference. All are conformance-tested against
     * {@code IntOps}, so the choice changes speed, never bits. The backend stays open for the JVM's life.
     */
    public static IntKernels fastestKernels() {
        for (BackendProvider p : Backends.installed()) {
            if (p.availability().available() && p.capabilities().opKernels()) {
                Optional<IntKernels> k = p.open(Map.of()).kernels();
                if (k.isPresent()) {
                    return k.get();
                }
            }
        }
        return ReferenceKernels.INSTANCE;
    }

    public Thresholds thresholds() {
        return thresholds;
    }

    /** Turns calibration (running-maximum threshold initialisation) on or off. */
    public void calibrating(boolean on) {
        this.calibrating = on;
    }

    /** Forgets the previous pass (integers and quantized weights). */
    public void reset() {
        ints.clear();
        weights.clear();
        prepared.clear();
        decoderRun.clear();
        inDecoder = false;
    }

    /** How many tensors' integers this numerics holds now (the memory a pass retains; tests bound it). */
    int retainedTensors() {
        return ints.size();
    }

    /** The exact int32 logits of a tensor returned by {@link #logits}, at exponent {@link #exponentOf}. */
    public int[] intLogits(Tensor logits) {
        return q(logits).ints().clone();
    }

    /** The integers behind a tensor this numerics produced (a copy). */
    public int[] integers(Tensor t) {
        Q q = q(t);
        int[] v = q.ints();
        return v == q.raw() ? v.clone() : v;
    }

    /** The exponent of a tensor this numerics produced. */
    public int exponentOf(Tensor t) {
        return q(t).exp();
    }

    /** Exponents recorded by the last pass ({@code in:<linear>} input exponents, {@code gamma:<ln>}, activations). */
    Map<String, Integer> used() {
        return used;
    }

    // ---- the ops -----------------------------------------------------------------------------------------

    @Override
    public Tensor embed(Tensor table, Tensor positionsIgnored, int[] ids, int batch, int len, int scaleLog2,
                        String stream) {
        if (len > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence length " + len + " exceeds max_positions " + cfg.maxPositions());
        }
        return embed(table, ids, batch, len, 0, scaleLog2, stream);
    }

    /**
     * One new decoder position (KV-cached greedy decoding): starts a decoding step like a decoder
     * {@link #embed}, whose row {@code position} it computes.
     */
    @Override
    public Tensor embedAt(Tensor table, Tensor positionsIgnored, int[] ids, int batch, int position, int scaleLog2,
                          String stream) {
        if (position < 0 || position >= cfg.maxPositions()) {
            throw new IllegalArgumentException("position " + position + " outside max_positions " + cfg.maxPositions());
        }
        if (ids.length != batch) {
            throw new IllegalArgumentException(ids.length + " ids for batch " + batch);
        }
        return embed(table, ids, batch, 1, position, scaleLog2, stream);
    }

    /** EMBED of positions {@code [from, from + len)} of {@code batch} sequences ({@code ids [B, len]}). */
    private Tensor embed(Tensor table, int[] ids, int batch, int len, int from, int scaleLog2, String stream) {
        if (stream.equals("enc")) {
            reset();
        } else {
            // a new decoder run or step: the previous one's tensors (an earlier greedy step) are no longer
            // inputs; the key/value caches (appendPositions, keepSequences) are not among them
            decoderRun.forEach(ints::remove);
            decoderRun.clear();
            inDecoder = true;
        }
        int d = cfg.dModel();
        QWeight e = weight("embed.weight", table);
        float[] pos = new float[len * d];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = Math.scalb((float) positions[from * d + i], PositionalTable.EXPONENT);
        }
        Tensor rows = Ops.reshape(Ops.scale(Ops.embedding(e.fq(), ids), Math.scalb(1f, scaleLog2)), batch, len, d);
        Tensor sur = Ops.add(rows, Tensor.of(pos, len, d));
        String name = stream + ".embed.out";
        int eOut = activation(name, sur, 16, true);
        short[] out = Workspace.shortsToOverwrite(batch * len * d);
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < len; t++) {
                IntOps.embed(e.ints(), e.exp(), scaleLog2, positions, PositionalTable.EXPONENT, d, ids[b * len + t],
                        from + t, eOut, out, (b * len + t) * d);
            }
        }
        return snap(sur, name, 16, true, new Q(out, eOut, DType.INT16));
    }

    /** No KV cache while calibrating: thresholds raised mid-pass would leave cached rows at older exponents. */
    @Override
    public boolean incrementalDecoding() {
        return !calibrating;
    }

    /**
     * A key or value cache grown by one position, with its integers; the result is carried across decoding
     * steps (not dropped with a decoder step's tensors), {@code cache} is forgotten.
     */
    @Override
    public Tensor appendPositions(Tensor cache, Tensor next) {
        Q qn = q(next);
        Tensor out = Numerics.appendRows(cache, next);
        Object raw;
        if (cache == null) {
            raw = copyOf(qn.raw());
        } else {
            Q qc = q(cache);
            if (qc.exp() != qn.exp() || qc.type() != qn.type() || qc.raw().getClass() != qn.raw().getClass()) {
                throw new IllegalStateException("cache at 2^" + qc.exp() + " " + qc.type() + ", new rows at 2^"
                        + qn.exp() + " " + qn.type() + ": thresholds changed during the pass");
            }
            int b = next.dim(0);
            int t = cache.dim(1);
            int d = next.dim(2);
            raw = java.lang.reflect.Array.newInstance(qn.raw().getClass().getComponentType(), b * (t + 1) * d);
            Numerics.appendRows(qc.raw(), qn.raw(), raw, b, t, d);
            forget(cache);
        }
        ints.put(out, new Q(raw, qn.exp(), qn.type()));
        return out;
    }

    /** Sequences {@code which} of {@code t} with their integers, carried like {@link #appendPositions}'s result. */
    @Override
    public Tensor keepSequences(Tensor t, int[] which) {
        Q qt = q(t);
        Tensor out = Numerics.selectSequences(t, which);
        int per = t.size() / t.dim(0);
        Object raw = java.lang.reflect.Array.newInstance(qt.raw().getClass().getComponentType(), which.length * per);
        Numerics.selectSequences(qt.raw(), raw, which, per);
        forget(t);
        ints.put(out, new Q(raw, qt.exp(), qt.type()));
        return out;
    }

    private void forget(Tensor t) {
        ints.remove(t);
        decoderRun.remove(t);
    }

    private static Object copyOf(Object array) {
        return switch (array) {
            case byte[] b -> b.clone();
            case short[] s -> s.clone();
            case int[] i -> i.clone();
            default -> throw new IllegalStateException(array.getClass().getName());
        };
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, String prefix) {
        Q qx = expect(x, DType.INT16, prefix);
        int d = x.dim(-1);
        int rows = x.size() / d;
        float maxG = maxAbs(gamma.data());
        int eG = maxG == 0 ? -15 : FakeQuant.exponent((float) log2(maxG), 16, true);
        long[] g = new long[d];
        long[] bt = new long[d];
        Tensor gq = StraightThrough.quantizeFixed(gamma, eG, 16, g);
        Tensor bq = StraightThrough.quantizeFixed(beta, eG - 12, 32, bt);
        used.put("gamma:" + prefix, eG);
        Tensor sur = Ops.layerNorm(x, gq, bq, LN_EPS);
        String name = prefix + ".out";
        int eOut = activation(name, sur, 8, true);
        short[] gs = new short[d];
        int[] bs = new int[d];
        for (int i = 0; i < d; i++) {
            gs[i] = (short) g[i];
            bs[i] = (int) bt[i];
        }
        byte[] out = Workspace.bytesToOverwrite(rows * d);
        short[] xs = qx.shorts();
        // rows are independent: split over the kernel threads (the first range in place, others on copies)
        MatMul.parallelFor(rows, 16L * d, (from, to) -> {
            if (from == 0) {
                kernels.layerNorm(xs, to, d, gs, bs, eG, eOut, out);
                return;
            }
            int len = (to - from) * d;
            Scratch sc = Scratch.get();
            short[] xin = sc.shorts(len);
            byte[] part = sc.bytes(len);
            System.arraycopy(xs, from * d, xin, 0, len);
            kernels.layerNorm(xin, to - from, d, gs, bs, eG, eOut, part);
            System.arraycopy(part, 0, out, from * d, len);
        });
        return snap(sur, name, 8, true, new Q(out, eOut, DType.INT8));
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor b, boolean relu, String prefix) {
        Q qx = q(x);
        QWeight qw = weight(prefix + ".weight", w);
        int eAcc = qx.exp() + qw.exp();
        used.put("in:" + prefix, qx.exp());
        long[] bias = new long[b.size()];
        Tensor sur = Ops.linear(x, qw.fq(), StraightThrough.quantizeFixed(b, eAcc, 32, bias));
        String name = prefix + ".out";
        int eOut = activation(name, sur, 8, !relu);
        DType type = relu ? DType.UINT8 : DType.INT8;
        boolean exact = floatAccumulatorsExact(qx, qw, maxAbs(bias), eAcc, w.dim(1));
        if (exact) {
            Tensor y = requantizedSurrogate(sur, name, eOut, eAcc, type);
            if (y != null) {
                return y;
            }
        }
        int[] acc = accumulate(prefix, qx, qw, w.dim(0), w.dim(1), bias, eAcc, exact ? sur : null);
        byte[] out = Workspace.bytesToOverwrite(acc.length);
        requantize(acc, eOut - eAcc, type, out);
        return snap(sur, name, 8, !relu, new Q(out, eOut, type));
    }

    /**
     * REQUANT of a surrogate that holds its int32 accumulators exactly ({@code sur = acc · 2^eAcc}) is the
     * activation's fake-quantizer itself: with {@code s = 2^eOut} and {@code k = eOut - eAcc},
     * {@code floor(sur/s + 1/2) = floor(acc/2^k + 1/2) = RSH(acc, k)} for {@code k >= 0} and {@code acc · 2^-k}
     * for {@code k < 0}, and clamping to the int8 (uint8) range is SAT. So {@code FQ(sur)} is the exact output
     * {@code q · 2^eOut} and its gradient the TQT one: one pass instead of the accumulators, the kernel and the
     * dequantization. Null when {@code k} is outside SPEC.md's shift range (the kernels refuse it).
     */
    private Tensor requantizedSurrogate(Tensor sur, String name, int eOut, int eAcc, DType type) {
        int k = eOut - eAcc;
        if (k < IntOps.MIN_SHIFT || k > IntOps.MAX_SHIFT) {
            return null;
        }
        byte[] q = Workspace.bytesToOverwrite(sur.size());
        Tensor y = FakeQuant.applyInts(sur, thresholds.get(name), 8, type == DType.INT8, q);
        keep(y, new Q(q, eOut, type));
        return y;
    }

    @Override
    public Tensor residual(Tensor r, Tensor x, Tensor w, Tensor b, String prefix) {
        Q qr = expect(r, DType.INT16, prefix);
        Q qx = q(x);
        QWeight qw = weight(prefix + ".weight", w);
        int eAcc = qx.exp() + qw.exp();
        used.put("in:" + prefix, qx.exp());
        long[] bias = new long[b.size()];
        Tensor lin = Ops.linear(x, qw.fq(), StraightThrough.quantizeFixed(b, eAcc, 32, bias));
        Tensor sur = Ops.add(r, lin);
        String name = prefix + ".out";
        int eOut = activation(name, sur, 16, true);
        boolean exact = floatAccumulatorsExact(qx, qw, maxAbs(bias), eAcc, w.dim(1));
        int[] acc = accumulate(prefix, qx, qw, w.dim(0), w.dim(1), bias, eAcc, exact ? lin : null);
        short[] out = Workspace.shortsToOverwrite(acc.length);
        short[] rs = qr.shorts();
        MatMul.parallelFor(acc.length, 4, (from, to) -> { // elementwise: the first range in place
            if (from == 0) {
                kernels.residual(rs, qr.exp(), acc, eAcc, eOut, to, out);
                return;
            }
            int len = to - from;
            Scratch sc = Scratch.get();
            short[] rin = sc.shorts(len);
            int[] ain = sc.ints(len);
            short[] part = sc.shorts2(len);
            System.arraycopy(rs, from, rin, 0, len);
            System.arraycopy(acc, from, ain, 0, len);
            kernels.residual(rin, qr.exp(), ain, eAcc, eOut, len, part);
            System.arraycopy(part, 0, out, from, len);
        });
        return snap(sur, name, 16, true, new Q(out, eOut, DType.INT16));
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal, String prefix) {
        Q qq = expect(q, DType.INT8, prefix);
        Q qk = expect(k, DType.INT8, prefix);
        Q qv = expect(v, DType.INT8, prefix);
        int batch = q.dim(0);
        int tq = q.dim(1);
        int tk = k.dim(1);
        int d = q.dim(2);
        int dk = d / heads;
        int eS = qq.exp() + qk.exp();
        byte[] p = Workspace.bytesToOverwrite(batch * heads * tq * tk);
        // float surrogate (Ops.attention, base-2 softmax over the valid keys) whose P·V uses the exact
        // probabilities: SOFTMAX2 of the int32 scores, uint8 at 2^-8
        Tensor sur = Ops.attention(q, k, v, heads, keyLengths, causal, scores -> {
            int[] s32 = exactInFloat(qq.exp(), qk.exp(), (long) dk * 128 * 128)
                    ? fromFloat(scores, eS) : headScores(qq.bytes(), qk.bytes(), batch, heads, tq, tk, dk);
            MatMul.parallelFor(batch, (long) heads * tq * tk * 8, (bFrom, bTo) -> {
                int[] validLen = new int[tq];
                int[] sh = new int[tq * tk];
                byte[] ph = new byte[tq * tk];
                for (int bi = bFrom; bi < bTo; bi++) {
                    for (int i = 0; i < tq; i++) {
                        validLen[i] = Math.min(keyLengths[bi], causal ? i + 1 : tk);
                    }
                    for (int h = 0; h < heads; h++) {
                        int o = ((bi * heads + h) * tq) * tk;
                        System.arraycopy(s32, o, sh, 0, tq * tk);
                        kernels.softmax2(sh, tq, tk, validLen, eS, lut, ph);
                        System.arraycopy(ph, 0, p, o, tq * tk);
                    }
                }
            });
            float[] pv = Workspace.floatsToOverwrite(p.length);
            for (int i = 0; i < p.length; i++) {
                pv[i] = (p[i] & 0xFF) * 0x1p-8f;
            }
            return pv;
        });
        String name = prefix + ".ctx.out";
        int eOut = activation(name, sur, 8, true);
        // exact: acc[i][t] = sum_j p[i][j] · V[j][t] ([B, Tq, d], heads in their columns), requantized
        int eC = -8 + qv.exp();
        boolean exact = exactInFloat(-8, qv.exp(), (long) tk * 255 * 128);
        if (exact) {
            Tensor y = requantizedSurrogate(sur, name, eOut, eC, DType.INT8);
            if (y != null) {
                return y;
            }
        }
        int[] acc = exact ? fromFloat(sur.data(), eC) : headContexts(p, qv.bytes(), batch, heads, tq, tk, dk);
        byte[] ctx = Workspace.bytesToOverwrite(acc.length);
        requantize(acc, eOut - eC, DType.INT8, ctx);
        return snap(sur, name, 8, true, new Q(ctx, eOut, DType.INT8));
    }

    /** The int32 scores {@code Q_h · K_hᵀ} of every (batch entry, head), {@code [B, H, Tq, Tk]}, by the kernels. */
    private int[] headScores(byte[] qb, byte[] kb, int batch, int heads, int tq, int tk, int dk) {
        int d = heads * dk;
        int[] out = Workspace.intsToOverwrite(batch * heads * tq * tk);
        MatMul.parallelFor(batch, (long) heads * tq * tk * dk, (bFrom, bTo) -> {
            byte[] qh = new byte[tq * dk];
            byte[] kh = new byte[tk * dk];
            int[] scores = new int[tq * tk];
            for (int bi = bFrom; bi < bTo; bi++) {
                for (int h = 0; h < heads; h++) {
                    head(qb, bi, tq, d, h, dk, qh);
                    head(kb, bi, tk, d, h, dk, kh);
                    kernels.linear(qh, tq, dk, false, kh, tk, null, scores);
                    System.arraycopy(scores, 0, out, ((bi * heads + h) * tq) * tk, tq * tk);
                }
            }
        });
        return out;
    }

    /** The int32 {@code P_h · V_h} of every (batch entry, head) in the head's columns, {@code [B, Tq, d]}, by the kernels. */
    private int[] headContexts(byte[] p, byte[] vb, int batch, int heads, int tq, int tk, int dk) {
        int d = heads * dk;
        int[] out = Workspace.intsToOverwrite(batch * tq * d);
        MatMul.parallelFor(batch, (long) heads * tq * tk * dk, (bFrom, bTo) -> {
            byte[] vt = new byte[dk * tk];
            int[] acc = new int[tq * dk];
            byte[] ph = new byte[tq * tk];
            for (int bi = bFrom; bi < bTo; bi++) {
                for (int h = 0; h < heads; h++) {
                    for (int j = 0; j < tk; j++) {
                        for (int t = 0; t < dk; t++) {
                            vt[t * tk + j] = vb[(bi * tk + j) * d + h * dk + t];
                        }
                    }
                    System.arraycopy(p, ((bi * heads + h) * tq) * tk, ph, 0, tq * tk);
                    kernels.linear(ph, tq, tk, true, vt, dk, null, acc);
                    for (int i = 0; i < tq; i++) {
                        System.arraycopy(acc, i * dk, out, (bi * tq + i) * d + h * dk, dk);
                    }
                }
            }
        });
        return out;
    }

    @Override
    public Tensor logits(Tensor f, Tensor table) {
        Q qf = expect(f, DType.INT8, "logits");
        QWeight e = weight("embed.weight", table);
        Tensor sur = Ops.matmulBT(f, e.fq());
        int vocab = table.dim(0);
        int d = table.dim(1);
        int eL = qf.exp() + e.exp();
        boolean exact = floatAccumulatorsExact(qf, e, 0, eL, d);
        int[] acc = exact
                ? fromFloat(sur.data(), eL)
                : linearRows(prepared("logits", d, false, e.ints(), vocab, null), qf.bytes(), d, vocab);
        // exact: the surrogate already holds acc · 2^eL, the values a replacement would give
        Tensor out = exact ? sur : StraightThrough.replace(sur, dequantize(acc, eL));
        keep(out, new Q(acc, eL, DType.INT32));
        return out;
    }

    /** Row {@code T - 1} of each sequence of {@code f [B, T, d]} with its integers (greedy decoding). */
    @Override
    public Tensor lastPosition(Tensor f) {
        Q qf = q(f);
        int b = f.dim(0);
        int t = f.dim(1);
        int d = f.dim(2);
        Object v = java.lang.reflect.Array.newInstance(qf.raw().getClass().getComponentType(), b * d);
        Numerics.lastRows(qf.raw(), v, b, t, d);
        Tensor out = Numerics.lastRows(f);
        keep(out, new Q(v, qf.exp(), qf.type()));
        return out;
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    /**
     * The int32 accumulators {@code x · wᵀ + bias} of a linear: {@code exactY / 2^eAcc} when the float
     * surrogate {@code exactY} (the same product on the dequantized values, plus the bias) computed every
     * partial sum exactly ({@link #floatAccumulatorsExact}), else (null) by the kernels.
     */
    private int[] accumulate(String prefix, Q qx, QWeight qw, int n, int k, long[] bias, int eAcc, Tensor exactY) {
        if (exactY != null) {
            return fromFloat(exactY.data(), eAcc);
        }
        boolean unsigned = qx.type() == DType.UINT8;
        String key = prefix + "@" + eAcc + (unsigned ? "u" : "s");
        IntKernels.PreparedLinear lin = prepared.get(key);
        if (lin == null) {
            int[] b = new int[n];
            for (int i = 0; i < n; i++) {
                b[i] = (int) bias[i];
            }
            lin = prepared(key, k, unsigned, qw.ints(), n, b);
        }
        return linearRows(lin, qx.bytes(), k, n);
    }

    /**
     * Switch for tests: {@code false} makes every integer matmul run on the kernels (the float surrogate's
     * sums are then never used as the integers).
     */
    static volatile boolean useFloatAccumulators = true;

    /**
     * Whether the float32 surrogate {@code y = x · wᵀ (+ b)} of a linear with int8/uint8 inputs {@code qx}
     * (exponent {@code ex}), int8 weights (exponent {@code eW}) and int32 biases {@code |b| <= maxBias} at
     * {@code eAcc = ex + eW} holds exactly the integer accumulators times {@code 2^eAcc}. The surrogate's
     * inputs are exactly {@code qx · 2^ex}, {@code qw · 2^eW} and {@code b · 2^eAcc} (for {@code |b| < 2^24});
     * every product is an integer times {@code 2^eAcc} below {@code 2^15 · 2^eAcc}, and every partial sum of
     * the fma chain (and the bias add) an integer times {@code 2^eAcc} whose magnitude is at most
     * {@code bound + maxBias} with {@code bound = max over rows of min(Σ|qx|·max|qw|, max|qx|·max_j Σ|qw_j|)}:
     * below {@code 2^24} each is a float, so no step rounds and {@code y / 2^eAcc} is the exact int32 sum.
     */
    private boolean floatAccumulatorsExact(Q qx, QWeight qw, long maxBias, int eAcc, int k) {
        if (!useFloatAccumulators || !saneExponents(qx.exp(), qw.exp())) {
            return false;
        }
        boolean unsigned = qx.type() == DType.UINT8;
        long limit = (1L << 24) - maxBias;
        if ((unsigned ? 255L : 128L) * qw.maxRowAbsSum() < limit) {
            return true; // max|qx| <= 128 (uint8: 255) without looking at x
        }
        byte[] x = qx.bytes();
        int rows = x.length / k;
        long worst = 0;
        for (int r = 0; r < rows; r++) {
            int sum = 0; // at most k · 128 (uint8: 255)
            int max = 0;
            if (unsigned) {
                for (int i = r * k, end = i + k; i < end; i++) {
                    int a = x[i] & 0xFF;
                    sum += a;
                    max = Math.max(max, a);
                }
            } else {
                for (int i = r * k, end = i + k; i < end; i++) {
                    int a = Math.abs(x[i]);
                    sum += a;
                    max = Math.max(max, a);
                }
            }
            worst = Math.max(worst, Math.min((long) sum * qw.maxAbs(), max * qw.maxRowAbsSum()));
        }
        return worst < limit;
    }

    /** As {@link #floatAccumulatorsExact} for a product of {@code |sum| <= bound} (attention). */
    private static boolean exactInFloat(int eA, int eB, long bound) {
        return useFloatAccumulators && saneExponents(eA, eB) && bound < (1L << 24);
    }

    /** Exponents for which the dequantized values, their products and partial sums are normal floats. */
    private static boolean saneExponents(int eA, int eB) {
        return eA >= -60 && eA <= 60 && eB >= -60 && eB <= 60;
    }

    /** {@code y / 2^e} as ints (exact when {@link #floatAccumulatorsExact} holds). */
    private static int[] fromFloat(float[] y, int e) {
        int[] acc = Workspace.intsToOverwrite(y.length);
        float inv = Math.scalb(1f, -e);
        MatMul.parallelFor(y.length, 2, (from, to) -> {
            for (int i = from; i < to; i++) {
                acc[i] = (int) (y[i] * inv);
            }
        });
        return acc;
    }

    /** Per-thread arrays for the copies of a kernel call split over the kernel threads (grown, never shrunk). */
    private static final class Scratch {
        private static final ThreadLocal<Scratch> OF_THREAD = ThreadLocal.withInitial(Scratch::new);
        private short[] s1 = new short[0];
        private short[] s2 = new short[0];
        private int[] i1 = new int[0];
        private byte[] b1 = new byte[0];

        static Scratch get() {
            return OF_THREAD.get();
        }

        short[] shorts(int n) {
            return s1.length >= n ? s1 : (s1 = new short[n]);
        }

        short[] shorts2(int n) {
            return s2.length >= n ? s2 : (s2 = new short[n]);
        }

        int[] ints(int n) {
            return i1.length >= n ? i1 : (i1 = new int[n]);
        }

        byte[] bytes(int n) {
            return b1.length >= n ? b1 : (b1 = new byte[n]);
        }
    }

    private void requantize(int[] acc, int shift, DType type, byte[] out) {
        MatMul.parallelFor(acc.length, 4, (from, to) -> { // elementwise: the first range in place
            if (from == 0) {
                kernels.requantize(acc, to, shift, type, out);
                return;
            }
            int len = to - from;
            Scratch sc = Scratch.get();
            int[] ain = sc.ints(len);
            byte[] part = sc.bytes(len);
            System.arraycopy(acc, from, ain, 0, len);
            kernels.requantize(ain, len, shift, type, part);
            System.arraycopy(part, 0, out, from, len);
        });
    }

    /** The weights {@code w [n, k]} (and bias) ready for the kernels, made once per pass under {@code key}. */
    private IntKernels.PreparedLinear prepared(String key, int k, boolean unsigned, byte[] w, int n, int[] bias) {
        return prepared.computeIfAbsent(key, x -> kernels.prepareLinear(w, n, k, unsigned, bias));
    }

    /**
     * {@code IntKernels.linear} over the rows of {@code x}, split into row ranges on the trainer's kernel
     * threads: each row's accumulators depend on that row only, so the split changes no bit.
     */
    private static int[] linearRows(IntKernels.PreparedLinear lin, byte[] x, int k, int n) {
        int rows = x.length / k;
        int[] acc = Workspace.intsToOverwrite(rows * n);
        MatMul.parallelFor(rows, (long) n * k, (from, to) -> {
            int count = to - from;
            byte[] xs = java.util.Arrays.copyOfRange(x, from * k, to * k);
            int[] part = new int[count * n];
            lin.apply(xs, count, part);
            System.arraycopy(part, 0, acc, from * n, count * n);
        });
        return acc;
    }

    private static void head(byte[] src, int b, int t, int d, int h, int dk, byte[] dst) {
        for (int i = 0; i < t; i++) {
            System.arraycopy(src, (b * t + i) * d + h * dk, dst, i * dk, dk);
        }
    }

    /** The weight of {@code name} fake-quantized to int8 for this pass (created once per pass). */
    private QWeight weight(String name, Tensor w) {
        QWeight qw = weights.get(name);
        if (qw != null) {
            return qw;
        }
        if (!thresholds.has(name)) {
            float m = maxAbs(w.data());
            thresholds.set(name, m == 0 ? EMPTY_LOG2T : (float) log2(m));
        }
        Tensor lt = thresholds.get(name);
        int e = FakeQuant.exponent(lt.data()[0], 8, true);
        byte[] q = Workspace.bytesToOverwrite(w.size());
        Tensor fq = FakeQuant.applyInts(w, lt, 8, true, q); // q = int8Values(w, log2t), in the same pass
        used.put(name, e);
        int k = w.dim(-1);
        int rows = q.length / k;
        int[] rowSum = new int[rows]; // Σ|q| of each row (at most k · 128)
        int[] rowMax = new int[rows];
        MatMul.parallelFor(rows, k, (from, to) -> {
            for (int r = from; r < to; r++) {
                int sum = 0;
                int max = 0;
                for (int i = r * k, end = i + k; i < end; i++) {
                    int a = Math.abs(q[i]);
                    sum += a;
                    max = Math.max(max, a);
                }
                rowSum[r] = sum;
                rowMax[r] = max;
            }
        });
        int maxAbs = 0;
        long maxRow = 0;
        for (int r = 0; r < rows; r++) {
            maxAbs = Math.max(maxAbs, rowMax[r]);
            maxRow = Math.max(maxRow, rowSum[r]);
        }
        qw = new QWeight(fq, q, e, maxAbs, maxRow);
        weights.put(name, qw);
        return qw;
    }

    /**
     * The int8 integers of weight {@code w} under threshold {@code log2t}: {@code SAT(floor(w/s + 0.5))}, the
     * integers behind {@link FakeQuant#apply}'s values. The forward pass and {@link QatExport} both use this.
     */
    static byte[] int8Values(Tensor w, float log2t) {
        double s = FakeQuant.scale(log2t, 8, true);
        byte[] q = new byte[w.size()];
        float[] v = w.data();
        for (int i = 0; i < q.length; i++) {
            q[i] = (byte) Math.max(-128, Math.min(127, FakeQuant.roundHalfUp(v[i] / s)));
        }
        return q;
    }

    /** The exponent of activation {@code name} ({@code bits}, signed or not), calibrating it if asked. */
    private int activation(String name, Tensor surrogate, int bits, boolean signed) {
        if (calibrating) {
            float m = maxAbs(surrogate.data());
            thresholds.raise(name, m == 0 ? EMPTY_LOG2T : (float) log2(m));
        }
        int e = FakeQuant.exponent(thresholds.get(name).data()[0], bits, signed);
        used.put(name, e);
        return e;
    }

    /**
     * The op's output: the exact values {@code q · 2^e} of the integers, with the gradient of the surrogate
     * fake-quantized with activation {@code name}'s threshold (TQT); the integers are kept beside it.
     */
    private Tensor snap(Tensor surrogate, String name, int bits, boolean signed, Q q) {
        Tensor out = FakeQuant.applyWithValues(surrogate, thresholds.get(name), bits, signed, dequantize(q));
        keep(out, q);
        return out;
    }

    private static float[] dequantize(Q q) {
        return switch (q.raw()) {
            case byte[] b -> {
                float[] out = Workspace.floatsToOverwrite(b.length);
                float s = Math.scalb(1f, q.exp());
                boolean unsigned = q.type() == DType.UINT8;
                MatMul.parallelFor(b.length, 2, (from, to) -> {
                    if (!normalScale(q.exp())) {
                        for (int i = from; i < to; i++) {
                            out[i] = Math.scalb((float) (unsigned ? b[i] & 0xFF : b[i]), q.exp());
                        }
                    } else if (unsigned) {
                        for (int i = from; i < to; i++) {
                            out[i] = (b[i] & 0xFF) * s;
                        }
                    } else {
                        for (int i = from; i < to; i++) {
                            out[i] = b[i] * s;
                        }
                    }
                });
                yield out;
            }
            case short[] v -> {
                float[] out = Workspace.floatsToOverwrite(v.length);
                float s = Math.scalb(1f, q.exp());
                boolean normal = normalScale(q.exp());
                MatMul.parallelFor(v.length, 2, (from, to) -> {
                    for (int i = from; i < to; i++) {
                        out[i] = normal ? v[i] * s : Math.scalb((float) v[i], q.exp());
                    }
                });
                yield out;
            }
            case int[] v -> dequantize(v, q.exp());
            default -> throw new IllegalStateException(q.raw().getClass().getName());
        };
    }

    private static float[] dequantize(int[] v, int exp) {
        float[] out = Workspace.floatsToOverwrite(v.length);
        for (int i = 0; i < v.length; i++) {
            out[i] = Math.scalb((float) v[i], exp);
        }
        return out;
    }

    /**
     * Whether {@code 2^e} and the values times it are normal floats, so that {@code v · 2^e} equals
     * {@code Math.scalb(v, e)} (one exact multiplication) for |v| < 2^16.
     */
    private static boolean normalScale(int e) {
        return e >= -100 && e <= 100;
    }

    private void keep(Tensor t, Q q) {
        ints.put(t, q);
        if (inDecoder) {
            decoderRun.add(t);
        }
    }

    private Q q(Tensor t) {
        Q q = ints.get(t);
        if (q == null) {
            throw new IllegalStateException("tensor " + t + " was not produced by this QatNumerics in the current pass");
        }
        return q;
    }

    private Q expect(Tensor t, DType type, String where) {
        Q q = q(t);
        if (q.type() != type) {
            throw new IllegalStateException(where + ": expected an " + type + " input, got " + q.type());
        }
        return q;
    }

    private static long maxAbs(long[] v) {
        long m = 0;
        for (long x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static float maxAbs(float[] v) {
        float m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static double log2(double v) {
        return Math.log(v) / Math.log(2);
    }
}
