// The shiftformer kernel: SPEC.md section 2 (encoder pass, batched decoder step with a KV cache) composed
// from the ops of int_ops.h. Buffer formats and the descriptor table are in shiftformer_kernel.h.
//
// Structure for the card: one run per model step (a launch costs tens of microseconds, so per-op launches
// would be wrong). Linear layers loop over weight rows outside and over the batch's rows inside, so each
// weight row is read from DDR/HBM once per step whatever the batch. The working set lives in the scratch
// buffer (device memory, never synced); the host syncs only the small per-step input to the device and
// the status + logits back.
//
// Memory interface (issue 16 item 1): the kernel has seven m_axi ports, one per data kind, each on its own
// bundle: weights (read only), kv, src, in (read only), out, scratch, taps. Inside the kernel nothing holds
// a pointer: descriptors and the scratch layout are byte offsets from a named port's base, every function
// gets the ports it touches as parameters (each parameter always bound to the same port), and attention,
// whose key/value rows come from three ports, is a template instantiated once per port. Scores and
// probabilities of an attention row are on-chip arrays. No void*, no null pointer, no width-changing
// cast of a port (int8_t <-> uint8_t reinterpretations of one byte port only).
#include "shiftformer_kernel.h"

#include "int_ops.h"

namespace sfk {
namespace {

// d_k <= d_model <= 1024 (SPEC.md section 8): the bound of the one per-head local array.
const int32_t MAX_D = 1024;

// ---- the model as the descriptor table describes it ------------------------------------------------------
// Header words read once per run; tensor offsets are byte offsets into the weights port.
struct Model {
  int32_t d, heads, dk, dff, enc_layers, dec_layers, vocab, max_pos, embed_scale, rows, kv_slots, src_slots;
  int32_t embed_off, embed_exp, pos_off, pos_exp, enc_embed_out, dec_embed_out;
  int32_t lut[64];
};

int32_t word(const uint8_t* weights, int32_t i) {
  return ld32(weights + 4 * i);
}

// A LINEAR descriptor: weight [n, k] int8 at w_off, bias [n] int32 LE at b_off (read only when has_bias),
// both byte offsets into the weights port.
struct LinDesc {
  int32_t w_off;
  int32_t b_off;
  bool has_bias;
  int32_t acc_exp, out_exp;
};
// A LAYERNORM descriptor: gamma [d] int16 LE and beta [d] int32 LE, byte offsets into the weights port.
struct LnDesc {
  int32_t gamma_off;
  int32_t beta_off;
  int32_t gamma_exp, out_exp;
};
struct AttDesc {
  LinDesc q, k, v, o;
  int32_t ctx_exp;
};

LinDesc lin_at(const uint8_t* weights, int32_t base) {
  LinDesc l;
  l.w_off = word(weights, base + L_W);
  l.b_off = word(weights, base + L_B);
  l.has_bias = true;
  l.acc_exp = word(weights, base + L_ACC_EXP);
  l.out_exp = word(weights, base + L_OUT_EXP);
  return l;
}
LnDesc ln_at(const uint8_t* weights, int32_t base) {
  LnDesc l;
  l.gamma_off = word(weights, base + N_GAMMA);
  l.beta_off = word(weights, base + N_BETA);
  l.gamma_exp = word(weights, base + N_GAMMA_EXP);
  l.out_exp = word(weights, base + N_OUT_EXP);
  return l;
}
AttDesc att_at(const uint8_t* weights, int32_t base) {
  AttDesc a;
  a.q = lin_at(weights, base + A_Q);
  a.k = lin_at(weights, base + A_K);
  a.v = lin_at(weights, base + A_V);
  a.o = lin_at(weights, base + A_O);
  a.ctx_exp = word(weights, base + A_CTX_EXP);
  return a;
}
int32_t enc_base(int32_t layer) {
  return HDR_WORDS + layer * ENC_LAYER_WORDS;
}
int32_t dec_base(const Model& m, int32_t layer) {
  return HDR_WORDS + m.enc_layers * ENC_LAYER_WORDS + layer * DEC_LAYER_WORDS;
}

// ---- the scratch buffer: byte offsets of its regions (shiftformer_kernel.h) ------------------------------
struct Scratch {
  int64_t g;  // int16 LE residual stream [rows, d]
  int64_t a;  // LayerNorm output [rows, d]
  int64_t q;
  int64_t k;
  int64_t v;
  int64_t c;  // attention context [rows, d]
  int64_t h;  // FFN hidden (ReLU, uint8) [rows, d_ff]
};

Scratch scratch_at(const Model& m) {
  int64_t rd = align_up((int64_t)m.rows * m.d);
  Scratch s;
  s.g = 0;
  s.a = align_up(2 * (int64_t)m.rows * m.d);
  s.q = s.a + rd;
  s.k = s.q + rd;
  s.v = s.k + rd;
  s.c = s.v + rd;
  s.h = s.c + rd;
  return s;
}

// ---- 3.2 LINEAR over `rows` rows, weight rows outside ---------------------------------------------------------
// x: [rows, k] int8 (uint8 when x_unsigned) at scratch + x_off; the accumulator of row r, output o.
inline int64_t linear_acc(const uint8_t* weights, const uint8_t* scratch, const LinDesc& l, int64_t bias, int64_t x_off,
                          bool x_unsigned, int32_t k, int32_t r, int32_t o) {
  const int8_t* w_row = (const int8_t*)(weights + l.w_off + (int64_t)o * k);
  const uint8_t* x_row = scratch + x_off + (int64_t)r * k;
  return bias + (x_unsigned ? dot_u8(x_row, w_row, k) : dot_s8((const int8_t*)x_row, w_row, k));
}

enum OutMode { TO_INT8, TO_UINT8, TO_RESIDUAL };

// Writes into scratch at out_off per mode: int8/uint8 [rows, n] (requantized), or the int16 LE residual
// stream [rows, n] updated in place by RESIDUAL(r at e_r, acc, out_exp).
void linear_rows(const uint8_t* weights, uint8_t* scratch, const LinDesc& l, int64_t x_off, bool x_unsigned,
                 int32_t rows, int32_t k, int32_t n, OutMode mode, int64_t out_off, int32_t e_r) {
  int32_t k_out = l.out_exp - l.acc_exp;
  int32_t k_res = l.out_exp - e_r;
  for (int32_t o = 0; o < n; o++) {
    int64_t bias = l.has_bias ? ld32(weights + l.b_off + 4 * (int64_t)o) : 0;
    for (int32_t r = 0; r < rows; r++) {
      int64_t acc = linear_acc(weights, scratch, l, bias, x_off, x_unsigned, k, r, o);
      int64_t idx = (int64_t)r * n + o;
      switch (mode) {
        case TO_INT8:
          scratch[out_off + idx] = (uint8_t)sat8(shift(acc, k_out));
          break;
        case TO_UINT8:
          scratch[out_off + idx] = satu8(shift(acc, k_out));
          break;
        case TO_RESIDUAL: {
          uint8_t* cell = scratch + out_off + 2 * idx;
          st16(cell, residual(ld16(cell), k_res, (int32_t)acc, k_out));
          break;
        }
      }
    }
  }
}

// The raw int32 accumulators [rows, n] into out[OUT_HDR ..] (the tied logits, op-level LINEAR).
void linear_to_out(const uint8_t* weights, const uint8_t* scratch, const LinDesc& l, int64_t x_off, bool x_unsigned,
                   int32_t rows, int32_t k, int32_t n, int32_t* out) {
  for (int32_t o = 0; o < n; o++) {
    int64_t bias = l.has_bias ? ld32(weights + l.b_off + 4 * (int64_t)o) : 0;
    for (int32_t r = 0; r < rows; r++) {
      out[OUT_HDR + (int64_t)r * n + o] = (int32_t)linear_acc(weights, scratch, l, bias, x_off, x_unsigned, k, r, o);
    }
  }
}

// ---- 3.3 attention of one query row -------------------------------------------------------------------------
// The key/value rows come from the kv, src or scratch port: one instantiation per port (PORT), so each
// instance's `keys` is bound to one bundle. q [d] at scratch + q_off; keys/values [*, d] int8 at
// keys + k_off / v_off, the first `n_keys` rows of which exist, the first `valid` valid. Writes the int8
// context row [d] at scratch + ctx_off.
enum KeyPort { KEYS_IN_KV, KEYS_IN_SRC, KEYS_IN_SCRATCH };

template <int PORT>
void attend_row(const Model& m, uint8_t* scratch, const AttDesc& at, int64_t q_off, const int8_t* keys, int64_t k_off,
                int64_t v_off, int32_t n_keys, int32_t valid, int64_t ctx_off) {
  int32_t e_s = at.q.out_exp + at.k.out_exp;
  int32_t k_ctx = at.ctx_exp - (-8 + at.v.out_exp);
  int32_t d = m.d;
  int32_t dk = m.dk;
  int32_t scores[MAX_POSITIONS];
  uint8_t probs[MAX_POSITIONS];
  const int8_t* q_row = (const int8_t*)(scratch + q_off);
  for (int32_t h = 0; h < m.heads; h++) {
    int32_t col = h * dk;
    for (int32_t j = 0; j < n_keys; j++) {
      scores[j] = dot_s8(q_row + col, keys + k_off + (int64_t)j * d + col, dk);
    }
    softmax2(scores, n_keys, valid, e_s, m.lut, probs);
    // Pr x V, value rows outside so V is read row by row; uint8 x int8 over positions is exact in int32
    // (section 8, the max_positions bound).
    int32_t acc[MAX_D];
    for (int32_t t = 0; t < dk; t++) {
      acc[t] = 0;
    }
    for (int32_t j = 0; j < n_keys; j++) {
      int32_t pj = probs[j];
      const int8_t* v_row = keys + v_off + (int64_t)j * d + col;
      for (int32_t t = 0; t < dk; t++) {
#pragma HLS PIPELINE II=1
        acc[t] += pj * (int32_t)v_row[t];
      }
    }
    for (int32_t t = 0; t < dk; t++) {
      scratch[ctx_off + col + t] = (uint8_t)sat8(shift(acc[t], k_ctx));
    }
  }
}

// int16 LE rows [rows, d] at scratch + x_off -> int8 rows at scratch + out_off.
void layer_norm_rows(const Model& m, const uint8_t* weights, uint8_t* scratch, int64_t x_off, int32_t rows,
                     const LnDesc& ln, int64_t out_off) {
  for (int32_t r = 0; r < rows; r++) {
    layer_norm_row(scratch + x_off + 2 * (int64_t)r * m.d, m.d, weights + ln.gamma_off, weights + ln.beta_off,
                   ln.gamma_exp, ln.out_exp, (int8_t*)(scratch + out_off + (int64_t)r * m.d));
  }
}

// ---- taps (taps port) and copies out of the scratch ----------------------------------------------------------
void tap16(int32_t* taps, int64_t tap_off, const uint8_t* scratch, int64_t off, int64_t count) {
  for (int64_t i = 0; i < count; i++) {
    taps[tap_off + i] = ld16(scratch + off + 2 * i);
  }
}
void tap8(int32_t* taps, int64_t tap_off, const uint8_t* scratch, int64_t off, int64_t count) {
  for (int64_t i = 0; i < count; i++) {
    taps[tap_off + i] = (int8_t)scratch[off + i];
  }
}
void scratch_to_src(int8_t* src, int64_t src_off, const uint8_t* scratch, int64_t off, int64_t count) {
  for (int64_t i = 0; i < count; i++) {
#pragma HLS PIPELINE II=1
    src[src_off + i] = (int8_t)scratch[off + i];
  }
}

// ---- block offsets -----------------------------------------------------------------------------------------
int64_t kv_block(const Model& m, int32_t slot, int32_t layer, int32_t which) {
  return (((int64_t)slot * m.dec_layers + layer) * 2 + which) * m.max_pos * m.d;
}
// block 0: encoder memory; 1 + 2l: cross K of decoder layer l; 2 + 2l: cross V.
int64_t src_block(const Model& m, int32_t slot, int32_t block) {
  return ((int64_t)slot * (1 + 2 * m.dec_layers) + block) * m.max_pos * m.d;
}

int32_t load_model(Model& m, const uint8_t* weights) {
  if (word(weights, H_MAGIC) != WEIGHTS_MAGIC || word(weights, H_VERSION) != LAYOUT_VERSION) {
    return ST_BAD_WEIGHTS;
  }
  m.d = word(weights, H_D);
  m.heads = word(weights, H_HEADS);
  m.dk = m.heads > 0 ? m.d / m.heads : 0;
  m.dff = word(weights, H_DFF);
  m.enc_layers = word(weights, H_ENC_LAYERS);
  m.dec_layers = word(weights, H_DEC_LAYERS);
  m.vocab = word(weights, H_VOCAB);
  m.max_pos = word(weights, H_MAX_POS);
  m.embed_scale = word(weights, H_EMBED_SCALE);
  m.rows = word(weights, H_ROWS);
  m.kv_slots = word(weights, H_KV_SLOTS);
  m.src_slots = word(weights, H_SRC_SLOTS);
  m.embed_off = word(weights, H_EMBED_OFF);
  m.embed_exp = word(weights, H_EMBED_EXP);
  m.pos_off = word(weights, H_POS_OFF);
  m.pos_exp = word(weights, H_POS_EXP);
  m.enc_embed_out = word(weights, H_ENC_EMBED_OUT);
  m.dec_embed_out = word(weights, H_DEC_EMBED_OUT);
  if (m.d < 1 || m.d > MAX_D || m.heads < 1 || m.dk * m.heads != m.d || m.max_pos < 1 || m.max_pos > MAX_POSITIONS
      || m.rows < m.max_pos) {
    return ST_BAD_WEIGHTS;
  }
  int32_t lut_off = word(weights, H_LUT_OFF);
  for (int32_t i = 0; i < 64; i++) {
    m.lut[i] = ld32(weights + lut_off + 4 * i);
  }
  return ST_OK;
}

// ---- 2.1 the encoder pass, one sequence at a time (all its rows at once) --------------------------------------
int32_t encode(const Model& m, int32_t batch, int32_t flags, const uint8_t* weights, int8_t* src, const int32_t* in,
               uint8_t* scratch, int32_t* taps) {
  Scratch sc = scratch_at(m);
  int32_t d = m.d;
  const int8_t* embed = (const int8_t*)(weights + m.embed_off);
  const int8_t* pos = (const int8_t*)(weights + m.pos_off);
  int32_t e_out = m.enc_embed_out;
  int32_t k_e = e_out - (m.embed_exp + m.embed_scale);
  int32_t k_p = e_out - m.pos_exp;
  bool tapping = (flags & FLAG_TAP) != 0;
  for (int32_t b = 0; b < batch; b++) {
    int32_t slot = in[IN_HDR + 2 * b];
    int32_t n = in[IN_HDR + 2 * b + 1];
    int64_t tokens = IN_HDR + 2 * (int64_t)batch + (int64_t)b * m.max_pos;  // word offset into in
    if (slot < 0 || slot >= m.src_slots) {
      return ST_BAD_SLOT;
    }
    if (n < 1 || n > m.max_pos) {
      return ST_BAD_POSITION;
    }
    int64_t tap = (int64_t)b * (2 * m.enc_layers + 2) * m.max_pos * d;  // word offset into taps
    int64_t nd = (int64_t)n * d;
    for (int32_t i = 0; i < n; i++) {
      int32_t token = in[tokens + i];
      if (token < 0 || token >= m.vocab) {
        return ST_BAD_TOKEN;
      }
      embed_row(embed + (int64_t)token * d, pos + (int64_t)i * d, d, k_e, k_p, scratch + sc.g + 2 * (int64_t)i * d);
    }
    if (tapping) {
      tap16(taps, tap, scratch, sc.g, nd);
      tap += nd;
    }
    int32_t e_r = e_out;
    for (int32_t l = 0; l < m.enc_layers; l++) {
      int32_t base = enc_base(l);
      AttDesc at = att_at(weights, base + E_ATT);
      layer_norm_rows(m, weights, scratch, sc.g, n, ln_at(weights, base + E_LN1), sc.a);
      linear_rows(weights, scratch, at.q, sc.a, false, n, d, d, TO_INT8, sc.q, 0);
      linear_rows(weights, scratch, at.k, sc.a, false, n, d, d, TO_INT8, sc.k, 0);
      linear_rows(weights, scratch, at.v, sc.a, false, n, d, d, TO_INT8, sc.v, 0);
      for (int32_t r = 0; r < n; r++) {
        attend_row<KEYS_IN_SCRATCH>(m, scratch, at, sc.q + (int64_t)r * d, (const int8_t*)scratch, sc.k, sc.v, n, n,
                                    sc.c + (int64_t)r * d);
      }
      linear_rows(weights, scratch, at.o, sc.c, false, n, d, d, TO_RESIDUAL, sc.g, e_r);
      e_r = at.o.out_exp;
      if (tapping) {
        tap16(taps, tap, scratch, sc.g, nd);
        tap += nd;
      }
      LinDesc f1 = lin_at(weights, base + E_FFN1);
      LinDesc f2 = lin_at(weights, base + E_FFN2);
      layer_norm_rows(m, weights, scratch, sc.g, n, ln_at(weights, base + E_LN2), sc.a);
      linear_rows(weights, scratch, f1, sc.a, false, n, d, m.dff, TO_UINT8, sc.h, 0);
      linear_rows(weights, scratch, f2, sc.h, true, n, m.dff, d, TO_RESIDUAL, sc.g, e_r);
      e_r = f2.out_exp;
      if (tapping) {
        tap16(taps, tap, scratch, sc.g, nd);
        tap += nd;
      }
    }
    // the encoder memory: computed in scratch (A), then stored to the source slot; the cross-attention K/V
    // of every decoder layer are projected from the scratch copy and stored likewise
    layer_norm_rows(m, weights, scratch, sc.g, n, ln_at(weights, H_ENC_FINAL), sc.a);
    scratch_to_src(src, src_block(m, slot, 0), scratch, sc.a, nd);
    if (tapping) {
      tap8(taps, tap, scratch, sc.a, nd);
    }
    for (int32_t l = 0; l < m.dec_layers; l++) {
      AttDesc cross = att_at(weights, dec_base(m, l) + D_CROSS);
      linear_rows(weights, scratch, cross.k, sc.a, false, n, d, d, TO_INT8, sc.k, 0);
      scratch_to_src(src, src_block(m, slot, 1 + 2 * l), scratch, sc.k, nd);
      linear_rows(weights, scratch, cross.v, sc.a, false, n, d, d, TO_INT8, sc.v, 0);
      scratch_to_src(src, src_block(m, slot, 2 + 2 * l), scratch, sc.v, nd);
    }
  }
  return ST_OK;
}

// ---- 2.2 one batched decoder step with the KV cache (section 6) ----------------------------------------------
int32_t decode_step(const Model& m, int32_t batch, int32_t flags, const uint8_t* weights, int8_t* kv, const int8_t* src,
                    const int32_t* in, int32_t* out, uint8_t* scratch, int32_t* taps) {
  Scratch sc = scratch_at(m);
  int32_t d = m.d;
  const int32_t seq = IN_HDR;  // word offset into in: 5 words per sequence
  for (int32_t b = 0; b < batch; b++) {
    int32_t kv_slot = in[seq + 5 * b], src_slot = in[seq + 5 * b + 1], n = in[seq + 5 * b + 2];
    int32_t t = in[seq + 5 * b + 3], token = in[seq + 5 * b + 4];
    if (kv_slot < 0 || kv_slot >= m.kv_slots || src_slot < 0 || src_slot >= m.src_slots) {
      return ST_BAD_SLOT;
    }
    if (n < 1 || n > m.max_pos || t < 0 || t >= m.max_pos) {
      return ST_BAD_POSITION;
    }
    if (token < 0 || token >= m.vocab) {
      return ST_BAD_TOKEN;
    }
  }
  const int8_t* embed = (const int8_t*)(weights + m.embed_off);
  const int8_t* pos = (const int8_t*)(weights + m.pos_off);
  int32_t e_out = m.dec_embed_out;
  int32_t k_e = e_out - (m.embed_exp + m.embed_scale);
  int32_t k_p = e_out - m.pos_exp;
  int64_t tap_stride = (int64_t)(3 * m.dec_layers + 2) * d;
  int32_t point = 0;
  bool tapping = (flags & FLAG_TAP) != 0;
  for (int32_t b = 0; b < batch; b++) {
    embed_row(embed + (int64_t)in[seq + 5 * b + 4] * d, pos + (int64_t)in[seq + 5 * b + 3] * d, d, k_e, k_p,
              scratch + sc.g + 2 * (int64_t)b * d);
  }
  if (tapping) {
    for (int32_t b = 0; b < batch; b++) {
      tap16(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, d);
    }
    point++;
  }
  int32_t e_r = e_out;
  for (int32_t l = 0; l < m.dec_layers; l++) {
    int32_t base = dec_base(m, l);
    // causal self-attention: the new row is appended to the cache, then attends to rows 0..t
    AttDesc self = att_at(weights, base + D_SELF);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(weights, base + D_LN1), sc.a);
    linear_rows(weights, scratch, self.q, sc.a, false, batch, d, d, TO_INT8, sc.q, 0);
    linear_rows(weights, scratch, self.k, sc.a, false, batch, d, d, TO_INT8, sc.k, 0);
    linear_rows(weights, scratch, self.v, sc.a, false, batch, d, d, TO_INT8, sc.v, 0);
    for (int32_t b = 0; b < batch; b++) {
      int32_t slot = in[seq + 5 * b];
      int32_t t = in[seq + 5 * b + 3];
      int64_t ck = kv_block(m, slot, l, 0);
      int64_t cv = kv_block(m, slot, l, 1);
      for (int32_t j = 0; j < d; j++) {
        kv[ck + (int64_t)t * d + j] = (int8_t)scratch[sc.k + (int64_t)b * d + j];
        kv[cv + (int64_t)t * d + j] = (int8_t)scratch[sc.v + (int64_t)b * d + j];
      }
      attend_row<KEYS_IN_KV>(m, scratch, self, sc.q + (int64_t)b * d, kv, ck, cv, t + 1, t + 1, sc.c + (int64_t)b * d);
    }
    linear_rows(weights, scratch, self.o, sc.c, false, batch, d, d, TO_RESIDUAL, sc.g, e_r);
    e_r = self.o.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
        tap16(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, d);
      }
      point++;
    }
    // cross-attention over the source's precomputed K/V
    AttDesc cross = att_at(weights, base + D_CROSS);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(weights, base + D_LN2), sc.a);
    linear_rows(weights, scratch, cross.q, sc.a, false, batch, d, d, TO_INT8, sc.q, 0);
    for (int32_t b = 0; b < batch; b++) {
      int32_t slot = in[seq + 5 * b + 1];
      int32_t n = in[seq + 5 * b + 2];
      attend_row<KEYS_IN_SRC>(m, scratch, cross, sc.q + (int64_t)b * d, src, src_block(m, slot, 1 + 2 * l),
                              src_block(m, slot, 2 + 2 * l), n, n, sc.c + (int64_t)b * d);
    }
    linear_rows(weights, scratch, cross.o, sc.c, false, batch, d, d, TO_RESIDUAL, sc.g, e_r);
    e_r = cross.o.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
        tap16(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, d);
      }
      point++;
    }
    // feed-forward
    LinDesc f1 = lin_at(weights, base + D_FFN1);
    LinDesc f2 = lin_at(weights, base + D_FFN2);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(weights, base + D_LN3), sc.a);
    linear_rows(weights, scratch, f1, sc.a, false, batch, d, m.dff, TO_UINT8, sc.h, 0);
    linear_rows(weights, scratch, f2, sc.h, true, batch, m.dff, d, TO_RESIDUAL, sc.g, e_r);
    e_r = f2.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
        tap16(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, d);
      }
      point++;
    }
  }
  layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(weights, H_DEC_FINAL), sc.a);
  if (tapping) {
    for (int32_t b = 0; b < batch; b++) {
      tap8(taps, b * tap_stride + point * d, scratch, sc.a + (int64_t)b * d, d);
    }
  }
  // 3.8 tied logits: f x E^T, no bias, int32 at eF + eE
  LinDesc tied;
  tied.w_off = m.embed_off;
  tied.b_off = 0;
  tied.has_bias = false;
  tied.acc_exp = 0;
  tied.out_exp = 0;
  linear_to_out(weights, scratch, tied, sc.a, false, batch, d, m.vocab, out);
  return ST_OK;
}

