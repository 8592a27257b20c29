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
import org.shiftformer.trainer.autodiff.RowMask;
import org.shiftformer.trainer.autodiff.StraightThrough;
import org.shiftformer.trainer.autodiff.Tensor;
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
 * ({@link StraightThrough#replace}). So the loss sees exactly what the integer engine computes, and the
 * logits of a forward pass are the runtime's int32 logits ({@link #intLogits}).
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
 * <p>The integer matmuls (rows of a linear, batch entries of an attention) run on the trainer's kernel
 * threads ({@link MatMul#parallelFor}); the kernels must be thread-safe (the reference and backend-sim's
 * are stateless), and since every row is computed alone the thread count changes no bit.
 *
 * <p>A forward pass starts with the encoder's {@code embed}, which drops the previous pass's
 * integers and weight quantizations (weights change between passes); call {@link #reset()} before a pass
 * that starts elsewhere. Not thread-safe: one pass at a time.
 */
public final class QatNumerics implements Numerics {
    /** Threshold used for an activation that was exactly zero during calibration. */
    private static final float EMPTY_LOG2T = -8f;
    private static final float LN_EPS = 1e-6f;

    /** Integer values of a quantized tensor and their exponent; {@code type} int8, uint8, int16 or int32. */
    record Q(int[] v, int exp, DType type) {
        byte[] bytes() {
            byte[] b = new byte[v.length];
            for (int i = 0; i < b.length; i++) {
                b[i] = (byte) v[i];
            }
            return b;
        }

        short[] shorts() {
            short[] s = new short[v.length];
            for (int i = 0; i < s.length; i++) {
                s[i] = (short) v[i];
            }
            return s;
        }
    }

    /** A weight fake-quantized for this pass: the float tensor {@code fq} and its int8 values. */
    private record QWeight(Tensor fq, byte[] ints, int exp) {
    }

    private final ModelConfig cfg;
    private final IntKernels kernels;
    private final Thresholds thresholds;
    private final int[] lut = Tables.exp2Lut();
    private final byte[] positions;
    private final Map<Tensor, Q> ints = new IdentityHashMap<>();
    /**
     * The tensors of {@link #ints} made since the last decoder {@code embed}: a greedy decode runs the
     * decoder once per token over the same encoder memory, and each run's integers are dropped when the next
     * one starts, so a pass keeps the encoder's integers and one decoder run's, however many tokens it makes.
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
        return q(logits).v().clone();
    }

    /** The integers behind a tensor this numerics produced (a copy). */
    public int[] integers(Tensor t) {
        return q(t).v().clone();
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
        if (stream.equals("enc")) {
            reset();
        } else {
            // a new decoder run: the previous run's tensors (an earlier greedy step) are no longer inputs
            decoderRun.forEach(ints::remove);
            decoderRun.clear();
            inDecoder = true;
        }
        int d = cfg.dModel();
        if (len > cfg.maxPositions()) {
            throw new IllegalArgumentException("sequence length " + len + " exceeds max_positions " + cfg.maxPositions());
        }
        QWeight e = weight("embed.weight", table);
        float[] pos = new float[len * d];
        for (int i = 0; i < pos.length; i++) {
            pos[i] = Math.scalb((float) positions[i], PositionalTable.EXPONENT);
        }
        Tensor rows = Ops.reshape(Ops.scale(Ops.embedding(e.fq(), ids), Math.scalb(1f, scaleLog2)), batch, len, d);
        Tensor sur = Ops.add(rows, Tensor.of(pos, len, d));
        String name = stream + ".embed.out";
        int eOut = activation(name, sur, 16, true);
        short[] out = new short[batch * len * d];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < len; t++) {
                IntOps.embed(e.ints(), e.exp(), scaleLog2, positions, PositionalTable.EXPONENT, d, ids[b * len + t], t,
                        eOut, out, (b * len + t) * d);
            }
        }
        return snap(FakeQuant.apply(sur, thresholds.get(name), 16, true), widen(out), eOut, DType.INT16);
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
        byte[] out = new byte[rows * d];
        kernels.layerNorm(qx.shorts(), rows, d, gs, bs, eG, eOut, out);
        return snap(FakeQuant.apply(sur, thresholds.get(name), 8, true), widen(out, false), eOut, DType.INT8);
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
        int[] acc = accumulate(prefix, qx, qw, w.dim(0), w.dim(1), bias, eAcc);
        byte[] out = new byte[acc.length];
        DType type = relu ? DType.UINT8 : DType.INT8;
        kernels.requantize(acc, acc.length, eOut - eAcc, type, out);
        return snap(FakeQuant.apply(sur, thresholds.get(name), 8, !relu), widen(out, relu), eOut, type);
    }

    @Override
    public Tensor residual(Tensor r, Tensor x, Tensor w, Tensor b, String prefix) {
        Q qr = expect(r, DType.INT16, prefix);
        Q qx = q(x);
        QWeight qw = weight(prefix + ".weight", w);
        int eAcc = qx.exp() + qw.exp();
        used.put("in:" + prefix, qx.exp());
        long[] bias = new long[b.size()];
        Tensor sur = Ops.add(r, Ops.linear(x, qw.fq(), StraightThrough.quantizeFixed(b, eAcc, 32, bias)));
        String name = prefix + ".out";
        int eOut = activation(name, sur, 16, true);
        int[] acc = accumulate(prefix, qx, qw, w.dim(0), w.dim(1), bias, eAcc);
        short[] out = new short[acc.length];
        kernels.residual(qr.shorts(), qr.exp(), acc, eAcc, eOut, acc.length, out);
        return snap(FakeQuant.apply(sur, thresholds.get(name), 16, true), widen(out), eOut, DType.INT16);
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
        // float surrogate: [B, H, T, dk] heads, base-2 softmax over the valid keys, probabilities · V
        Tensor q4 = Ops.transpose(Ops.reshape(q, batch, tq, heads, dk), 1, 2);
        Tensor k4 = Ops.transpose(Ops.reshape(k, batch, tk, heads, dk), 1, 2);
        Tensor v4 = Ops.transpose(Ops.reshape(v, batch, tk, heads, dk), 1, 2);
        RowMask mask = RowMask.keyPadding(keyLengths, heads, tq);
        if (causal) {
            mask = mask.and(RowMask.causal(tq));
        }
        Tensor probs = Ops.softmax(Ops.matmulBT(q4, k4), mask, null, true);
        // exact: SOFTMAX2 of the int32 scores, uint8 probabilities at 2^-8
        byte[] qb = qq.bytes();
        byte[] kb = qk.bytes();
        byte[] vb = qv.bytes();
        int eS = qq.exp() + qk.exp();
        byte[] p = new byte[batch * heads * tq * tk];
        // batch entries are independent: split them over the kernel threads (no bit depends on the split)
        MatMul.parallelFor(batch, (long) heads * tq * tk * dk, (bFrom, bTo) -> {
            int[] validLen = new int[tq];
            byte[] qh = new byte[tq * dk];
            byte[] kh = new byte[tk * dk];
            int[] scores = new int[tq * tk];
            byte[] ph = new byte[tq * tk];
            for (int bi = bFrom; bi < bTo; bi++) {
                for (int i = 0; i < tq; i++) {
                    validLen[i] = Math.min(keyLengths[bi], causal ? i + 1 : tk);
                }
                for (int h = 0; h < heads; h++) {
                    head(qb, bi, tq, d, h, dk, qh);
                    head(kb, bi, tk, d, h, dk, kh);
                    kernels.linear(qh, tq, dk, false, kh, tk, null, scores);
                    kernels.softmax2(scores, tq, tk, validLen, eS, lut, ph);
                    System.arraycopy(ph, 0, p, ((bi * heads + h) * tq) * tk, tq * tk);
                }
            }
        });
        float[] pv = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            pv[i] = Math.scalb((float) (p[i] & 0xFF), -8);
        }
        Tensor ctx4 = Ops.matmul(StraightThrough.replace(probs, pv), v4);
        Tensor sur = Ops.reshape(Ops.transpose(ctx4, 1, 2), batch, tq, d);
        String name = prefix + ".ctx.out";
        int eOut = activation(name, sur, 8, true);
        // exact: acc[i][t] = sum_j p[i][j] · V[j][t], requantized to ctx.out
        byte[] ctx = new byte[batch * tq * d];
        int ctxShift = eOut - (-8 + qv.exp());
        MatMul.parallelFor(batch, (long) heads * tq * tk * dk, (bFrom, bTo) -> {
            byte[] vt = new byte[dk * tk];
            int[] acc = new int[tq * dk];
            byte[] ch = new byte[tq * dk];
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
                    kernels.requantize(acc, acc.length, ctxShift, DType.INT8, ch);
                    for (int i = 0; i < tq; i++) {
                        System.arraycopy(ch, i * dk, ctx, (bi * tq + i) * d + h * dk, dk);
                    }
                }
            }
        });
        return snap(FakeQuant.apply(sur, thresholds.get(name), 8, true), widen(ctx, false), eOut, DType.INT8);
    }

    @Override
    public Tensor logits(Tensor f, Tensor table) {
        Q qf = expect(f, DType.INT8, "logits");
        QWeight e = weight("embed.weight", table);
        Tensor sur = Ops.matmulBT(f, e.fq());
        int vocab = table.dim(0);
        int d = table.dim(1);
        int rows = f.size() / d;
        int[] acc = linearRows(prepared("logits", d, false, e.ints(), vocab, null), qf.bytes(), d, vocab);
        int eL = qf.exp() + e.exp();
        float[] values = new float[acc.length];
        for (int i = 0; i < acc.length; i++) {
            values[i] = Math.scalb((float) acc[i], eL);
        }
        Tensor out = StraightThrough.replace(sur, values);
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
        int[] v = new int[b * d];
        Numerics.lastRows(qf.v(), v, b, t, d);
        Tensor out = Numerics.lastRows(f);
        keep(out, new Q(v, qf.exp(), qf.type()));
        return out;
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    private int[] accumulate(String prefix, Q qx, QWeight qw, int n, int k, long[] bias, int eAcc) {
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
        int[] acc = new int[rows * n];
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
        Tensor fq = FakeQuant.apply(w, lt, 8, true);
        used.put(name, e);
        qw = new QWeight(fq, int8Values(w, lt.data()[0]), e);
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

    private Tensor snap(Tensor fq, int[] values, int exp, DType type) {
        float[] exact = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            exact[i] = Math.scalb((float) values[i], exp);
        }
        Tensor out = StraightThrough.replace(fq, exact);
        keep(out, new Q(values, exp, type));
        return out;
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

    private static int[] widen(short[] s) {
        int[] v = new int[s.length];
        for (int i = 0; i < s.length; i++) {
            v[i] = s[i];
        }
        return v;
    }

    private static int[] widen(byte[] b, boolean unsigned) {
        int[] v = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            v[i] = unsigned ? b[i] & 0xFF : b[i];
        }
        return v;
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
