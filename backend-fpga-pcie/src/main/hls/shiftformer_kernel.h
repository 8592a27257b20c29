// The shiftformer HLS kernel: SPEC.md's integer encoder pass and batched decoder step, one kernel run
// per model step. Plain int8_t/int16_t/int32_t/int64_t arithmetic; g++ -std=c++17 builds it unchanged
// (the host emulation runs this very source), Vitis HLS synthesises it (src/main/vitis).
//
// Everything the host and the kernel must agree on is in this header: the op codes, the argument order,
// the descriptor table at the start of the weights buffer, the layouts of the KV-cache and source
// buffers, the input/output/tap buffer formats and the status codes. backend-fpga-pcie/README.md
// ("Device memory layout") describes the same thing in prose; the Java side (FpgaLayout.java) mirrors
// these constants and a test checks the two agree.
#ifndef SHIFTFORMER_KERNEL_H
#define SHIFTFORMER_KERNEL_H

#include <stdint.h>

#include "datapath.h"

namespace sfk {

// ---- ops (kernel scalar argument `op`) -------------------------------------------------------------
enum Op : int32_t {
  OP_ENCODE = 1,       // encoder pass of `batch` sources into source slots (+ cross-attention K/V)
  OP_DECODE_STEP = 2,  // one decoder step for `batch` live sequences (KV-cache slots), logits out
  OP_COPY_KV = 3,      // copy the first `rows` cached rows of a KV slot into another (fork / copyFrom)
  // Op-level entry points, so the host can check each SPEC.md op of this source against the reference
  // (the backend conformance kit). Operands travel widened to int32 in `in`, results in `out`.
  OP_LINEAR = 16,
  OP_REQUANT = 17,
  OP_SOFTMAX = 18,
  OP_LAYERNORM = 19,
  OP_RESIDUAL = 20,
};

// flags (kernel scalar argument `flags`)
constexpr int32_t FLAG_TAP = 1;  // also write every layer output (LayerTap points) to `taps`

// ---- kernel argument indices (xrtRunSetArg order) ---------------------------------------------------
enum Arg : int32_t {
  ARG_OP = 0, ARG_BATCH = 1, ARG_FLAGS = 2,                   // int32 scalars
  ARG_WEIGHTS = 3, ARG_KV = 4, ARG_SRC = 5, ARG_IN = 6,       // buffers
  ARG_OUT = 7, ARG_SCRATCH = 8, ARG_TAPS = 9,
  ARG_WSTRIPE0 = 10,                                          // WEIGHT_STRIPES buffers: wstripe0 .. wstripe3
  ARG_COUNT = 14,
};

// ---- status word out[0] (0 = success) ----------------------------------------------------------------
enum Status : int32_t {
  ST_OK = 0,
  ST_BAD_OP = 1,
  ST_BAD_WEIGHTS = 2,    // magic/version of the descriptor table wrong
  ST_BAD_SLOT = 3,       // a KV or source slot index out of range
  ST_BAD_TOKEN = 4,      // a token id outside the vocabulary
  ST_BAD_POSITION = 5,   // a position or length outside [0, max_positions)
  ST_BAD_BATCH = 6,      // batch outside [1, rows capacity]
  ST_BAD_OPERAND = 7,    // an op-level operand size out of range
};

// ---- the weights buffer ------------------------------------------------------------------------------
// Little-endian throughout. It starts with the descriptor table, int32 words: HDR_WORDS global words,
// then ENC_LAYER_WORDS per encoder layer, then DEC_LAYER_WORDS per decoder layer. Every tensor offset is
// a BYTE offset from the start of the buffer, aligned to TENSOR_ALIGN bytes. The host writes it once per
// model load.
constexpr int32_t WEIGHTS_MAGIC = 0x31575346;  // "FSW1" little-endian
constexpr int32_t LAYOUT_VERSION = 2;
constexpr int32_t TENSOR_ALIGN = 64;

enum Hdr : int32_t {
  H_MAGIC = 0, H_VERSION, H_TOTAL_WORDS, H_D, H_HEADS, H_DFF, H_ENC_LAYERS, H_DEC_LAYERS, H_VOCAB,
  H_MAX_POS, H_EMBED_SCALE, H_PAD, H_BOS, H_EOS,
  H_EMBED_OFF, H_EMBED_EXP, H_POS_OFF, H_POS_EXP, H_ENC_EMBED_OUT, H_DEC_EMBED_OUT, H_LUT_OFF,
  H_ENC_FINAL,                 // 4 words: a LayerNorm descriptor
  H_DEC_FINAL = H_ENC_FINAL + 4,
  H_ROWS = H_DEC_FINAL + 4,    // rows capacity of the scratch buffer: max(max_positions, KV slots)
  H_KV_SLOTS,                  // slots of the KV-cache buffer
  H_SRC_SLOTS,                 // slots of the source buffer
  HDR_WORDS = 32,
};

// A LINEAR descriptor: weight [n, k] int8 and bias [n] int32 offsets, accumulator and output exponents. The
// weight's offset is into the weight stripes (below), the bias's into the weights buffer.
//
// ---- the weight stripes (int8, issue 16 item 1) ---------------------------------------------------------------
// WEIGHT_STRIPES buffers with the same layout, one per weight-matrix port (on the U55C each on its own HBM
// pseudo-channels): a matrix [n, k] at stripe offset off has row r in stripe r % WEIGHT_STRIPES at byte
// off + (r / WEIGHT_STRIPES) * k, so the PE_C rows of a weight block load WEIGHT_STRIPES at a time. Every
// linear's weight is there, and the tied embedding [vocab, d] (the logits' weight) at offset 0; the weights
// buffer keeps its own copy of the embedding for the embedding rows. Offsets are multiples of TENSOR_ALIGN.
enum Lin : int32_t { L_W = 0, L_B, L_ACC_EXP, L_OUT_EXP, LIN_WORDS };
// A LAYERNORM descriptor: gamma [d] int16 and beta [d] int32 offsets, gamma and output exponents.
enum Ln : int32_t { N_GAMMA = 0, N_BETA, N_GAMMA_EXP, N_OUT_EXP, LN_WORDS };
// An ATTENTION descriptor: q, k, v, o linears, then the context exponent.
enum Att : int32_t { A_Q = 0, A_K = 4, A_V = 8, A_O = 12, A_CTX_EXP = 16, ATT_WORDS = 17 };
// Encoder layer: ln1, attn, ln2, ffn1, ffn2.
enum Enc : int32_t {
  E_LN1 = 0, E_ATT = 4, E_LN2 = E_ATT + ATT_WORDS, E_FFN1 = E_LN2 + 4, E_FFN2 = E_FFN1 + 4,
  ENC_LAYER_WORDS = E_FFN2 + 4,
};
// Decoder layer: ln1, self, ln2, cross, ln3, ffn1, ffn2.
enum Dec : int32_t {
  D_LN1 = 0, D_SELF = 4, D_LN2 = D_SELF + ATT_WORDS, D_CROSS = D_LN2 + 4, D_LN3 = D_CROSS + ATT_WORDS,
  D_FFN1 = D_LN3 + 4, D_FFN2 = D_FFN1 + 4, DEC_LAYER_WORDS = D_FFN2 + 4,
};

// ---- the KV-cache buffer (int8) ------------------------------------------------------------------------
// kv_slots slots; slot s, decoder layer l, K (0) or V (1) is a [max_positions, d] int8 block at
//   ((s * dec_layers + l) * 2 + kv) * max_positions * d.
// Row t holds the self-attention key/value of position t. A DecoderState owns one slot.
//
// ---- the source buffer (int8) ---------------------------------------------------------------------------
// src_slots slots of (1 + 2 * dec_layers) [max_positions, d] blocks: the encoder memory, then for each
// decoder layer the cross-attention K and V. An EncodedSource owns one slot.
//
// ---- in / out (int32 little-endian words, read and written through 512-bit ports: 16 words a beat) ------------
// ENCODE:       in[IN_HDR + 2b] = source slot, in[IN_HDR + 2b + 1] = length n_b, tokens of sequence b at
//               in[enc_tokens_at(batch, b, max_positions) + i]: each source's tokens start on a 64-byte word.
// DECODE_STEP:  in[IN_HDR + 5b ..] = kv slot, source slot, source length, position, token (the kernel bursts
//               them on chip ROW_TILE sequences at a time).
//               out[OUT_HDR + b * vocab + v] = logits.
// COPY_KV:      in[IN_HDR] = from slot, in[IN_HDR + 1] = to slot, in[IN_HDR + 2] = rows.
// Op-level:     parameters in in[0 .. IN_HDR), operands from in[IN_HDR], results from out[OUT_HDR].
// out[0] is the status word of every run; out[1] the number of rows (sequences) processed; out[2] and out[3]
// the low and high 32 bits of the run's cycle count (datapath.h's formulas over the loop nest the run took).
constexpr int32_t OUT_CYCLES_LO = 2;
constexpr int32_t OUT_CYCLES_HI = 3;
constexpr int32_t IN_HDR = 16;
constexpr int32_t OUT_HDR = 16;
constexpr int32_t WORD_INTS = 16;  // int32 words per 64-byte port word
inline int64_t align_words(int64_t v) {
  return (v + WORD_INTS - 1) / WORD_INTS * WORD_INTS;
}
inline int64_t enc_tokens_at(int64_t batch, int64_t b, int64_t max_pos) {
  return IN_HDR + align_words(2 * batch) + b * align_words(max_pos);
}

// ---- taps (int32 little-endian words through a 512-bit port, only with FLAG_TAP) -------------------------
// ENCODE: sequence b at b * (2 * enc_layers + 2) * max_positions * d; point p (enc.embed, enc.{i}.attn,
//         enc.{i}.ffn ..., enc.final) at p * n_b * d, n_b * d values each.
// DECODE_STEP: sequence b at b * (3 * dec_layers + 2) * d; point p (dec.embed, dec.{i}.self,
//         dec.{i}.cross, dec.{i}.ffn ..., dec.final) at p * d.

// ---- the scratch buffer (device-side working memory, never synced) --------------------------------------
// rows = H_ROWS; regions at byte offsets that are multiples of TENSOR_ALIGN (each region's size rounded up):
// G int16 LE [rows, d] (the residual stream), then int8 A (LayerNorm output), Q, K, V, C (context)
// [rows, d] each, then uint8 H [rows, d_ff] (FFN hidden). Scores and probabilities of one attention row
// live on chip (at most MAX_POSITIONS each, datapath.h), not here.
inline int64_t align_up(int64_t v) {
  return (v + TENSOR_ALIGN - 1) / TENSOR_ALIGN * TENSOR_ALIGN;
}
inline int64_t scratch_bytes(int64_t rows, int64_t d, int64_t dff) {
  return align_up(rows * d * 2) + 5 * align_up(rows * d) + align_up(rows * dff);
}

// ---- op-level parameters in[0 .. IN_HDR) ----------------------------------------------------------------
// LINEAR:    rows (<= MAX_ROWS), k, x_unsigned, n (<= MAX_VOCAB), has_bias, then the weight [n, k] int8 byte offset into the weight stripes and
//            the bias [n] int32 LE one into the weights buffer (multiples of TENSOR_ALIGN); x [rows, k] widened
//            from in[IN_HDR].
// LAYERNORM: rows, d, gamma_exp, out_exp, then the gamma [d] int16 LE and beta [d] int32 LE byte offsets into
//            the weights buffer; x [rows, d] widened from in[IN_HDR].
// REQUANT:   len, shift, to_unsigned; SOFTMAX: rows, len (<= MAX_POSITIONS), score_exp; RESIDUAL: len, r_exp,
//            acc_exp, out_exp.
enum OpParam : int32_t { P_LIN_W_OFF = 5, P_LIN_B_OFF = 6, P_LN_GAMMA_OFF = 4, P_LN_BETA_OFF = 5 };

}  // namespace sfk

extern "C" {
// The kernel. Every pointer argument is its own m_axi port and bundle (see the INTERFACE pragmas in
// shiftformer_kernel.cpp); everything inside the kernel addresses a port by an offset from its base.
// The status goes to out[0] only: a card ignores a kernel's return value, so there is none.
void shiftformer_step(int32_t op, int32_t batch, int32_t flags, const word512_t* weights, word512_t* kv,
                      word512_t* src, const word512_t* in, word512_t* out, word512_t* scratch, word512_t* taps,
                      const word512_t* wstripe0, const word512_t* wstripe1, const word512_t* wstripe2,
                      const word512_t* wstripe3);
}

#endif