int32_t copy_kv(const Model& m, int8_t* kv, const int32_t* in) {
  int32_t from = in[IN_HDR];
  int32_t to = in[IN_HDR + 1];
  int32_t rows = in[IN_HDR + 2];
  if (from < 0 || from >= m.kv_slots || to < 0 || to >= m.kv_slots) {
    return ST_BAD_SLOT;
  }
  if (rows < 0 || rows > m.max_pos) {
    return ST_BAD_POSITION;
  }
  for (int32_t l = 0; l < m.dec_layers; l++) {
    for (int32_t which = 0; which < 2; which++) {
      int64_t a = kv_block(m, from, l, which);
      int64_t b = kv_block(m, to, l, which);
      for (int64_t i = 0; i < (int64_t)rows * m.d; i++) {
#pragma HLS PIPELINE II=1
        kv[b + i] = kv[a + i];
      }
    }
  }
  return ST_OK;
}

// ---- op-level entry points: operands widened to int32 in `in` (weights, bias, gamma, beta in the weights
// port at the offsets of in[0 .. IN_HDR)), activations narrowed into scratch, results to out ----------------
const int32_t MAX_OPERAND = 1 << 26;

bool bad_size(int64_t v) {
  return v < 0 || v > MAX_OPERAND;
}
bool bad_offset(int32_t off) {
  return off < 0 || off % TENSOR_ALIGN != 0;
}

