package org.shiftformer.api.model;

import static org.shiftformer.api.model.TensorNames.beta;
import static org.shiftformer.api.model.TensorNames.bias;
import static org.shiftformer.api.model.TensorNames.dec;
import static org.shiftformer.api.model.TensorNames.enc;
import static org.shiftformer.api.model.TensorNames.gamma;
import static org.shiftformer.api.model.TensorNames.out;
import static org.shiftformer.api.model.TensorNames.weight;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.Tables;

/**
 * The typed, validated view of a {@link QuantizedModel}: every tensor present with its dtype and
 * shape, every exponent and static shift inside the ranges of SPEC.md section 8, the accumulator bound
 * proven for every row of every LINEAR, and the softmax table equal to the specification's. A model
 * that passes {@link #of} can be executed without any int32 overflow.
 */
public final class TransformerWeights {
    public static final int MIN_EXPONENT = -48;
    public static final int MAX_EXPONENT = 16;

    private final ModelConfig config;
    private final byte[] embed;
    private final int embedExp;
    private final byte[] positions;
    private final int positionsExp;
    private final int encEmbedOut;
    private final int decEmbedOut;
    private final List<EncoderLayer> encoder;
    private final List<DecoderLayer> decoder;
    private final LayerNormParams encFinal;
    private final LayerNormParams decFinal;
    private final int[] softmaxLut;

    private TransformerWeights(Builder b) {
        this.config = b.config;
        this.embed = b.embed;
        this.embedExp = b.embedExp;
        this.positions = b.positions;
        this.positionsExp = b.positionsExp;
        this.encEmbedOut = b.encEmbedOut;
        this.decEmbedOut = b.decEmbedOut;
        this.encoder = List.copyOf(b.encoder);
        this.decoder = List.copyOf(b.decoder);
        this.encFinal = b.encFinal;
        this.decFinal = b.decFinal;
        this.softmaxLut = b.softmaxLut;
    }

    public ModelConfig config() {
        return config;
    }

    /** Tied embedding table, int8 {@code [vocab, d]}. Shared, do not modify. */
    public byte[] embed() {
        return embed;
    }

    public int embedExp() {
        return embedExp;
    }

    /** Positional table, int8 {@code [max_positions, d]}. Shared, do not modify. */
    public byte[] positions() {
        return positions;
    }

    public int positionsExp() {
        return positionsExp;
    }

    public int encEmbedOut() {
        return encEmbedOut;
    }

    public int decEmbedOut() {
        return decEmbedOut;
    }

    public List<EncoderLayer> encoder() {
        return encoder;
    }

    public List<DecoderLayer> decoder() {
        return decoder;
    }

    public LayerNormParams encFinal() {
        return encFinal;
    }

    public LayerNormParams decFinal() {
        return decFinal;
    }

    /** Exponent of the int32 logits, {@code dec.final.out + eE}. */
    public int logitsExp() {
        return decFinal.outExp() + embedExp;
    }

    /** The softmax table. Shared, do not modify. */
    public int[] softmaxLut() {
        return softmaxLut;
    }

    /**
     * Validates and types {@code model}.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARTIFACT} naming the first problem found
     */
    public static TransformerWeights of(QuantizedModel model) {
        return new Builder(model).build();
    }

    private static final class Builder {
        private final QuantizedModel model;
        private final ModelConfig config;
        private final Set<String> usedTensors = new HashSet<>();
        private final Set<String> usedExponents = new HashSet<>();
        byte[] embed;
        int embedExp;
        byte[] positions;
        int positionsExp;
        int encEmbedOut;
        int decEmbedOut;
        final List<EncoderLayer> encoder = new ArrayList<>();
        final List<DecoderLayer> decoder = new ArrayList<>();
        LayerNormParams encFinal;
        LayerNormParams decFinal;
        int[] softmaxLut;

        Builder(QuantizedModel model) {
            this.model = model;
            this.config = model.config().validate();
        }

