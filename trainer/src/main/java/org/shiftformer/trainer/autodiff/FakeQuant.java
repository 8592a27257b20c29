package org.shiftformer.trainer.autodiff;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * TQT power-of-two fake-quantizer (trainer/README.md, `FakeQuant`; Jain et al. "Trained Quantization Thresholds").
 *
 * <p>Forward, with a trained threshold {@code log2t} (a 1-element tensor):
 * <pre>
 *   signed b-bit:   s = 2^(ceil(log2t) - (b-1)),  n = -2^(b-1), p = 2^(b-1) - 1
 *   unsigned b-bit: s = 2^(ceil(log2t) - b),      n = 0,        p = 2^b - 1
 *   r = round_half_up(x / s) = floor(x/s + 0.5)   (in double: x/s is exact, s a power of two)
 *   q = clamp(r, n, p) · s
 * </pre>
 * Backward (the clip is tested on the rounded value {@code r}):
 * <pre>
 *   dq/dx     = 1 if n <= r <= p, else 0
 *   dq/dlog2t = s·ln2·(r - x/s) inside,  s·ln2·n if r < n,  s·ln2·p if r > p
 * </pre>
 * The gradient of {@code log2t} is {@code s·ln2 · Σ g·local}, the sum in double in a fixed order (chunks of
 * 8,192 elements, each in vector lanes then the lanes and the tail in index order, then the chunks in
 * order): deterministic whatever the thread count, not the index-order sum. Chunks run on the kernel threads.
 *
 * <p><b>Vectorised path</b> (up to 16 bits). With {@code v = x·(1/s)} in float (exact: a power-of-two
 * scaling; an overflow to infinity lands above the range either way, a subnormal rounds as the double
 * quotient then cast would), {@code r < n} iff {@code v < n - 0.5} and {@code r > p} iff
 * {@code v >= p + 0.5}; inside, {@code |v| < 2^16}, so {@code t = trunc(v)} and {@code f = v - t} are exact
 * and {@code r = t + [f >= 0.5] - [f < -0.5]}; {@code r - v} and {@code r·s} are exact too. So the values
 * and masks equal the double formulas above bit for bit (NaN counts as inside in both). The backward pass
 * recomputes them from {@code x} instead of keeping masks. Wider quantizers use the scalar double code.
 */
public final class FakeQuant {

    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** The vector path needs two double vectors per float vector (AVX2: 8 / 4 lanes, AVX-512: 16 / 8). */
    private static final boolean VECTOR = FS.length() == 2 * DS.length();

    private FakeQuant() {
    }

    /** The scale {@code s} (a power of two) for a threshold {@code log2t}. */
    public static double scale(float log2t, int bits, boolean signed) {
        checkBits(bits);
        return Math.scalb(1.0, (int) Math.ceil(log2t) - (signed ? bits - 1 : bits));
    }

    /** The integer exponent {@code e} of {@code s = 2^e}: the tensor's exponent at inference (SPEC.md 1). */
    public static int exponent(float log2t, int bits, boolean signed) {
        checkBits(bits);
        return (int) Math.ceil(log2t) - (signed ? bits - 1 : bits);
    }

    /** Exact round half up of a double: {@code floor(v + 0.5)} with the addition in double. */
    public static double roundHalfUp(double v) {
        return Math.floor(v + 0.5);
    }

    /** {@code q = FQ(x)} with the gradients above. */
    public static Tensor apply(Tensor x, Tensor log2t, int bits, boolean signed) {
        return fakeQuantize(x, log2t, bits, signed, null);
    }

    /**
     * {@link #apply} for at most 8 bits that also writes the integers {@code clamp(r)} into {@code ints}
     * ({@code q = ints · s}; unsigned values as their low 8 bits, as the integer kernels store uint8).
     */
    public static Tensor applyInts(Tensor x, Tensor log2t, int bits, boolean signed, byte[] ints) {
        Shapes.check(ints.length == x.size(), "ints: %s values for %s", ints.length, x.size());
        Shapes.check(bits <= 8, "applyInts: %s bits do not fit a byte", bits);
        return fakeQuantize(x, log2t, bits, signed, ints);
    }

    /** {@code FQ(x)} with its gradients; also writes {@code clamp(r)} into {@code ints} unless it is null. */
    private static Tensor fakeQuantize(Tensor x, Tensor log2t, int bits, boolean signed, byte[] ints) {
        Grid grid = grid(log2t, bits, signed);
        float[] out = Workspace.floatsToOverwrite(x.size());
        forward(grid, x.data, out, ints);
        return Tensor.result(out, x.shape, t -> backward(grid, x, log2t, t.grad), x, log2t);
    }