int32_t op_linear(const uint8_t* weights, const int32_t* in, int32_t* out, uint8_t* scratch) {
  int32_t rows = in[0], k = in[1], x_unsigned = in[2], n = in[3], has_bias = in[4];
  if (rows < 1 || k < 1 || n < 1 || bad_size((int64_t)rows * k) || bad_size((int64_t)n * k)
      || bad_offset(in[P_LIN_W_OFF]) || bad_offset(in[P_LIN_B_OFF])) {
    return ST_BAD_OPERAND;
  }
  for (int64_t i = 0; i < (int64_t)rows * k; i++) {
    scratch[i] = (uint8_t)in[IN_HDR + i];
  }
  LinDesc l;
  l.w_off = in[P_LIN_W_OFF];
  l.b_off = in[P_LIN_B_OFF];
  l.has_bias = has_bias != 0;
  l.acc_exp = 0;
  l.out_exp = 0;
  linear_to_out(weights, scratch, l, 0, x_unsigned != 0, rows, k, n, out);
  return ST_OK;
}

int32_t op_requant(const int32_t* in, int32_t* out) {
  int32_t len = in[0], k = in[1], to_unsigned = in[2];
  if (len < 0 || bad_size(len) || k < -24 || k > 62) {
    return ST_BAD_OPERAND;
  }
  for (int32_t i = 0; i < len; i++) {
    int64_t v = shift(in[IN_HDR + i], k);
    out[OUT_HDR + i] = to_unsigned ? (int32_t)satu8(v) : (int32_t)sat8(v);
  }
  return ST_OK;
}

