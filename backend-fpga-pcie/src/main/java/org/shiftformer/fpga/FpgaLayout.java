package org.shiftformer.fpga;

import org.shiftformer.api.backend.DatapathCycles;

/**
 * The host side of the kernel's interface, mirroring {@code src/main/hls/shiftformer_kernel.h} constant
 * for constant (a test reads the header and checks every value): op codes, kernel argument indices,
 * status codes, the descriptor table at the start of the weights buffer, and the buffer formats. The
 * prose version is backend-fpga-pcie/README.md, section "Device memory layout".
 */
final class FpgaLayout {
    private FpgaLayout() {
    }

    // ops
    static final int OP_ENCODE = 1;
    static final int OP_DECODE_STEP = 2;
    static final int OP_COPY_KV = 3;
    static final int OP_LINEAR = 16;
    static final int OP_REQUANT = 17;
    static final int OP_SOFTMAX = 18;
    static final int OP_LAYERNORM = 19;
    static final int OP_RESIDUAL = 20;

    static final int FLAG_TAP = 1;

    // kernel arguments
    static final int ARG_OP = 0;
    static final int ARG_BATCH = 1;
    static final int ARG_FLAGS = 2;
    static final int ARG_WEIGHTS = 3;
    static final int ARG_KV = 4;
    static final int ARG_SRC = 5;
    static final int ARG_IN = 6;
    static final int ARG_OUT = 7;
    static final int ARG_SCRATCH = 8;
    static final int ARG_TAPS = 9;
    /** The first of the {@link #WEIGHT_STRIPES} weight-stripe arguments ({@code wstripe0 .. wstripe3}). */
    static final int ARG_WSTRIPE0 = 10;
    static final int ARG_COUNT = 14;
    /**
     * Weight-matrix stripes: a matrix {@code [n, k]} at stripe offset {@code off} has row {@code r} in stripe
     * {@code r % WEIGHT_STRIPES} at byte {@code off + (r / WEIGHT_STRIPES) * k} (shiftformer_kernel.h).
     */
    static final int WEIGHT_STRIPES = DatapathCycles.WEIGHT_STRIPES;

    // status word out[0]
    static final int ST_OK = 0;
    private static final String[] STATUS = {"ok", "unknown op", "weights descriptor table has a wrong magic or version",
        "slot index out of range", "token id outside the vocabulary", "position or length out of range",
        "batch outside the rows capacity", "op-level operand size out of range"};

    /** A readable name of a kernel status word. */
    static String status(int st) {
        return st >= 0 && st < STATUS.length ? STATUS[st] + " (status " + st + ")" : "unknown status " + st;
    }

    // the weights buffer
    static final int WEIGHTS_MAGIC = 0x31575346;
    static final int LAYOUT_VERSION = 2;
    /**
     * Alignment of every tensor in the weights buffer and of every scratch region, in bytes: one 512-bit AXI
     * beat, so each tensor row block starts a burst on a beat boundary. Descriptor offsets are byte offsets
     * into the weights buffer, multiples of this (the op-level entry points reject any other).
     */
    static final int TENSOR_ALIGN = 64;

    static final int H_MAGIC = 0;
    static final int H_VERSION = 1;
    static final int H_TOTAL_WORDS = 2;
    static final int H_D = 3;
    static final int H_HEADS = 4;
    static final int H_DFF = 5;
    static final int H_ENC_LAYERS = 6;
    static final int H_DEC_LAYERS = 7;
    static final int H_VOCAB = 8;
    static final int H_MAX_POS = 9;
    static final int H_EMBED_SCALE = 10;
    static final int H_PAD = 11;
    static final int H_BOS = 12;
    static final int H_EOS = 13;
    static final int H_EMBED_OFF = 14;
    static final int H_EMBED_EXP = 15;
    static final int H_POS_OFF = 16;
    static final int H_POS_EXP = 17;
    static final int H_ENC_EMBED_OUT = 18;
    static final int H_DEC_EMBED_OUT = 19;
    static final int H_LUT_OFF = 20;
    static final int H_ENC_FINAL = 21;
    static final int H_DEC_FINAL = 25;
    static final int H_ROWS = 29;
    static final int H_KV_SLOTS = 30;
    static final int H_SRC_SLOTS = 31;
    static final int HDR_WORDS = 32;