        TransformerWeights build() {
            int d = config.dModel();
            softmaxLut = model.softmaxLut();
            if (!Arrays.equals(softmaxLut, Tables.exp2Lut())) {
                throw invalid("softmax table differs from SPEC.md appendix A (EXP2_LUT)");
            }
            QTensor e = tensor(TensorNames.EMBED, DType.INT8, config.vocabSize(), d);
            embed = e.toByteArray();
            embedExp = exponentInRange(TensorNames.EMBED, e.exponent());
            QTensor p = tensor(TensorNames.POSITIONS, DType.INT8, config.maxPositions(), d);
            positions = p.toByteArray();
            positionsExp = exponentInRange(TensorNames.POSITIONS, p.exponent());
            encEmbedOut = exponent(TensorNames.ENC_EMBED_OUT);
            decEmbedOut = exponent(TensorNames.DEC_EMBED_OUT);
            for (int eOut : new int[] {encEmbedOut, decEmbedOut}) {
                checkShift("embedding", eOut - (embedExp + config.embedScaleLog2()));
                checkShift("positional table", eOut - positionsExp);
            }

            int residual = encEmbedOut;
            for (int i = 0; i < config.encoderLayers(); i++) {
                LayerNormParams ln1 = layerNorm(enc(i, "ln1"));
                Attention attn = attention(enc(i, "attn"), ln1.outExp(), ln1.outExp(), residual);
                residual = attn.o().outExp();
                LayerNormParams ln2 = layerNorm(enc(i, "ln2"));
                Linear ffn1 = linear(enc(i, "ffn.1"), config.dFf(), d, ln2.outExp(), false, true, DType.UINT8);
                Linear ffn2 = residualLinear(enc(i, "ffn.2"), d, config.dFf(), ffn1.outExp(), true, residual);
                residual = ffn2.outExp();
                encoder.add(new EncoderLayer(ln1, attn, ln2, ffn1, ffn2));
            }
            encFinal = layerNorm(TensorNames.ENC_FINAL);
            int memoryExp = encFinal.outExp();

            residual = decEmbedOut;
            for (int i = 0; i < config.decoderLayers(); i++) {
                LayerNormParams ln1 = layerNorm(dec(i, "ln1"));
                Attention self = attention(dec(i, "self"), ln1.outExp(), ln1.outExp(), residual);
                residual = self.o().outExp();
                LayerNormParams ln2 = layerNorm(dec(i, "ln2"));
                Attention cross = attention(dec(i, "cross"), ln2.outExp(), memoryExp, residual);
                residual = cross.o().outExp();
                LayerNormParams ln3 = layerNorm(dec(i, "ln3"));
                Linear ffn1 = linear(dec(i, "ffn.1"), config.dFf(), d, ln3.outExp(), false, true, DType.UINT8);
                Linear ffn2 = residualLinear(dec(i, "ffn.2"), d, config.dFf(), ffn1.outExp(), true, residual);
                residual = ffn2.outExp();
                decoder.add(new DecoderLayer(ln1, self, ln2, cross, ln3, ffn1, ffn2));
            }
            decFinal = layerNorm(TensorNames.DEC_FINAL);

            int logitsExp = decFinal.outExp() + embedExp;
            if (logitsExp > 8) {
                throw invalid("logits exponent " + logitsExp + " (dec.final.out + embed exponent) exceeds 8");
            }
            // Tied logits: int8 x int8 over d_model <= 1024 cannot overflow (SPEC.md section 8).
            Set<String> unused = new HashSet<>(model.tensors().keySet());
            unused.removeAll(usedTensors);
            if (!unused.isEmpty()) {
                throw invalid("unexpected tensor(s) " + new java.util.TreeSet<>(unused));
            }
            Set<String> unusedExp = new HashSet<>(model.exponents().keySet());
            unusedExp.removeAll(usedExponents);
            if (!unusedExp.isEmpty()) {
                throw invalid("unexpected exponent(s) " + new java.util.TreeSet<>(unusedExp));
            }
            return new TransformerWeights(this);
        }

        private Attention attention(String prefix, int queryInExp, int kvInExp, int residualExp) {
            int d = config.dModel();
            Linear q = linear(prefix + ".q", d, d, queryInExp, false, true, DType.INT8);
            Linear k = linear(prefix + ".k", d, d, kvInExp, false, true, DType.INT8);
            Linear v = linear(prefix + ".v", d, d, kvInExp, false, true, DType.INT8);
            int scoreExp = q.outExp() + k.outExp();
            checkShift(prefix + " softmax input (eQ + eK = " + scoreExp + ")", -(scoreExp + Tables.SOFTMAX_FRAC_BITS));
            int ctx = exponent(out(prefix + ".ctx"));
            checkShift(out(prefix + ".ctx"), ctx - (-8 + v.outExp()));
            Linear o = residualLinear(prefix + ".o", d, d, ctx, false, residualExp);
            return new Attention(q, k, v, o, ctx);
        }