int32_t op_softmax(const int32_t* in, int32_t* out) {
  int32_t rows = in[0], len = in[1], e_s = in[2];
  if (rows < 1 || len < 1 || len > MAX_POSITIONS || bad_size((int64_t)rows * len)) {
    return ST_BAD_OPERAND;
  }
  int32_t lut[64];
  for (int32_t i = 0; i < 64; i++) {
    lut[i] = in[IN_HDR + rows + i];
  }
  int64_t scores = IN_HDR + rows + 64;  // word offset into in
  int32_t s[MAX_POSITIONS];
  uint8_t p[MAX_POSITIONS];
  for (int32_t r = 0; r < rows; r++) {
    for (int32_t j = 0; j < len; j++) {
      s[j] = in[scores + (int64_t)r * len + j];
    }
    softmax2(s, len, in[IN_HDR + r], e_s, lut, p);
    for (int32_t j = 0; j < len; j++) {
      out[OUT_HDR + (int64_t)r * len + j] = p[j];
    }
  }
  return ST_OK;
}

int32_t op_layer_norm(const uint8_t* weights, const int32_t* in, int32_t* out, uint8_t* scratch) {
  int32_t rows = in[0], d = in[1], e_g = in[2], e_out = in[3];
  if (rows < 1 || d < 1 || bad_size((int64_t)rows * d) || bad_offset(in[P_LN_GAMMA_OFF])
      || bad_offset(in[P_LN_BETA_OFF])) {
    return ST_BAD_OPERAND;
  }
  int64_t y = align_up(2 * (int64_t)d);  // scratch: x int16 LE [d] at 0, y int8 [d] at y
  for (int32_t r = 0; r < rows; r++) {
    for (int32_t i = 0; i < d; i++) {
      st16(scratch + 2 * i, in[IN_HDR + (int64_t)r * d + i]);
    }
    layer_norm_row(scratch, d, weights + in[P_LN_GAMMA_OFF], weights + in[P_LN_BETA_OFF], e_g, e_out,
                   (int8_t*)(scratch + y));
    for (int32_t i = 0; i < d; i++) {
      out[OUT_HDR + (int64_t)r * d + i] = (int8_t)scratch[y + i];
    }
  }
  return ST_OK;
}

