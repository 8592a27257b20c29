// The shiftformer kernel: SPEC.md section 2 (encoder pass, batched decoder step with a KV cache) composed
// from the ops of int_ops.h. Buffer formats and the descriptor table are in shiftformer_kernel.h.
//
// Structure for the card: one run per model step (a launch costs tens of microseconds, so per-op launches
// would be wrong). Linear layers loop over weight rows outside and over the batch's rows inside, so each
// weight row is read from DDR/HBM once per step whatever the batch. The working set lives in the scratch
// buffer (device memory, never synced); the host syncs only the small per-step input to the device and
// the status + logits back.
#include "shiftformer_kernel.h"

#include "int_ops.h"

namespace sfk {
namespace {

// d_k <= d_model <= 1024 (SPEC.md section 8): the bound of the one per-head local array.
const int32_t MAX_D = 1024;

// ---- the model as the descriptor table describes it ------------------------------------------------------
struct Model {
  const uint8_t* w;   // the weights buffer
  const uint8_t* hdr; // == w: the descriptor table (int32 LE words)
  int32_t d, heads, dk, dff, enc_layers, dec_layers, vocab, max_pos, embed_scale, rows, kv_slots, src_slots;
  int32_t lut[64];

  int32_t word(int32_t i) const { return ld32(hdr + 4 * i); }
  const uint8_t* at(int32_t byte_off) const { return w + byte_off; }
};

// A LINEAR descriptor read from word `base` of the table.
struct LinDesc {
  const int8_t* w;
  const uint8_t* b;  // null: no bias (op-level)
  int32_t acc_exp, out_exp;
};
struct LnDesc {
  const uint8_t* gamma;
  const uint8_t* beta;
  int32_t gamma_exp, out_exp;
};
struct AttDesc {
  LinDesc q, k, v, o;
  int32_t ctx_exp;
};

LinDesc lin_at(const Model& m, int32_t base) {
  LinDesc l;
  l.w = (const int8_t*)m.at(m.word(base + L_W));
  l.b = m.at(m.word(base + L_B));
  l.acc_exp = m.word(base + L_ACC_EXP);
  l.out_exp = m.word(base + L_OUT_EXP);
  return l;
}
LnDesc ln_at(const Model& m, int32_t base) {
  LnDesc l;
  l.gamma = m.at(m.word(base + N_GAMMA));
  l.beta = m.at(m.word(base + N_BETA));
  l.gamma_exp = m.word(base + N_GAMMA_EXP);
  l.out_exp = m.word(base + N_OUT_EXP);
  return l;
}
AttDesc att_at(const Model& m, int32_t base) {
  AttDesc a;
  a.q = lin_at(m, base + A_Q);
  a.k = lin_at(m, base + A_K);
  a.v = lin_at(m, base + A_V);
  a.o = lin_at(m, base + A_O);
  a.ctx_exp = m.word(base + A_CTX_EXP);
  return a;
}
int32_t enc_base(const Model& m, int32_t layer) {
  (void)m;
  return HDR_WORDS + layer * ENC_LAYER_WORDS;
}
int32_t dec_base(const Model& m, int32_t layer) {
  return HDR_WORDS + m.enc_layers * ENC_LAYER_WORDS + layer * DEC_LAYER_WORDS;
}

// ---- the scratch buffer -------------------------------------------------------------------------------------
struct Scratch {
  uint8_t* g;  // int16 residual stream [rows, d]
  int8_t* a;   // LayerNorm output [rows, d]
  int8_t* q;
  int8_t* k;
  int8_t* v;
  int8_t* c;   // attention context [rows, d]
  uint8_t* h;  // FFN hidden (ReLU) [rows, d_ff]
  uint8_t* s;  // int32 scores [max_pos]
  uint8_t* p;  // probabilities [max_pos]
};

Scratch scratch_at(const Model& m, uint8_t* base) {
  int64_t rd = (int64_t)m.rows * m.d;
  Scratch s;
  s.g = base;
  s.a = (int8_t*)(base + 2 * rd);
  s.q = s.a + rd;
  s.k = s.q + rd;
  s.v = s.k + rd;
  s.c = s.v + rd;
  s.h = (uint8_t*)(s.c + rd);
  s.s = s.h + (int64_t)m.rows * m.dff;
  s.p = s.s + 4 * (int64_t)m.max_pos;
  return s;
}

// ---- 3.2 LINEAR over `rows` rows, weight rows outside ---------------------------------------------------------
enum OutMode { TO_INT8, TO_UINT8, TO_RESIDUAL, TO_INT32 };

// x: [rows, k] int8 (or uint8 when x_unsigned); out per mode: int8/uint8 [rows, n] (requantized),
// int16 LE [rows, n] updated in place by RESIDUAL(r at e_r, acc, out_exp), or int32 LE [rows, n] raw.
void linear_rows(const int8_t* x, bool x_unsigned, int32_t rows, int32_t k, int32_t n, const LinDesc& l, OutMode mode,
                 void* out, int32_t e_r) {
  int32_t k_out = l.out_exp - l.acc_exp;
  int32_t k_res = l.out_exp - e_r;
  for (int32_t o = 0; o < n; o++) {
    const int8_t* w_row = l.w + (int64_t)o * k;
    int64_t bias = l.b ? ld32(l.b + 4 * o) : 0;
    for (int32_t r = 0; r < rows; r++) {
      const int8_t* x_row = x + (int64_t)r * k;
      int64_t acc = bias + (x_unsigned ? dot_u8((const uint8_t*)x_row, w_row, k) : dot_s8(x_row, w_row, k));
      int64_t idx = (int64_t)r * n + o;
      switch (mode) {
        case TO_INT8:
          ((int8_t*)out)[idx] = sat8(shift(acc, k_out));
          break;
        case TO_UINT8:
          ((uint8_t*)out)[idx] = satu8(shift(acc, k_out));
          break;
        case TO_RESIDUAL: {
          uint8_t* cell = (uint8_t*)out + 2 * idx;
          st16(cell, residual(ld16(cell), k_res, (int32_t)acc, k_out));
          break;
        }
        case TO_INT32:
          st32((uint8_t*)out + 4 * idx, (int32_t)acc);
          break;
      }
    }
  }
}

// ---- 3.3 attention of one query row -------------------------------------------------------------------------
// q_row [d]; keys/values [*, d] int8, the first `keys` rows of which exist, the first `valid` valid.
// Writes the int8 context row [d].
void attend_row(const Model& m, const Scratch& sc, const AttDesc& at, const int8_t* q_row, const int8_t* keys_k,
                const int8_t* keys_v, int32_t keys, int32_t valid, int8_t* ctx_row) {
  int32_t e_s = at.q.out_exp + at.k.out_exp;
  int32_t k_ctx = at.ctx_exp - (-8 + at.v.out_exp);
  int32_t d = m.d;
  int32_t dk = m.dk;
  for (int32_t h = 0; h < m.heads; h++) {
    int32_t col = h * dk;
    for (int32_t j = 0; j < keys; j++) {
      st32(sc.s + 4 * j, dot_s8(q_row + col, keys_k + (int64_t)j * d + col, dk));
    }
    softmax2(sc.s, keys, valid, e_s, m.lut, sc.p);
    // Pr x V, value rows outside so V is read row by row; uint8 x int8 over positions is exact in int32
    // (section 8, the max_positions bound).
    int32_t acc[MAX_D];
    for (int32_t t = 0; t < dk; t++) {
      acc[t] = 0;
    }
    for (int32_t j = 0; j < keys; j++) {
      int32_t pj = sc.p[j];
      const int8_t* v_row = keys_v + (int64_t)j * d + col;
      for (int32_t t = 0; t < dk; t++) {
#pragma HLS PIPELINE II=1
        acc[t] += pj * (int32_t)v_row[t];
      }
    }
    for (int32_t t = 0; t < dk; t++) {
      ctx_row[col + t] = sat8(shift(acc[t], k_ctx));
    }
  }
}

void layer_norm_rows(const Model& m, const uint8_t* x, int32_t rows, const LnDesc& ln, int8_t* out) {
  for (int32_t r = 0; r < rows; r++) {
    layer_norm_row(x + 2 * (int64_t)r * m.d, m.d, ln.gamma, ln.beta, ln.gamma_exp, ln.out_exp, out + (int64_t)r * m.d);
  }
}

// ---- taps ---------------------------------------------------------------------------------------------------
void tap16(int32_t* dst, const uint8_t* src, int64_t count) {
  for (int64_t i = 0; i < count; i++) {
    dst[i] = ld16(src + 2 * i);
  }
}
void tap8(int32_t* dst, const int8_t* src, int64_t count) {
  for (int64_t i = 0; i < count; i++) {
    dst[i] = src[i];
  }
}

// ---- block addresses -------------------------------------------------------------------------------------------
int8_t* kv_block(const Model& m, int8_t* kv, int32_t slot, int32_t layer, int32_t which) {
  return kv + (((int64_t)slot * m.dec_layers + layer) * 2 + which) * m.max_pos * m.d;
}
// block 0: encoder memory; 1 + 2l: cross K of decoder layer l; 2 + 2l: cross V.
int8_t* src_block(const Model& m, int8_t* src, int32_t slot, int32_t block) {
  return src + ((int64_t)slot * (1 + 2 * m.dec_layers) + block) * m.max_pos * m.d;
}

int32_t load_model(Model& m, const uint8_t* weights) {
  m.w = weights;
  m.hdr = weights;
  if (m.word(H_MAGIC) != WEIGHTS_MAGIC || m.word(H_VERSION) != LAYOUT_VERSION) {
    return ST_BAD_WEIGHTS;
  }
  m.d = m.word(H_D);
  m.heads = m.word(H_HEADS);
  m.dk = m.heads > 0 ? m.d / m.heads : 0;
  m.dff = m.word(H_DFF);
  m.enc_layers = m.word(H_ENC_LAYERS);
  m.dec_layers = m.word(H_DEC_LAYERS);
  m.vocab = m.word(H_VOCAB);
  m.max_pos = m.word(H_MAX_POS);
  m.embed_scale = m.word(H_EMBED_SCALE);
  m.rows = m.word(H_ROWS);
  m.kv_slots = m.word(H_KV_SLOTS);
  m.src_slots = m.word(H_SRC_SLOTS);
  if (m.d < 1 || m.d > MAX_D || m.heads < 1 || m.dk * m.heads != m.d || m.max_pos < 1 || m.rows < m.max_pos) {
    return ST_BAD_WEIGHTS;
  }
  const uint8_t* lut = m.at(m.word(H_LUT_OFF));
  for (int32_t i = 0; i < 64; i++) {
    m.lut[i] = ld32(lut + 4 * i);
  }
  return ST_OK;
}

// ---- 2.1 the encoder pass, one sequence at a time (all its rows at once) --------------------------------------
int32_t encode(const Model& m, int32_t batch, int32_t flags, int8_t* src, const int32_t* in, uint8_t* scratch,
               int32_t* taps) {
  Scratch sc = scratch_at(m, scratch);
  int32_t d = m.d;
  const int8_t* embed = (const int8_t*)m.at(m.word(H_EMBED_OFF));
  const int8_t* pos = (const int8_t*)m.at(m.word(H_POS_OFF));
  int32_t e_out = m.word(H_ENC_EMBED_OUT);
  int32_t k_e = e_out - (m.word(H_EMBED_EXP) + m.embed_scale);
  int32_t k_p = e_out - m.word(H_POS_EXP);
  for (int32_t b = 0; b < batch; b++) {
    int32_t slot = in[IN_HDR + 2 * b];
    int32_t n = in[IN_HDR + 2 * b + 1];
    const int32_t* tokens = in + IN_HDR + 2 * batch + (int64_t)b * m.max_pos;
    if (slot < 0 || slot >= m.src_slots) {
      return ST_BAD_SLOT;
    }
    if (n < 1 || n > m.max_pos) {
      return ST_BAD_POSITION;
    }
    int32_t* tap = (flags & FLAG_TAP) ? taps + (int64_t)b * (2 * m.enc_layers + 2) * m.max_pos * d : 0;
    int64_t nd = (int64_t)n * d;
    for (int32_t i = 0; i < n; i++) {
      if (tokens[i] < 0 || tokens[i] >= m.vocab) {
        return ST_BAD_TOKEN;
      }
      embed_row(embed + (int64_t)tokens[i] * d, pos + (int64_t)i * d, d, k_e, k_p, sc.g + 2 * (int64_t)i * d);
    }
    if (tap) {
      tap16(tap, sc.g, nd);
      tap += nd;
    }
    int32_t e_r = e_out;
    for (int32_t l = 0; l < m.enc_layers; l++) {
      int32_t base = enc_base(m, l);
      AttDesc at = att_at(m, base + E_ATT);
      layer_norm_rows(m, sc.g, n, ln_at(m, base + E_LN1), sc.a);
      linear_rows(sc.a, false, n, d, d, at.q, TO_INT8, sc.q, 0);
      linear_rows(sc.a, false, n, d, d, at.k, TO_INT8, sc.k, 0);
      linear_rows(sc.a, false, n, d, d, at.v, TO_INT8, sc.v, 0);
      for (int32_t r = 0; r < n; r++) {
        attend_row(m, sc, at, sc.q + (int64_t)r * d, sc.k, sc.v, n, n, sc.c + (int64_t)r * d);
      }
      linear_rows(sc.c, false, n, d, d, at.o, TO_RESIDUAL, sc.g, e_r);
      e_r = at.o.out_exp;
      if (tap) {
        tap16(tap, sc.g, nd);
        tap += nd;
      }
      LinDesc f1 = lin_at(m, base + E_FFN1);
      LinDesc f2 = lin_at(m, base + E_FFN2);
      layer_norm_rows(m, sc.g, n, ln_at(m, base + E_LN2), sc.a);
      linear_rows(sc.a, false, n, d, m.dff, f1, TO_UINT8, sc.h, 0);
      linear_rows((const int8_t*)sc.h, true, n, m.dff, d, f2, TO_RESIDUAL, sc.g, e_r);
      e_r = f2.out_exp;
      if (tap) {
        tap16(tap, sc.g, nd);
        tap += nd;
      }
    }
    int8_t* memory = src_block(m, src, slot, 0);
    layer_norm_rows(m, sc.g, n, ln_at(m, H_ENC_FINAL), memory);
    if (tap) {
      tap8(tap, memory, nd);
    }
    for (int32_t l = 0; l < m.dec_layers; l++) {
      AttDesc cross = att_at(m, dec_base(m, l) + D_CROSS);
      linear_rows(memory, false, n, d, d, cross.k, TO_INT8, src_block(m, src, slot, 1 + 2 * l), 0);
      linear_rows(memory, false, n, d, d, cross.v, TO_INT8, src_block(m, src, slot, 2 + 2 * l), 0);
    }
  }
  return ST_OK;
}

// ---- 2.2 one batched decoder step with the KV cache (section 6) ----------------------------------------------
int32_t decode_step(const Model& m, int32_t batch, int32_t flags, int8_t* kv, int8_t* src, const int32_t* in,
                    int32_t* out, uint8_t* scratch, int32_t* taps) {
  Scratch sc = scratch_at(m, scratch);
  int32_t d = m.d;
  const int32_t* seq = in + IN_HDR;  // 5 words per sequence
  for (int32_t b = 0; b < batch; b++) {
    const int32_t* s = seq + 5 * b;
    if (s[0] < 0 || s[0] >= m.kv_slots || s[1] < 0 || s[1] >= m.src_slots) {
      return ST_BAD_SLOT;
    }
    if (s[2] < 1 || s[2] > m.max_pos || s[3] < 0 || s[3] >= m.max_pos) {
      return ST_BAD_POSITION;
    }
    if (s[4] < 0 || s[4] >= m.vocab) {
      return ST_BAD_TOKEN;
    }
  }
  const int8_t* embed = (const int8_t*)m.at(m.word(H_EMBED_OFF));
  const int8_t* pos = (const int8_t*)m.at(m.word(H_POS_OFF));
  int32_t e_out = m.word(H_DEC_EMBED_OUT);
  int32_t k_e = e_out - (m.word(H_EMBED_EXP) + m.embed_scale);
  int32_t k_p = e_out - m.word(H_POS_EXP);
  int64_t tap_stride = (int64_t)(3 * m.dec_layers + 2) * d;
  int32_t point = 0;
  bool tapping = (flags & FLAG_TAP) != 0;
  for (int32_t b = 0; b < batch; b++) {
    embed_row(embed + (int64_t)seq[5 * b + 4] * d, pos + (int64_t)seq[5 * b + 3] * d, d, k_e, k_p,
              sc.g + 2 * (int64_t)b * d);
  }
  if (tapping) {
    for (int32_t b = 0; b < batch; b++) {
      tap16(taps + b * tap_stride + point * d, sc.g + 2 * (int64_t)b * d, d);
    }
    point++;
  }
  int32_t e_r = e_out;
  for (int32_t l = 0; l < m.dec_layers; l++) {
    int32_t base = dec_base(m, l);
    // causal self-attention: the new row is appended to the cache, then attends to rows 0..t
    AttDesc self = att_at(m, base + D_SELF);
    layer_norm_rows(m, sc.g, batch, ln_at(m, base + D_LN1), sc.a);
    linear_rows(sc.a, false, batch, d, d, self.q, TO_INT8, sc.q, 0);
    linear_rows(sc.a, false, batch, d, d, self.k, TO_INT8, sc.k, 0);
    linear_rows(sc.a, false, batch, d, d, self.v, TO_INT8, sc.v, 0);
    for (int32_t b = 0; b < batch; b++) {
      int32_t slot = seq[5 * b];
      int32_t t = seq[5 * b + 3];
      int8_t* ck = kv_block(m, kv, slot, l, 0);
      int8_t* cv = kv_block(m, kv, slot, l, 1);
      for (int32_t j = 0; j < d; j++) {
        ck[(int64_t)t * d + j] = sc.k[(int64_t)b * d + j];
        cv[(int64_t)t * d + j] = sc.v[(int64_t)b * d + j];
      }
      attend_row(m, sc, self, sc.q + (int64_t)b * d, ck, cv, t + 1, t + 1, sc.c + (int64_t)b * d);
    }
    linear_rows(sc.c, false, batch, d, d, self.o, TO_RESIDUAL, sc.g, e_r);
    e_r = self.o.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
        tap16(taps + b * tap_stride + point * d, sc.g + 2 * (int64_t)b * d, d);
      }
      point++;
    }
    // cross-attention over the source's precomputed K/V
    AttDesc cross = att_at(m, base + D_CROSS);
    layer_norm_rows(m, sc.g, batch, ln_at(m, base + D_LN2), sc.a);
    linear_rows(sc.a, false, batch, d, d, cross.q, TO_INT8, sc.q, 0);
    for (int32_t b = 0; b < batch; b++) {
      int32_t slot = seq[5 * b + 1];
      int32_t n = seq[5 * b + 2];
      attend_row(m, sc, cross, sc.q + (int64_t)b * d, src_block(m, src, slot, 1 + 2 * l),
                 src_block(m, src, slot, 2 + 2 * l), n, n, sc.c + (int64_t)b * d);
    }
    linear_rows(sc.c, false, batch, d, d, cross.o, TO_RESIDUAL, sc.g, e_r);
    e_r = cross.o.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
        tap16(taps + b * tap_stride + point * d, sc.g + 2 * (int64_t)b * d, d);
      }
      point++;
    }
    // feed-forward
    LinDesc f1 = lin_at(m, base + D_FFN1);
    LinDesc f2 = lin_at(m, base + D_FFN2);
    layer_norm_rows(m, sc.g, batch, ln_at(m, base + D_LN3), sc.a);
    linear_rows(sc.a, false, batch, d, m.dff, f1, TO_UINT8, sc.h, 0);
    linear_rows((const int8_t*)sc.h, true, batch, m.dff, d, f2, TO_RESIDUAL, sc.g, e_r);
    e_r = f2.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
        tap16(taps + b * tap_stride + point * d, sc.g + 2 * (int64_t)b * d, d);
      }
      point++;
    }
  }
  layer_norm_rows(m, sc.g, batch, ln_at(m, H_DEC_FINAL), sc.a);
  if (tapping) {
    for (int32_t b = 0; b < batch; b++) {
      tap8(taps + b * tap_stride + point * d, sc.a + (int64_t)b * d, d);
    }
  }
  // 3.8 tied logits: f x E^T, no bias, int32 at eF + eE
  LinDesc tied;
  tied.w = embed;
  tied.b = 0;
  tied.acc_exp = 0;
  tied.out_exp = 0;
  linear_rows(sc.a, false, batch, d, m.vocab, tied, TO_INT32, out + OUT_HDR, 0);
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
      const int8_t* a = kv_block(m, kv, from, l, which);
      int8_t* b = kv_block(m, kv, to, l, which);
      for (int64_t i = 0; i < (int64_t)rows * m.d; i++) {
        b[i] = a[i];
      }
    }
  }
  return ST_OK;
}