        private Linear residualLinear(String prefix, int n, int k, int inExp, boolean unsignedInput, int residualExp) {
            Linear l = linear(prefix, n, k, inExp, unsignedInput, false, DType.INT16);
            checkShift(out(prefix) + " (residual input)", l.outExp() - residualExp);
            return l;
        }

        private Linear linear(String prefix, int n, int k, int inExp, boolean unsignedInput, boolean requantized,
                              DType outType) {
            QTensor w = tensor(weight(prefix), DType.INT8, n, k);
            QTensor b = tensor(bias(prefix), DType.INT32, n);
            int wExp = exponentInRange(weight(prefix), w.exponent());
            if (b.exponent() != inExp + wExp) {
                throw invalid("bias " + bias(prefix) + " has exponent " + b.exponent()
                        + " but the accumulator exponent (input " + inExp + " + weight " + wExp + ") is " + (inExp + wExp));
            }
            int outExp = exponent(out(prefix));
            checkShift(out(prefix) + " (" + outType + " output)", outExp - (inExp + wExp));
            byte[] weights = w.toByteArray();
            int[] biases = b.toIntArray();
            long xmax = unsignedInput ? 255 : 128;
            for (int row = 0; row < n; row++) {
                long bound = Math.abs((long) biases[row]);
                for (int i = 0; i < k; i++) {
                    bound += xmax * Math.abs(weights[row * k + i]);
                }
                if (bound > Integer.MAX_VALUE) {
                    throw invalid("accumulator bound of " + prefix + " row " + row + " is " + bound
                            + " > 2^31-1 (SPEC.md section 8): |bias| + " + xmax + " * sum|W| must fit int32");
                }
            }
            return new Linear(prefix, n, k, weights, wExp, biases, inExp, outExp, unsignedInput);
        }

        private LayerNormParams layerNorm(String prefix) {
            int d = config.dModel();
            QTensor g = tensor(gamma(prefix), DType.INT16, d);
            QTensor b = tensor(beta(prefix), DType.INT32, d);
            int gExp = exponentInRange(gamma(prefix), g.exponent());
            if (b.exponent() != gExp - 12) {
                throw invalid("beta " + beta(prefix) + " has exponent " + b.exponent() + ", expected gamma exponent - 12 = "
                        + (gExp - 12));
            }
            int outExp = exponent(out(prefix));
            checkShift(out(prefix), outExp - (gExp - 12));
            return new LayerNormParams(prefix, g.toShortArray(), b.toIntArray(), gExp, outExp);
        }

        private QTensor tensor(String name, DType dtype, int... shape) {
            QTensor t = model.tensor(name);
            if (t.dtype() != dtype) {
                throw invalid("tensor " + name + " is " + t.dtype() + ", expected " + dtype);
            }
            if (!Arrays.equals(t.shape(), shape)) {
                throw invalid("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", expected "
                        + Arrays.toString(shape));
            }
            usedTensors.add(name);
            return t;
        }

        private int exponent(String name) {
            usedExponents.add(name);
            return exponentInRange(name, model.exponent(name));
        }

        private static int exponentInRange(String name, int e) {
            if (e < MIN_EXPONENT || e > MAX_EXPONENT) {
                throw invalid("exponent of " + name + " is " + e + ", outside [" + MIN_EXPONENT + ", " + MAX_EXPONENT + "]");
            }
            return e;
        }

        private static void checkShift(String what, int k) {
            if (k < IntOps.MIN_SHIFT || k > IntOps.MAX_SHIFT) {
                throw invalid("shift " + k + " at " + what + " is outside [" + IntOps.MIN_SHIFT + ", " + IntOps.MAX_SHIFT
                        + "] (SPEC.md section 1.1)");
            }
        }

        private static ShiftformerException invalid(String message) {
            return new ShiftformerException(ErrorCode.INVALID_ARTIFACT, message);
        }
    }
}