int32_t op_residual(const int32_t* in, int32_t* out) {
  int32_t len = in[0], e_r = in[1], e_acc = in[2], e_out = in[3];
  if (len < 0 || bad_size(len)) {
    return ST_BAD_OPERAND;
  }
  for (int32_t i = 0; i < len; i++) {
    out[OUT_HDR + i] = residual(in[IN_HDR + i], e_out - e_r, in[IN_HDR + len + i], e_out - e_acc);
  }
  return ST_OK;
}

int32_t dispatch(int32_t op, int32_t batch, int32_t flags, const uint8_t* weights, int8_t* kv, int8_t* src,
                 const int32_t* in, int32_t* out, uint8_t* scratch, int32_t* taps) {
  switch (op) {
    case OP_LINEAR:
      return op_linear(weights, in, out, scratch);
    case OP_REQUANT:
      return op_requant(in, out);
    case OP_SOFTMAX:
      return op_softmax(in, out);
    case OP_LAYERNORM:
      return op_layer_norm(weights, in, out, scratch);
    case OP_RESIDUAL:
      return op_residual(in, out);
    case OP_ENCODE:
    case OP_DECODE_STEP:
    case OP_COPY_KV:
      break;
    default:
      return ST_BAD_OP;
  }
  Model m;
  int32_t st = load_model(m, weights);
  if (st != ST_OK) {
    return st;
  }
  if (op == OP_COPY_KV) {
    return copy_kv(m, kv, in);
  }
  if (batch < 1 || batch > m.rows || (op == OP_DECODE_STEP && batch > m.kv_slots)) {
    return ST_BAD_BATCH;
  }
  return op == OP_ENCODE ? encode(m, batch, flags, weights, src, in, scratch, taps)
                         : decode_step(m, batch, flags, weights, kv, src, in, out, scratch, taps);
}

}  // namespace
}  // namespace sfk