// ---- op-level entry points (operands widened to int32 in `in`; narrowed into scratch) ----------------------
const int32_t MAX_OPERAND = 1 << 26;

bool bad_size(int64_t v) {
  return v < 0 || v > MAX_OPERAND;
}

int32_t op_linear(const int32_t* in, int32_t* out, uint8_t* scratch) {
  int32_t rows = in[0], k = in[1], x_unsigned = in[2], n = in[3], has_bias = in[4];
  if (rows < 1 || k < 1 || n < 1 || bad_size((int64_t)rows * k) || bad_size((int64_t)n * k)) {
    return ST_BAD_OPERAND;
  }
  const int32_t* x = in + IN_HDR;
  const int32_t* w = x + (int64_t)rows * k;
  const int32_t* bias = w + (int64_t)n * k;
  int8_t* xs = (int8_t*)scratch;
  int8_t* ws = xs + (int64_t)rows * k;
  uint8_t* bs = (uint8_t*)(ws + (int64_t)n * k);
  for (int64_t i = 0; i < (int64_t)rows * k; i++) {
    xs[i] = (int8_t)x[i];
  }
  for (int64_t i = 0; i < (int64_t)n * k; i++) {
    ws[i] = (int8_t)w[i];
  }
  for (int32_t i = 0; i < n; i++) {
    st32(bs + 4 * i, bias[i]);
  }
  LinDesc l;
  l.w = ws;
  l.b = has_bias ? bs : 0;
  l.acc_exp = 0;
  l.out_exp = 0;
  linear_rows(xs, x_unsigned != 0, rows, k, n, l, TO_INT32, out + OUT_HDR, 0);
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

int32_t op_softmax(const int32_t* in, int32_t* out, uint8_t* scratch) {
  int32_t rows = in[0], len = in[1], e_s = in[2];
  if (rows < 1 || len < 1 || bad_size((int64_t)rows * len)) {
    return ST_BAD_OPERAND;
  }
  const int32_t* valid = in + IN_HDR;
  int32_t lut[64];
  for (int32_t i = 0; i < 64; i++) {
    lut[i] = in[IN_HDR + rows + i];
  }
  const int32_t* scores = in + IN_HDR + rows + 64;
  uint8_t* s = scratch;
  uint8_t* p = scratch + 4 * (int64_t)len;
  for (int32_t r = 0; r < rows; r++) {
    for (int32_t j = 0; j < len; j++) {
      st32(s + 4 * j, scores[(int64_t)r * len + j]);
    }
    softmax2(s, len, valid[r], e_s, lut, p);
    for (int32_t j = 0; j < len; j++) {
      out[OUT_HDR + (int64_t)r * len + j] = p[j];
    }
  }
  return ST_OK;
}

int32_t op_layer_norm(const int32_t* in, int32_t* out, uint8_t* scratch) {
  int32_t rows = in[0], d = in[1], e_g = in[2], e_out = in[3];
  if (rows < 1 || d < 1 || bad_size((int64_t)rows * d)) {
    return ST_BAD_OPERAND;
  }
  const int32_t* gamma = in + IN_HDR;
  const int32_t* beta = gamma + d;
  const int32_t* x = beta + d;
  uint8_t* gs = scratch;
  uint8_t* bs = gs + 2 * (int64_t)d;
  uint8_t* xs = bs + 4 * (int64_t)d;
  int8_t* ys = (int8_t*)(xs + 2 * (int64_t)d);
  for (int32_t i = 0; i < d; i++) {
    st16(gs + 2 * i, gamma[i]);
    st32(bs + 4 * i, beta[i]);
  }
  for (int32_t r = 0; r < rows; r++) {
    for (int32_t i = 0; i < d; i++) {
      st16(xs + 2 * i, x[(int64_t)r * d + i]);
    }
    layer_norm_row(xs, d, gs, bs, e_g, e_out, ys);
    for (int32_t i = 0; i < d; i++) {
      out[OUT_HDR + (int64_t)r * d + i] = ys[i];
    }
  }
  return ST_OK;
}

int32_t op_residual(const int32_t* in, int32_t* out) {
  int32_t len = in[0], e_r = in[1], e_acc = in[2], e_out = in[3];
  if (len < 0 || bad_size(len)) {
    return ST_BAD_OPERAND;
  }
  const int32_t* r = in + IN_HDR;
  const int32_t* acc = r + len;
  for (int32_t i = 0; i < len; i++) {
    out[OUT_HDR + i] = residual(r[i], e_out - e_r, acc[i], e_out - e_acc);
  }
  return ST_OK;
}

int32_t dispatch(int32_t op, int32_t batch, int32_t flags, const uint8_t* weights, int8_t* kv, int8_t* src,
                 const int32_t* in, int32_t* out, uint8_t* scratch, int32_t* taps) {
  switch (op) {
    case OP_LINEAR:
      return op_linear(in, out, scratch);
    case OP_REQUANT:
      return op_requant(in, out);
    case OP_SOFTMAX:
      return op_softmax(in, out, scratch);
    case OP_LAYERNORM:
      return op_layer_norm(in, out, scratch);
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
  return op == OP_ENCODE ? encode(m, batch, flags, src, in, scratch, taps)
                         : decode_step(m, batch, flags, kv, src, in, out, scratch, taps);
}

}  // namespace
}  // namespace sfk

extern "C" int32_t shiftformer_step(int32_t op, int32_t batch, int32_t flags, const uint8_t* weights, int8_t* kv,
                                    int8_t* src, const int32_t* in, int32_t* out, uint8_t* scratch, int32_t* taps) {
#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=gmem0 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=kv offset=slave bundle=gmem1
#pragma HLS INTERFACE m_axi port=src offset=slave bundle=gmem2
#pragma HLS INTERFACE m_axi port=in offset=slave bundle=gmem3
#pragma HLS INTERFACE m_axi port=out offset=slave bundle=gmem3
#pragma HLS INTERFACE m_axi port=scratch offset=slave bundle=gmem4
#pragma HLS INTERFACE m_axi port=taps offset=slave bundle=gmem3
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
  return st;
}