    /**
     * A tensor whose values are {@code exact} (computed elsewhere, e.g. by the integer engine) and whose
     * gradient is that of {@code FQ(x)}: {@code StraightThrough.replace(apply(x, log2t, bits, signed), exact)}
     * in one op, without computing the fake-quantized values nobody reads.
     */
    public static Tensor applyWithValues(Tensor x, Tensor log2t, int bits, boolean signed, float[] exact) {
        Shapes.check(exact.length == x.size(), "exact values %s != size %s", exact.length, x.size());
        Grid grid = grid(log2t, bits, signed);
        return Tensor.result(exact, x.shape, t -> backward(grid, x, log2t, t.grad), x, log2t);
    }

    /** The quantization grid of one call. */
    private record Grid(double s, double lo, double hi, boolean vector) {
    }

    private static Grid grid(Tensor log2t, int bits, boolean signed) {
        checkBits(bits);
        Shapes.check(log2t.size() == 1, "log2t must have one element: %s", log2t);
        float lt = log2t.data[0];
        Shapes.check(Float.isFinite(lt), "log2t must be finite: %s", lt);
        double s = scale(lt, bits, signed);
        double lo = signed ? -Math.scalb(1.0, bits - 1) : 0.0;
        double hi = signed ? Math.scalb(1.0, bits - 1) - 1 : Math.scalb(1.0, bits) - 1;
        int e = Math.getExponent(s);
        // 1/s and hi·s normal floats: the float arithmetic of the class comment is exact
        boolean vector = VECTOR && bits <= 16 && e >= -100 && e <= 100;
        return new Grid(s, lo, hi, vector);
    }

    /**
     * Elements per chunk: forward and backward run chunk by chunk on the kernel threads, and the threshold
     * gradient adds the chunks' partial sums in chunk order, so no bit depends on the thread count.
     */
    private static final int CHUNK = 8192;