// One m_axi bundle per port (distinct adapters; connectivity-*.cfg places each port's buffer in its banks),
// the base addresses and scalars on the s_axilite control interface. No depth= : only vitis_hls C/RTL
// co-simulation needs it, and v++ -c / hw_emu take the sizes from the host's buffers.
extern "C" void shiftformer_step(int32_t op, int32_t batch, int32_t flags, const uint8_t* weights, int8_t* kv,
                                 int8_t* src, const int32_t* in, int32_t* out, uint8_t* scratch, int32_t* taps) {
#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=m_weights max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=kv offset=slave bundle=m_kv
#pragma HLS INTERFACE m_axi port=src offset=slave bundle=m_src
#pragma HLS INTERFACE m_axi port=in offset=slave bundle=m_in
#pragma HLS INTERFACE m_axi port=out offset=slave bundle=m_out
#pragma HLS INTERFACE m_axi port=scratch offset=slave bundle=m_scratch
#pragma HLS INTERFACE m_axi port=taps offset=slave bundle=m_taps
#pragma HLS INTERFACE s_axilite port=op
#pragma HLS INTERFACE s_axilite port=batch
#pragma HLS INTERFACE s_axilite port=flags
#pragma HLS INTERFACE s_axilite port=weights
#pragma HLS INTERFACE s_axilite port=kv
#pragma HLS INTERFACE s_axilite port=src
#pragma HLS INTERFACE s_axilite port=in
#pragma HLS INTERFACE s_axilite port=out
#pragma HLS INTERFACE s_axilite port=scratch
#pragma HLS INTERFACE s_axilite port=taps
#pragma HLS INTERFACE s_axilite port=return
  int32_t st = sfk::dispatch(op, batch, flags, weights, kv, src, in, out, scratch, taps);
  out[0] = st;
  out[1] = st == sfk::ST_OK ? batch : 0;
}
