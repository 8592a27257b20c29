package org.shiftformer.fpga;

import static org.shiftformer.fpga.FpgaLayout.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.Attention;
import org.shiftformer.api.model.DecoderLayer;
import org.shiftformer.api.model.EncoderLayer;
import org.shiftformer.api.model.LayerNormParams;
import org.shiftformer.api.model.Linear;
import org.shiftformer.api.model.TransformerWeights;

/**
 * The weights buffer and the weight stripes of one model, packed once at load. The weights buffer: the
 * descriptor table (int32 words, layout in {@link FpgaLayout} and shiftformer_kernel.h), then every tensor
 * but the weight matrices little-endian at a {@value FpgaLayout#TENSOR_ALIGN}-byte aligned byte offset: the
 * embedding, the positional table, the softmax table, and per layer its LayerNorm parameters and biases. The
 * {@value FpgaLayout#WEIGHT_STRIPES} stripes, one per weight-matrix port: every linear's weight and the tied
 * embedding (at offset 0, the logits' weight), row {@code r} of each in stripe {@code r % WEIGHT_STRIPES} at
 * the matrix's stripe offset plus {@code (r / WEIGHT_STRIPES) * k}; the stripes have the same layout and
 * size. Everything the kernel needs to run the model comes from these buffers; they stay resident on the
 * device until the model closes.
 *
 * @param bytes      the weights buffer's contents
 * @param stripes    the contents of each weight stripe
 * @param rows       rows capacity of the scratch buffer, {@code max(max_positions, kvSlots)}
 * @param kvSlots    slots of the KV-cache buffer
 * @param srcSlots   slots of the source buffer
 */
record DeviceImage(byte[] bytes, byte[][] stripes, int rows, int kvSlots, int srcSlots) {

    /** Packs {@code w} for a device with {@code kvSlots} decoder states and {@code srcSlots} sources. */
    static DeviceImage pack(TransformerWeights w, int kvSlots, int srcSlots) {
        ModelConfig c = w.config();
        int rows = Math.max(c.maxPositions(), kvSlots);
        Packer p = new Packer(c);
        p.matrix(w.embed(), c.vocabSize(), c.dModel()); // stripe offset 0: the tied logits' weight
        p.word(H_MAGIC, WEIGHTS_MAGIC);
        p.word(H_VERSION, LAYOUT_VERSION);
        p.word(H_TOTAL_WORDS, p.words);
        p.word(H_D, c.dModel());
        p.word(H_HEADS, c.heads());
        p.word(H_DFF, c.dFf());
        p.word(H_ENC_LAYERS, c.encoderLayers());
        p.word(H_DEC_LAYERS, c.decoderLayers());
        p.word(H_VOCAB, c.vocabSize());
        p.word(H_MAX_POS, c.maxPositions());
        p.word(H_EMBED_SCALE, c.embedScaleLog2());
        p.word(H_PAD, c.padId());
        p.word(H_BOS, c.bosId());
        p.word(H_EOS, c.eosId());
        p.word(H_EMBED_OFF, p.bytes(w.embed()));
        p.word(H_EMBED_EXP, w.embedExp());
        p.word(H_POS_OFF, p.bytes(w.positions()));
        p.word(H_POS_EXP, w.positionsExp());
        p.word(H_ENC_EMBED_OUT, w.encEmbedOut());
        p.word(H_DEC_EMBED_OUT, w.decEmbedOut());
        p.word(H_LUT_OFF, p.ints(w.softmaxLut()));
        p.layerNorm(H_ENC_FINAL, w.encFinal());
        p.layerNorm(H_DEC_FINAL, w.decFinal());
        p.word(H_ROWS, rows);
        p.word(H_KV_SLOTS, kvSlots);
        p.word(H_SRC_SLOTS, srcSlots);
        for (int l = 0; l < c.encoderLayers(); l++) {
            EncoderLayer e = w.encoder().get(l);
            int base = HDR_WORDS + l * ENC_LAYER_WORDS;
            p.layerNorm(base + E_LN1, e.ln1());
            p.attention(base + E_ATT, e.attn());
            p.layerNorm(base + E_LN2, e.ln2());
            p.linear(base + E_FFN1, e.ffn1());
            p.linear(base + E_FFN2, e.ffn2());
        }
        for (int l = 0; l < c.decoderLayers(); l++) {
            DecoderLayer dl = w.decoder().get(l);
            int base = HDR_WORDS + c.encoderLayers() * ENC_LAYER_WORDS + l * DEC_LAYER_WORDS;
            p.layerNorm(base + D_LN1, dl.ln1());
            p.attention(base + D_SELF, dl.self());
            p.layerNorm(base + D_LN2, dl.ln2());
            p.attention(base + D_CROSS, dl.cross());
            p.layerNorm(base + D_LN3, dl.ln3());
            p.linear(base + D_FFN1, dl.ffn1());
            p.linear(base + D_FFN2, dl.ffn2());
        }
        byte[][] stripes = new byte[WEIGHT_STRIPES][];
        for (int s = 0; s < WEIGHT_STRIPES; s++) {
            stripes[s] = p.stripes[s].finish();
        }
        return new DeviceImage(p.image.finish(), stripes, rows, kvSlots, srcSlots);
    }