    static final int LIN_WORDS = 4;
    static final int LN_WORDS = 4;
    static final int A_Q = 0;
    static final int A_K = 4;
    static final int A_V = 8;
    static final int A_O = 12;
    static final int A_CTX_EXP = 16;
    static final int ATT_WORDS = 17;
    static final int E_LN1 = 0;
    static final int E_ATT = 4;
    static final int E_LN2 = E_ATT + ATT_WORDS;
    static final int E_FFN1 = E_LN2 + 4;
    static final int E_FFN2 = E_FFN1 + 4;
    static final int ENC_LAYER_WORDS = E_FFN2 + 4;
    static final int D_LN1 = 0;
    static final int D_SELF = 4;
    static final int D_LN2 = D_SELF + ATT_WORDS;
    static final int D_CROSS = D_LN2 + 4;
    static final int D_LN3 = D_CROSS + ATT_WORDS;
    static final int D_FFN1 = D_LN3 + 4;
    static final int D_FFN2 = D_FFN1 + 4;
    static final int DEC_LAYER_WORDS = D_FFN2 + 4;

    // in / out
    static final int IN_HDR = 16;
    static final int OUT_HDR = 16;
    /** out[2], out[3]: low and high 32 bits of the run's cycle count. */
    static final int OUT_CYCLES_LO = 2;
    static final int OUT_CYCLES_HI = 3;
    static final int DECODE_WORDS_PER_SEQ = 5;
    /** int32 words per 64-byte word of the kernel's 512-bit ports (in, out and taps hold int32 words). */
    static final int WORD_INTS = 16;

    /** {@code v} int32 words rounded up to whole 64-byte port words (shiftformer_kernel.h, {@code align_words}). */
    static long alignWords(long v) {
        return (v + WORD_INTS - 1) / WORD_INTS * WORD_INTS;
    }

    /**
     * The word index of sequence {@code b}'s tokens in the input of an ENCODE run of {@code batch} sources
     * (shiftformer_kernel.h, {@code enc_tokens_at}): after the header and the (slot, length) pairs, each source's
     * tokens start on a 64-byte word, {@code alignWords(maxPositions)} words apart.
     */
    static long encodeTokensAt(int batch, int b, int maxPositions) {
        return IN_HDR + alignWords(2L * batch) + b * alignWords(maxPositions);
    }

    // op-level parameters in[0 .. IN_HDR): byte offsets into the weights buffer
    static final int P_LIN_W_OFF = 5;
    static final int P_LIN_B_OFF = 6;
    static final int P_LN_GAMMA_OFF = 4;
    static final int P_LN_BETA_OFF = 5;

    /** SPEC.md section 8: the kernel's on-chip score and probability rows hold this many positions (datapath.h). */
    static final int MAX_POSITIONS = 8192;

    /**
     * {@code v} rounded up to a multiple of {@link #TENSOR_ALIGN} (shiftformer_kernel.h, {@code align_up}): also the
     * size of every buffer the host allocates, since each kernel argument is a 512-bit port that moves whole 64-byte
     * words (the emulation rejects a buffer that is not).
     */
    static long alignUp(long v) {
        return (v + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
    }

    /**
     * Bytes of the scratch buffer (shiftformer_kernel.h, {@code scratch_bytes}): the residual stream, five
     * int8 activation regions and the FFN hidden region, each starting at a multiple of {@link #TENSOR_ALIGN}.
     */
    static long scratchBytes(long rows, long d, long dff) {
        return alignUp(rows * d * 2) + 5 * alignUp(rows * d) + alignUp(rows * dff);
    }
}