    private static void forward(Grid g, float[] x, float[] out, byte[] ints) {
        int n = x.length;
        int chunks = (n + CHUNK - 1) / CHUNK;
        MatMul.parallelFor(chunks, CHUNK, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                forward(g, x, out, ints, c * CHUNK, Math.min(n, (c + 1) * CHUNK));
            }
        });
    }

    private static void forward(Grid g, float[] x, float[] out, byte[] ints, int from, int to) {
        int i = from;
        if (g.vector) {
            i = forwardVector(g, x, out, from, to);
        }
        for (; i < to; i++) {
            out[i] = (float) (clamp(g, roundHalfUp(x[i] / g.s)) * g.s);
        }
        if (ints != null) {
            float inv = (float) (1.0 / g.s);
            for (int j = from; j < to; j++) {
                ints[j] = (byte) (int) (out[j] * inv); // exact: out = clamp(r)·s
            }
        }
    }

    private static double clamp(Grid g, double r) {
        return r < g.lo ? g.lo : (r > g.hi ? g.hi : r); // NaN stays NaN (inside)
    }

    /** The vector part of {@link #forward} over {@code [from, to)}; returns the first index left for the scalar tail. */
    private static int forwardVector(Grid g, float[] x, float[] out, int from, int to) {
        float inv = (float) (1.0 / g.s);
        float s = (float) g.s;
        float loBound = (float) (g.lo - 0.5);
        float hiBound = (float) (g.hi + 0.5);
        float loS = (float) (g.lo * g.s);
        float hiS = (float) (g.hi * g.s);
        int upper = from + FS.loopBound(to - from);
        int i = from;
        for (; i < upper; i += FS.length()) {
            FloatVector v = FloatVector.fromArray(FS, x, i).mul(inv);
            FloatVector q = rounded(v).mul(s);
            q = q.blend(loS, v.lt(loBound)).blend(hiS, v.compare(VectorOperators.GE, hiBound))
                    .blend(v, v.test(VectorOperators.IS_NAN)); // NaN stays NaN, as in double
            q.intoArray(out, i);
        }
        return i;
    }

    /** {@code floor(v + 0.5)} for {@code |v| < 2^23} (exact; other lanes are garbage the callers mask). */
    private static FloatVector rounded(FloatVector v) {
        FloatVector t = (FloatVector) v.convert(VectorOperators.F2I, 0).convert(VectorOperators.I2F, 0);
        FloatVector f = v.sub(t);
        // t + [f >= 0.5] - [f < -0.5] (blends, not masked adds: those were not intrinsified on AVX-512)
        FloatVector zero = FloatVector.zero(FS);
        return t.add(zero.blend(1f, f.compare(VectorOperators.GE, 0.5f))).sub(zero.blend(1f, f.lt(-0.5f)));
    }

    private static void backward(Grid g, Tensor x, Tensor log2t, float[] grad) {
        float[] xd = x.data;
        float[] fresh = x.requiresGrad ? x.gradToOverwrite() : null; // written, not added, when new
        float[] gx = fresh != null ? fresh : (x.requiresGrad ? x.grad() : null);
        boolean wantT = log2t.requiresGrad;
        int n = xd.length;
        int chunks = (n + CHUNK - 1) / CHUNK;
        double[] partial = new double[chunks];
        MatMul.parallelFor(chunks, 2L * CHUNK, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                partial[c] = backward(g, xd, grad, gx, fresh != null, wantT, c * CHUNK, Math.min(n, (c + 1) * CHUNK));
            }
        });
        if (wantT) {
            double sum = 0;
            for (double p : partial) { // chunk order
                sum += p;
            }
            log2t.grad()[0] += (float) (sum * (g.s * Ops.LN2));
        }
    }

    /**
     * dq/dx into {@code gx} (written if {@code write}, else added) over {@code [from, to)}; returns
     * {@code Σ g·local} of the range (vector lanes, then the lanes and the tail in order).
     */
    private static double backward(Grid g, float[] xd, float[] grad, float[] gx, boolean write, boolean wantT,
                                   int from, int to) {
        int i = from;
        double sum = 0;
        if (g.vector) {
            float inv = (float) (1.0 / g.s);
            float loBound = (float) (g.lo - 0.5);
            float hiBound = (float) (g.hi + 0.5);
            float lo = (float) g.lo;
            float hi = (float) g.hi;
            DoubleVector acc0 = DoubleVector.zero(DS);
            DoubleVector acc1 = DoubleVector.zero(DS);
            int upper = from + FS.loopBound(to - from);
            for (; i < upper; i += FS.length()) {
                FloatVector v = FloatVector.fromArray(FS, xd, i).mul(inv);
                VectorMask<Float> below = v.lt(loBound);
                VectorMask<Float> above = v.compare(VectorOperators.GE, hiBound);
                VectorMask<Float> inside = below.or(above).not();
                FloatVector gv = FloatVector.fromArray(FS, grad, i);
                if (write) {
                    FloatVector.zero(FS).blend(gv, inside).intoArray(gx, i);
                } else if (gx != null) {
                    FloatVector.fromArray(FS, gx, i).add(gv, inside).intoArray(gx, i);
                }
                if (wantT) {
                    FloatVector local = rounded(v).sub(v).blend(lo, below).blend(hi, above);
                    acc0 = product(gv, local, 0, acc0);
                    acc1 = product(gv, local, 1, acc1);
                }
            }
            if (wantT) {
                double[] lanes = new double[2 * DS.length()];
                acc0.intoArray(lanes, 0);
                acc1.intoArray(lanes, DS.length());
                for (double l : lanes) { // fixed order
                    sum += l;
                }
            }
        }
        for (; i < to; i++) {
            double v = xd[i] / g.s;
            double r = roundHalfUp(v);
            boolean in = !(r < g.lo) && !(r > g.hi);
            if (write) {
                gx[i] = in ? grad[i] : 0f;
            } else if (in && gx != null) {
                gx[i] += grad[i];
            }
            if (wantT) {
                double local = in ? (float) (r - v) : (r < g.lo ? g.lo : g.hi);
                sum += grad[i] * local;
            }
        }
        return sum;
    }

    /** {@code acc + g·local} over half {@code part} of the float lanes, in double (the product is exact). */
    private static DoubleVector product(FloatVector g, FloatVector local, int part, DoubleVector acc) {
        DoubleVector gd = (DoubleVector) g.convertShape(VectorOperators.F2D, DS, part);
        DoubleVector ld = (DoubleVector) local.convertShape(VectorOperators.F2D, DS, part);
        return gd.fma(ld, acc);
    }

    private static void checkBits(int bits) {
        Shapes.check(bits >= 2 && bits <= 32, "bits must be in [2, 32]: %s", bits);
    }
}