    /** Bytes of the descriptor table of a model of shape {@code c}. */
    static int tableBytes(ModelConfig c) {
        return 4 * (HDR_WORDS + c.encoderLayers() * ENC_LAYER_WORDS + c.decoderLayers() * DEC_LAYER_WORDS);
    }

    /** Two passes in one: tensors are appended to growing bodies; table words are set in place. */
    private static final class Packer {
        final int words;
        final Region image;
        final Region[] stripes = new Region[WEIGHT_STRIPES];

        Packer(ModelConfig c) {
            this.words = tableBytes(c) / 4;
            this.image = new Region(align(4L * words));
            for (int s = 0; s < WEIGHT_STRIPES; s++) {
                stripes[s] = new Region(0);
            }
        }

        void word(int index, int value) {
            image.buf.putInt(4 * index, value);
        }

        int bytes(byte[] values) {
            int off = image.reserve(values.length);
            image.buf.put(off, values);
            return off;
        }

        int shorts(short[] values) {
            int off = image.reserve(2L * values.length);
            for (int i = 0; i < values.length; i++) {
                image.buf.putShort(off + 2 * i, values[i]);
            }
            return off;
        }

        int ints(int[] values) {
            int off = image.reserve(4L * values.length);
            for (int i = 0; i < values.length; i++) {
                image.buf.putInt(off + 4 * i, values[i]);
            }
            return off;
        }

        /** A matrix {@code [n, k]} split by rows over the stripes; its offset, the same in every stripe. */
        int matrix(byte[] values, int n, int k) {
            long perStripe = (long) (n + WEIGHT_STRIPES - 1) / WEIGHT_STRIPES * k;
            int off = stripes[0].reserve(perStripe);
            for (int s = 1; s < WEIGHT_STRIPES; s++) {
                stripes[s].reserve(perStripe); // the stripes grow in lockstep: the same offset in each
            }
            for (int r = 0; r < n; r++) {
                stripes[r % WEIGHT_STRIPES].buf.put(off + r / WEIGHT_STRIPES * k, values, r * k, k);
            }
            return off;
        }

        void linear(int base, Linear l) {
            word(base, matrix(l.weight(), l.n(), l.k()));
            word(base + 1, ints(l.bias()));
            word(base + 2, l.accExp());
            word(base + 3, l.outExp());
        }

        void layerNorm(int base, LayerNormParams ln) {
            word(base, shorts(ln.gamma()));
            word(base + 1, ints(ln.beta()));
            word(base + 2, ln.gammaExp());
            word(base + 3, ln.outExp());
        }

        void attention(int base, Attention a) {
            linear(base + A_Q, a.q());
            linear(base + A_K, a.k());
            linear(base + A_V, a.v());
            linear(base + A_O, a.o());
            word(base + A_CTX_EXP, a.ctxExp());
        }
    }

    /** A growing little-endian buffer of {@value FpgaLayout#TENSOR_ALIGN}-aligned tensors. */
    private static final class Region {
        ByteBuffer buf;

        Region(int start) {
            buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            buf.position(start);
        }

        /** Reserves {@code size} bytes at the current (aligned) end and returns their offset. */
        int reserve(long size) {
            int off = buf.position();
            long end = align(off + size);
            if (end > Integer.MAX_VALUE - TENSOR_ALIGN) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED, "the model's device image exceeds 2 GiB"
                        + " (the kernel's descriptor table holds int32 byte offsets)");
            }
            if (end > buf.capacity()) {
                long cap = buf.capacity();
                while (cap < end) {
                    cap *= 2;
                }
                ByteBuffer grown = ByteBuffer.allocate((int) Math.min(cap, Integer.MAX_VALUE - 8)).order(ByteOrder.LITTLE_ENDIAN);
                grown.put(0, buf, 0, buf.position());
                grown.position(buf.position());
                buf = grown;
            }
            buf.position((int) end);
            return off;
        }

        byte[] finish() {
            byte[] out = new byte[buf.position()];
            buf.get(0, out);
            return out;
        }
    }

    private static int align(long v) {
        return (int) ((v + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN);
    }
}
