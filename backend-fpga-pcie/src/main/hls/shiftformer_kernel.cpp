// The shiftformer kernel: SPEC.md section 2 (encoder pass, batched decoder step with a KV cache) composed
// from the ops of int_ops.h. Buffer formats and the descriptor table are in shiftformer_kernel.h; the
// datapath's sizes, port access and cycle formulas in datapath.h.
//
// Structure for the card: one run per model step (a launch costs tens of microseconds, so per-op launches
// would be wrong). The working set lives in the scratch buffer (device memory, never synced); the host
// syncs only the small per-step input to the device and the status + logits back.
//
// Memory interface (issue 16 item 1): eleven m_axi ports, one bundle each. weights, kv, src, out, scratch and
// the four weight stripes wstripe0..3 (every weight matrix split by rows, shiftformer_kernel.h) are 512-bit
// word ports (word512_t: ap_uint<512> under synthesis, a 64-byte struct in the emulation), read
// and written only as contiguous byte segments into or out of on-chip arrays (rd_bytes / wr_bytes); in and
// taps are int32 ports. Inside the kernel nothing holds a pointer to a port: descriptors and the scratch
// layout are byte offsets from a named port's base; attention, whose key/value rows come from three ports,
// is a template instantiated once per port. No void*, no null pointer.
//
// Datapath (issue 16 item 2): a LINEAR is a weight-stationary PE_R x PE_C MAC array. Up to ROW_TILE
// activation rows (a decoder step's whole batch) are held on chip; the weights are read from the weights
// port once per row block (once per step for a batch <= ROW_TILE), in double-buffered blocks of PE_C rows,
// while the rows stream through the array tile by tile into on-chip accumulators; requantization, ReLU and
// the residual add are the array's output stage. The encoder holds a head's keys and values on chip for all
// its query rows. The descriptor table, the softmax table, a LayerNorm's gamma and beta, a query row and a
// score row are on chip too.
//
// Trip counts (issue 16 item 1): every loop with a run-time bound carries LOOP_TRIPCOUNT min/max (for the
// latency reports only; HlsInterfaceRulesTest requires one on every such loop). max is the bound the host and
// the loader enforce: d, d_k <= 1024 and positions <= 8192 (SPEC.md section 8, checked in load_model), layers
// <= 64, rows on chip <= ROW_TILE, a weight block's PE_C rows and K_CHUNK inputs, a batch <= the rows capacity
// max(max_positions, kv-slots <= 65536), op-level operands <= 2^26 elements (MAX_OPERAND).
//
// Cycles (issue 16 item 3): every loop nest adds its cost to the run's cycle count (datapath.h: trip counts
// x initiation interval + pipeline depth, a burst's beats on a 512-bit port), returned in out[2..3];
// DatapathCycles (runtime-api) is the same arithmetic in Java.
#include "shiftformer_kernel.h"

#include "int_ops.h"

namespace sfk {
namespace {

// d_k <= d_model <= 1024 (SPEC.md section 8): the bound of the per-row on-chip arrays.
const int32_t MAX_D = 1024;

inline int32_t min32(int32_t a, int32_t b) {
  return a < b ? a : b;
}

// ---- the model as the descriptor table describes it ------------------------------------------------------
// The whole descriptor table is burst on chip once per run; tensor offsets are byte offsets into weights.
struct Model {
  int32_t d, heads, dk, dff, enc_layers, dec_layers, vocab, max_pos, embed_scale, rows, kv_slots, src_slots;
  int32_t embed_off, embed_exp, pos_off, pos_exp, enc_embed_out, dec_embed_out;
  int32_t lut[64];
  int32_t tbl[MAX_TABLE_WORDS];
};

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

LinDesc lin_at(const Model& m, int32_t base) {
  LinDesc l;
  l.w_off = m.tbl[base + L_W];
  l.b_off = m.tbl[base + L_B];
  l.has_bias = true;
  l.acc_exp = m.tbl[base + L_ACC_EXP];
  l.out_exp = m.tbl[base + L_OUT_EXP];
  return l;
}
LnDesc ln_at(const Model& m, int32_t base) {
  LnDesc l;
  l.gamma_off = m.tbl[base + N_GAMMA];
  l.beta_off = m.tbl[base + N_BETA];
  l.gamma_exp = m.tbl[base + N_GAMMA_EXP];
  l.out_exp = m.tbl[base + N_OUT_EXP];
  return l;
}
AttDesc att_at(const Model& m, int32_t base) {
  AttDesc a;
  a.q = lin_at(m, base + A_Q);
  a.k = lin_at(m, base + A_K);
  a.v = lin_at(m, base + A_V);
  a.o = lin_at(m, base + A_O);
  a.ctx_exp = m.tbl[base + A_CTX_EXP];
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

// ---- 3.2 LINEAR on the MAC array -------------------------------------------------------------------------------
enum OutMode { TO_INT8, TO_UINT8, TO_RESIDUAL, TO_OUT32 };

// n int8 or uint8 values widened to int16 (the MAC operands: a DSP multiplies 18-bit inputs); n = PE_R is
// the fixed-length case the compilers unroll.
template <typename X>
inline void widen(const X* __restrict v, int16_t* __restrict v16, int32_t n) {
  if (n == PE_R) {
    for (int32_t i = 0; i < PE_R; i++) {
#pragma HLS UNROLL
      v16[i] = (int16_t)v[i];
    }
  } else {
    for (int32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=63
      v16[i] = (int16_t)v[i];
    }
  }
}

// One column of the array: a dot product of n <= PE_R int16 operands in int32 (exact: every product is an
// int8 x int8 or uint8 x int8 one, and SPEC.md section 8 bounds every partial sum of a LINEAR).
inline int32_t column(const int16_t* x, const int16_t* w, int32_t n) {
  int32_t s = 0;
  if (n == PE_R) {
    for (int32_t i = 0; i < PE_R; i++) {
#pragma HLS UNROLL
      s += (int32_t)x[i] * (int32_t)w[i];
    }
  } else {
    for (int32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=63
      s += (int32_t)x[i] * (int32_t)w[i];
    }
  }
  return s;
}

// One weight tile (cn outputs x kr inputs, at input kt of the on-chip weight block) against the m rows on
// chip: the tile is latched into the array's PE registers, then one row per cycle streams through it, each
// of its PE_C columns a kr-input dot product added to that row's accumulator.
template <typename X>
void mac_tile(const uint8_t xs[ROW_TILE][K_CHUNK], int32_t m, int32_t kt, const int8_t wt[PE_C][K_CHUNK], int32_t cn,
              int32_t kr, int32_t acc[ROW_TILE][PE_C]) {
  int16_t pe[PE_C][PE_R];
  int16_t x[PE_R];
#pragma HLS ARRAY_PARTITION variable=pe type=complete
#pragma HLS ARRAY_PARTITION variable=x type=complete
  for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS UNROLL
    widen<int8_t>(wt[c] + kt, pe[c], kr);
  }
  for (int32_t r = 0; r < m; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS PIPELINE II=1
    widen<X>((const X*)(xs[r] + kt), x, kr);
    for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS UNROLL
      acc[r][c] += column(x, pe[c], kr);
    }
  }
}

// Rows rb .. rb+m of x [rows, k] at scratch + x_off, inputs kc .. kc+kw, into the on-chip rows.
void load_rows(const word512_t* scratch, int64_t x_off, int32_t k, int32_t rb, int32_t m, int32_t kc, int32_t kw,
               uint8_t xs[ROW_TILE][K_CHUNK], int64_t& cyc) {
  for (int32_t r = 0; r < m; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    rd_bytes(scratch, x_off + (int64_t)(rb + r) * k + kc, xs[r], kw);
  }
  cyc += pipe((int64_t)m * beats(kw), 1, LAT_MEM);
}

// A linear's shape and where its operands are, for the block stages below.
struct LinPass {
  int32_t rows, k, n, chunks, blocks;
  int64_t x_off, out_off;
  bool x_unsigned;
};

// The rows c = s, s + WEIGHT_STRIPES, ... (< cn) of weight block i from stripe s, each one burst of kw bytes
// into its row of the on-chip block. Row nb + c of the matrix is on stripe (nb + c) % WEIGHT_STRIPES = c %
// WEIGHT_STRIPES (nb is a multiple of PE_C), at stripe row (nb + c) / WEIGHT_STRIPES.
void load_stripe(const word512_t* stripe, int32_t s, const LinDesc& l, const LinPass& p, int32_t nb, int32_t kc,
                 int32_t cn, int32_t kw, int8_t wt[PE_C][K_CHUNK]) {
#pragma HLS INLINE off
  for (int32_t c = s; c < cn; c += WEIGHT_STRIPES) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=16
    rd_bytes(stripe, l.w_off + (int64_t)((nb + c) / WEIGHT_STRIPES) * p.k + kc, (uint8_t*)wt[c], kw);
  }
}

// Weight block i of a pass (output block i / chunks, input chunk i % chunks): cn weight rows of kw bytes into
// an on-chip block, the WEIGHT_STRIPES stripes at once (four instances on four ports writing disjoint rows of
// the row-partitioned block), so the block takes ceil(cn / WEIGHT_STRIPES) rows' beats.
void load_block(const word512_t* ws0, const word512_t* ws1, const word512_t* ws2, const word512_t* ws3,
                const LinDesc& l, const LinPass& p, int32_t i, int8_t wt[PE_C][K_CHUNK]) {
  static_assert(WEIGHT_STRIPES == 4, "one load_stripe per stripe port");
  int32_t nb = i / p.chunks * PE_C;
  int32_t kc = i % p.chunks * K_CHUNK;
  int32_t cn = min32(PE_C, p.n - nb);
  int32_t kw = min32(K_CHUNK, p.k - kc);
  load_stripe(ws0, 0, l, p, nb, kc, cn, kw, wt);
  load_stripe(ws1, 1, l, p, nb, kc, cn, kw, wt);
  load_stripe(ws2, 2, l, p, nb, kc, cn, kw, wt);
  load_stripe(ws3, 3, l, p, nb, kc, cn, kw, wt);
}

// Every tile of an on-chip weight block (cn outputs x kw inputs) against the m rows on chip.
void mac_block(const uint8_t xs[ROW_TILE][K_CHUNK], int32_t m, bool x_unsigned, const int8_t wt[PE_C][K_CHUNK],
               int32_t cn, int32_t kw, int32_t acc[ROW_TILE][PE_C]) {
#pragma HLS INLINE off
  for (int32_t t = 0; t * PE_R < kw; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    int32_t kr = min32(PE_R, kw - t * PE_R);
    if (x_unsigned) {
      mac_tile<uint8_t>(xs, m, t * PE_R, wt, cn, kr, acc);
    } else {
      mac_tile<int8_t>(xs, m, t * PE_R, wt, cn, kr, acc);
    }
  }
}

int64_t block_beats(const LinPass& p, int32_t i) {
  if (i >= p.blocks) {
    return 0;
  }
  int32_t nb = i / p.chunks * PE_C;
  int32_t kc = i % p.chunks * K_CHUNK;
  int64_t rows = (min32(PE_C, p.n - nb) + WEIGHT_STRIPES - 1) / WEIGHT_STRIPES;  // per stripe
  return pipe(rows * beats(min32(K_CHUNK, p.k - kc)), 1, LAT_MEM);
}

// One stage of a row block's pass: block i's tiles stream the m rows through the array (mac_block, from
// `cur`) while block i + 1 loads (load_block, into `next`): two calls kept as separate instances (INLINE off)
// that touch different arrays and ports, so they can run concurrently; the stage costs the longer of the two. Before it, at the first chunk of an output block, the bias is
// burst on chip; after it, at the last chunk, the output stage requantizes (int8), applies ReLU (uint8),
// adds the residual (int16 stream read and written back) or writes the raw int32 (out), one row of cn
// results per initiation.
void block_stage(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
                 const word512_t* ws3, word512_t* scratch, word512_t* out, const LinDesc& l, const LinPass& p,
                 OutMode mode, int32_t e_r, int32_t rb, int32_t m, int32_t i, uint8_t xs[ROW_TILE][K_CHUNK],
                 const int8_t cur[PE_C][K_CHUNK], int8_t next[PE_C][K_CHUNK], int32_t acc[ROW_TILE][PE_C],
                 int64_t& cyc) {
  int32_t nb = i / p.chunks * PE_C;
  int32_t kc = i % p.chunks * K_CHUNK;
  int32_t cn = min32(PE_C, p.n - nb);
  int32_t kw = min32(K_CHUNK, p.k - kc);
  uint8_t seg[4 * PE_C];
  if (kc == 0) {
    if (l.has_bias) {
      rd_bytes(weights, l.b_off + 4 * (int64_t)nb, seg, 4 * cn);
      cyc += burst(4 * (int64_t)cn);
    }
    for (int32_t r = 0; r < m; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
      for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
        acc[r][c] = l.has_bias ? ld32(seg + 4 * c) : 0;
      }
    }
  }
  if (p.chunks > 1) {
    load_rows(scratch, p.x_off, p.k, rb, m, kc, kw, xs, cyc);
  }
  if (i + 1 < p.blocks) {
    load_block(ws0, ws1, ws2, ws3, l, p, i + 1, next);
  }
  mac_block(xs, m, p.x_unsigned, cur, cn, kw, acc);
  int32_t tiles = (kw + PE_R - 1) / PE_R;
  cyc += max64(block_beats(p, i + 1), pipe((int64_t)tiles * m, 1, LAT_MAC));
  if (kc + kw < p.k) {
    return;
  }
  int32_t k_out = l.out_exp - l.acc_exp;
  int32_t k_res = l.out_exp - e_r;
  for (int32_t r = 0; r < m; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    int64_t idx = (int64_t)(rb + r) * p.n + nb;
    switch (mode) {
      case TO_INT8:
        for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
          seg[c] = (uint8_t)sat8(shift(acc[r][c], k_out));
        }
        wr_bytes(scratch, p.out_off + idx, seg, cn);
        break;
      case TO_UINT8:
        for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
          seg[c] = satu8(shift(acc[r][c], k_out));
        }
        wr_bytes(scratch, p.out_off + idx, seg, cn);
        break;
      case TO_RESIDUAL:
        rd_bytes(scratch, p.out_off + 2 * idx, seg, 2 * cn);
        for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
          st16(seg + 2 * c, residual(ld16(seg + 2 * c), k_res, acc[r][c], k_out));
        }
        wr_bytes(scratch, p.out_off + 2 * idx, seg, 2 * cn);
        break;
      case TO_OUT32:
        for (int32_t c = 0; c < cn; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
          st32(seg + 4 * c, acc[r][c]);
        }
        wr_bytes(out, 4 * (OUT_HDR + idx), seg, 4 * cn);
        break;
    }
  }
  cyc += pipe(m, beats((mode == TO_OUT32 ? 4 : mode == TO_RESIDUAL ? 2 : 1) * (int64_t)cn), LAT_OUT);
}

// x: [rows, k] int8 (uint8 when x_unsigned) at scratch + x_off; the output per mode (block_stage). Per row
// block of up to ROW_TILE rows, the blocks of PE_C weight rows x K_CHUNK inputs go through the stages in
// order, double-buffered: block i + 1 loads into one on-chip block while block i's tiles stream from the
// other; only a row block's first weight block loads alone.
void linear(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
            const word512_t* ws3, word512_t* scratch, word512_t* out, const LinDesc& l, int64_t x_off,
            bool x_unsigned, int32_t rows, int32_t k, int32_t n, OutMode mode, int64_t out_off, int32_t e_r,
            int64_t& cyc) {
  uint8_t xs[ROW_TILE][K_CHUNK];
  int8_t wa[PE_C][K_CHUNK];
  int8_t wb[PE_C][K_CHUNK];
  int32_t acc[ROW_TILE][PE_C];
#pragma HLS ARRAY_PARTITION variable=wa dim=1 type=complete
#pragma HLS ARRAY_RESHAPE variable=wa dim=2 type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=wb dim=1 type=complete
#pragma HLS ARRAY_RESHAPE variable=wb dim=2 type=cyclic factor=64
#pragma HLS ARRAY_RESHAPE variable=xs dim=2 type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=acc dim=2 type=complete
  LinPass p;
  p.rows = rows;
  p.k = k;
  p.n = n;
  p.chunks = (k + K_CHUNK - 1) / K_CHUNK;
  p.blocks = (n + PE_C - 1) / PE_C * p.chunks;
  p.x_off = x_off;
  p.out_off = out_off;
  p.x_unsigned = x_unsigned;
  for (int32_t rb = 0; rb < rows; rb += ROW_TILE) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    int32_t m = min32(ROW_TILE, rows - rb);
    if (p.chunks == 1) {
      load_rows(scratch, x_off, k, rb, m, 0, k, xs, cyc);  // once per row block, reused by every tile
    }
    load_block(ws0, ws1, ws2, ws3, l, p, 0, wa);
    cyc += block_beats(p, 0);
    for (int32_t i = 0; i < p.blocks; i += 2) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      block_stage(weights, ws0, ws1, ws2, ws3, scratch, out, l, p, mode, e_r, rb, m, i, xs, wa, wb, acc, cyc);
      if (i + 1 < p.blocks) {
        block_stage(weights, ws0, ws1, ws2, ws3, scratch, out, l, p, mode, e_r, rb, m, i + 1, xs, wb, wa, acc, cyc);
      }
    }
  }
}

// ---- 3.3 attention of one query row -------------------------------------------------------------------------
// The key/value rows come from the kv, src or scratch port: one instantiation per port (PORT), so each
// instance's `keys` is bound to one bundle. q [d] at scratch + q_off; keys/values [n_keys, d] int8 at
// keys + k_off / v_off, all valid. Writes the int8 context row [d] at scratch + ctx_off.
enum KeyPort { KEYS_IN_KV, KEYS_IN_SRC, KEYS_IN_SCRATCH };

inline int64_t softmax_cycles(int64_t len) {
  return 3 * lanes(len) + LAT_DIV;
}

template <int PORT>
void attend_row(const Model& m, const word512_t* keys, word512_t* scratch, const AttDesc& at, int64_t q_off,
                int64_t k_off, int64_t v_off, int32_t n_keys, int64_t ctx_off, int64_t& cyc) {
  int32_t e_s = at.q.out_exp + at.k.out_exp;
  int32_t k_ctx = at.ctx_exp - (-8 + at.v.out_exp);
  int32_t d = m.d;
  int32_t dk = m.dk;
  int32_t scores[MAX_POSITIONS];
  uint8_t probs[MAX_POSITIONS];
#pragma HLS ARRAY_PARTITION variable=scores type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=probs type=cyclic factor=16
  uint8_t q_row[MAX_D];
  uint8_t ctx[MAX_D];
  uint8_t kv_row[MAX_D];
  int32_t acc[MAX_D];
#pragma HLS ARRAY_PARTITION variable=q_row type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=ctx type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=kv_row type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=acc type=cyclic factor=64
  rd_bytes(scratch, q_off, q_row, d);
  cyc += burst(d);
  // a key or value segment of d_k bytes per initiation: its beats, or the d_k / DOT_LANES multiplier passes
  int64_t per_key = max64(beats(dk), (dk + DOT_LANES - 1) / DOT_LANES);
  for (int32_t h = 0; h < m.heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    int32_t col = h * dk;
    for (int32_t j = 0; j < n_keys; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      rd_bytes(keys, k_off + (int64_t)j * d + col, kv_row, dk);
      scores[j] = dot_s8((const int8_t*)q_row + col, (const int8_t*)kv_row, dk);
    }
    cyc += pipe(n_keys, per_key, LAT_MEM + LAT_MAC);
    softmax2(scores, n_keys, n_keys, e_s, m.lut, probs);
    cyc += softmax_cycles(n_keys);
    // Pr x V, value rows outside so V is read row by row; uint8 x int8 over positions is exact in int32
    // (section 8, the max_positions bound).
    for (int32_t t = 0; t < dk; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
      acc[t] = 0;
    }
    for (int32_t j = 0; j < n_keys; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      int32_t pj = probs[j];
      rd_bytes(keys, v_off + (int64_t)j * d + col, kv_row, dk);
      for (int32_t t = 0; t < dk; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=64
        acc[t] += pj * (int32_t)(int8_t)kv_row[t];
      }
    }
    cyc += pipe(n_keys, per_key, LAT_MEM + LAT_MAC);
    for (int32_t t = 0; t < dk; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=64
      ctx[col + t] = (uint8_t)sat8(shift(acc[t], k_ctx));
    }
    cyc += pipe((dk + DOT_LANES - 1) / DOT_LANES, 1, LAT_OUT);
  }
  wr_bytes(scratch, ctx_off, ctx, d);
  cyc += burst(d);
}

// Encoder self-attention of one source of n rows (Q, K, V in scratch): per head, the head's key and value
// rows [n, d_k] are burst on chip once and every query row of the source meets them there. A source whose
// head does not fit (n x d_k > KV_ON_CHIP) streams them per query row as the decoder does.
void encoder_attention(const Model& m, word512_t* scratch, const AttDesc& at, const Scratch& sc, int32_t n,
                       int64_t& cyc) {
  int32_t d = m.d;
  int32_t dk = m.dk;
  if ((int64_t)n * dk > KV_ON_CHIP) {
    for (int32_t r = 0; r < n; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      attend_row<KEYS_IN_SCRATCH>(m, scratch, scratch, at, sc.q + (int64_t)r * d, sc.k, sc.v, n,
                                  sc.c + (int64_t)r * d, cyc);
    }
    return;
  }
  int32_t e_s = at.q.out_exp + at.k.out_exp;
  int32_t k_ctx = at.ctx_exp - (-8 + at.v.out_exp);
  uint8_t kh[KV_ON_CHIP];
  uint8_t vh[KV_ON_CHIP];
  int32_t scores[MAX_POSITIONS];
  uint8_t probs[MAX_POSITIONS];
  uint8_t q[MAX_D];
  uint8_t ctx[MAX_D];
  int32_t acc[MAX_D];
#pragma HLS ARRAY_PARTITION variable=kh type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=vh type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=scores type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=probs type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=q type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=ctx type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=acc type=cyclic factor=64
  int64_t per_key = (dk + DOT_LANES - 1) / DOT_LANES;
  for (int32_t h = 0; h < m.heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    int32_t col = h * dk;
    for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      rd_bytes(scratch, sc.k + (int64_t)j * d + col, kh + (int64_t)j * dk, dk);
      rd_bytes(scratch, sc.v + (int64_t)j * d + col, vh + (int64_t)j * dk, dk);
    }
    cyc += 2 * pipe((int64_t)n * beats(dk), 1, LAT_MEM);
    for (int32_t r = 0; r < n; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      rd_bytes(scratch, sc.q + (int64_t)r * d + col, q, dk);
      for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
        scores[j] = dot_s8((const int8_t*)q, (const int8_t*)(kh + (int64_t)j * dk), dk);
      }
      softmax2(scores, n, n, e_s, m.lut, probs);
      for (int32_t t = 0; t < dk; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
        acc[t] = 0;
      }
      for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
        int32_t pj = probs[j];
        const uint8_t* v_row = vh + (int64_t)j * dk;
        for (int32_t t = 0; t < dk; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=64
          acc[t] += pj * (int32_t)(int8_t)v_row[t];
        }
      }
      for (int32_t t = 0; t < dk; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=64
        ctx[t] = (uint8_t)sat8(shift(acc[t], k_ctx));
      }
      wr_bytes(scratch, sc.c + (int64_t)r * d + col, ctx, dk);
    }
    cyc += n * (2 * burst(dk) + 2 * pipe(n, per_key, LAT_MAC) + softmax_cycles(n) + pipe(per_key, 1, LAT_OUT));
  }
}

// ---- 3.7 LayerNorm: int16 LE rows [rows, d] at scratch + x_off -> int8 rows at scratch + out_off ------------
inline int64_t ln_core_cycles(int64_t d) {
  return 3 * lanes(d) + LAT_DIV;
}

void layer_norm_rows(const Model& m, const word512_t* weights, word512_t* scratch, int64_t x_off, int32_t rows,
                     const LnDesc& ln, int64_t out_off, int64_t& cyc) {
  int32_t d = m.d;
  uint8_t gamma[2 * MAX_D];
  uint8_t beta[4 * MAX_D];
  uint8_t x[2 * MAX_D];
  int8_t y[MAX_D];
#pragma HLS ARRAY_PARTITION variable=gamma type=cyclic factor=32
#pragma HLS ARRAY_PARTITION variable=beta type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=x type=cyclic factor=32
#pragma HLS ARRAY_PARTITION variable=y type=cyclic factor=16
  rd_bytes(weights, ln.gamma_off, gamma, 2 * d);
  rd_bytes(weights, ln.beta_off, beta, 4 * d);
  cyc += burst(2 * (int64_t)d) + burst(4 * (int64_t)d);
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
    rd_bytes(scratch, x_off + 2 * (int64_t)r * d, x, 2 * d);
    layer_norm_row(x, d, gamma, beta, ln.gamma_exp, ln.out_exp, y);
    wr_bytes(scratch, out_off + (int64_t)r * d, (const uint8_t*)y, d);
  }
  cyc += rows * (burst(2 * (int64_t)d) + ln_core_cycles(d) + burst(d));
}

// ---- 3.1 embedding of `rows` positions into the residual stream --------------------------------------------
// Token and position of row r: in[tok_at + r * stride] and pos0 + r (encoder) or in[pos_at + r * stride].
void embed_rows(const Model& m, const word512_t* weights, word512_t* scratch, int64_t g_off, int32_t rows,
                const int32_t* in, int64_t tok_at, int64_t pos_at, int32_t stride, int32_t e_out, int64_t& cyc) {
  int32_t d = m.d;
  int32_t k_e = e_out - (m.embed_exp + m.embed_scale);
  int32_t k_p = e_out - m.pos_exp;
  uint8_t e_row[MAX_D];
  uint8_t p_row[MAX_D];
  uint8_t g_row[2 * MAX_D];
#pragma HLS ARRAY_PARTITION variable=e_row type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=p_row type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=g_row type=cyclic factor=32
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
    int32_t token = in[tok_at + (int64_t)r * stride];
    int32_t pos = pos_at < 0 ? r : in[pos_at + (int64_t)r * stride];
    rd_bytes(weights, m.embed_off + (int64_t)token * d, e_row, d);
    rd_bytes(weights, m.pos_off + (int64_t)pos * d, p_row, d);
    embed_row((const int8_t*)e_row, (const int8_t*)p_row, d, k_e, k_p, g_row);
    wr_bytes(scratch, g_off + 2 * (int64_t)r * d, g_row, 2 * d);
  }
  cyc += rows * (2 * burst(d) + lanes(d) + burst(2 * (int64_t)d));
}

// ---- taps (taps port, int32) and copies out of the scratch ------------------------------------------------
// `rows` rows of d values from scratch + off (int16 LE when wide, else int8) to taps[tap_off ..].
void tap_rows(int32_t* taps, int64_t tap_off, const word512_t* scratch, int64_t off, int32_t rows, int32_t d, bool wide,
              int64_t& cyc) {
  uint8_t row[2 * MAX_D];
  int32_t bytes = wide ? 2 * d : d;
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
    rd_bytes(scratch, off + (int64_t)r * bytes, row, bytes);
    for (int32_t i = 0; i < d; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
      taps[tap_off + (int64_t)r * d + i] = wide ? (int32_t)ld16(row + 2 * i) : (int32_t)(int8_t)row[i];
    }
  }
  cyc += rows * pipe(d, 1, LAT_MEM);
}
// `bytes` bytes from one wide port to another (or the same) through an on-chip buffer, one stream.
void copy_bytes(word512_t* to, int64_t to_off, const word512_t* from, int64_t from_off, int64_t bytes, int64_t& cyc) {
  uint8_t buf[K_CHUNK];
  for (int64_t i = 0; i < bytes; i += K_CHUNK) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=2048
    int32_t n = (int32_t)(bytes - i < K_CHUNK ? bytes - i : K_CHUNK);
    rd_bytes(from, from_off + i, buf, n);
    wr_bytes(to, to_off + i, buf, n);
  }
  cyc += burst(bytes);
}

// ---- block offsets -----------------------------------------------------------------------------------------
int64_t kv_block(const Model& m, int32_t slot, int32_t layer, int32_t which) {
  return (((int64_t)slot * m.dec_layers + layer) * 2 + which) * m.max_pos * m.d;
}
// block 0: encoder memory; 1 + 2l: cross K of decoder layer l; 2 + 2l: cross V.
int64_t src_block(const Model& m, int32_t slot, int32_t block) {
  return ((int64_t)slot * (1 + 2 * m.dec_layers) + block) * m.max_pos * m.d;
}

int32_t load_model(Model& m, const word512_t* weights, int64_t& cyc) {
  uint8_t buf[4 * 64];
  rd_bytes(weights, 0, buf, 4 * HDR_WORDS);
  cyc += burst(4 * HDR_WORDS);
  for (int32_t i = 0; i < HDR_WORDS; i++) {
    m.tbl[i] = ld32(buf + 4 * i);
  }
  int32_t total = m.tbl[H_TOTAL_WORDS];
  if (m.tbl[H_MAGIC] != WEIGHTS_MAGIC || m.tbl[H_VERSION] != LAYOUT_VERSION || total < HDR_WORDS
      || total > MAX_TABLE_WORDS) {
    return ST_BAD_WEIGHTS;
  }
  for (int32_t w = HDR_WORDS; w < total; w += 64) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=87
    int32_t cnt = min32(64, total - w);
    rd_bytes(weights, 4 * (int64_t)w, buf, 4 * cnt);
    for (int32_t i = 0; i < cnt; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
      m.tbl[w + i] = ld32(buf + 4 * i);
    }
  }
  cyc += burst(4 * (int64_t)(total - HDR_WORDS));
  m.d = m.tbl[H_D];
  m.heads = m.tbl[H_HEADS];
  m.dk = m.heads > 0 ? m.d / m.heads : 0;
  m.dff = m.tbl[H_DFF];
  m.enc_layers = m.tbl[H_ENC_LAYERS];
  m.dec_layers = m.tbl[H_DEC_LAYERS];
  m.vocab = m.tbl[H_VOCAB];
  m.max_pos = m.tbl[H_MAX_POS];
  m.embed_scale = m.tbl[H_EMBED_SCALE];
  m.rows = m.tbl[H_ROWS];
  m.kv_slots = m.tbl[H_KV_SLOTS];
  m.src_slots = m.tbl[H_SRC_SLOTS];
  m.embed_off = m.tbl[H_EMBED_OFF];
  m.embed_exp = m.tbl[H_EMBED_EXP];
  m.pos_off = m.tbl[H_POS_OFF];
  m.pos_exp = m.tbl[H_POS_EXP];
  m.enc_embed_out = m.tbl[H_ENC_EMBED_OUT];
  m.dec_embed_out = m.tbl[H_DEC_EMBED_OUT];
  if (m.d < 1 || m.d > MAX_D || m.heads < 1 || m.dk * m.heads != m.d || m.max_pos < 1 || m.max_pos > MAX_POSITIONS
      || m.rows < m.max_pos || m.enc_layers < 0 || m.dec_layers < 0 || m.enc_layers > 64 || m.dec_layers > 64
      || total < HDR_WORDS + m.enc_layers * ENC_LAYER_WORDS + m.dec_layers * DEC_LAYER_WORDS) {
    return ST_BAD_WEIGHTS;
  }
  rd_bytes(weights, m.tbl[H_LUT_OFF], buf, 4 * 64);
  cyc += burst(4 * 64);
  for (int32_t i = 0; i < 64; i++) {
    m.lut[i] = ld32(buf + 4 * i);
  }
  return ST_OK;
}

// ---- 2.1 the encoder pass, one sequence at a time (all its rows at once) --------------------------------------
int32_t encode(const Model& m, int32_t batch, int32_t flags, const word512_t* weights, const word512_t* ws0,
               const word512_t* ws1, const word512_t* ws2, const word512_t* ws3, word512_t* src,
               const int32_t* in, word512_t* out, word512_t* scratch, int32_t* taps, int64_t& cyc) {
  Scratch sc = scratch_at(m);
  int32_t d = m.d;
  bool tapping = (flags & FLAG_TAP) != 0;
  for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
    int32_t slot = in[IN_HDR + 2 * b];
    int32_t n = in[IN_HDR + 2 * b + 1];
    int64_t tokens = IN_HDR + 2 * (int64_t)batch + (int64_t)b * m.max_pos;  // word offset into in
    if (slot < 0 || slot >= m.src_slots) {
      return ST_BAD_SLOT;
    }
    if (n < 1 || n > m.max_pos) {
      return ST_BAD_POSITION;
    }
    for (int32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      if (in[tokens + i] < 0 || in[tokens + i] >= m.vocab) {
        return ST_BAD_TOKEN;
      }
    }
    cyc += pipe(2 + n, 1, LAT_MEM);
    int64_t tap = (int64_t)b * (2 * m.enc_layers + 2) * m.max_pos * d;  // word offset into taps
    int64_t nd = (int64_t)n * d;
    embed_rows(m, weights, scratch, sc.g, n, in, tokens, -1, 1, m.enc_embed_out, cyc);
    if (tapping) {
      tap_rows(taps, tap, scratch, sc.g, n, d, true, cyc);
      tap += nd;
    }
    int32_t e_r = m.enc_embed_out;
    for (int32_t l = 0; l < m.enc_layers; l++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=64
      int32_t base = enc_base(l);
      AttDesc at = att_at(m, base + E_ATT);
      layer_norm_rows(m, weights, scratch, sc.g, n, ln_at(m, base + E_LN1), sc.a, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, at.q, sc.a, false, n, d, d, TO_INT8, sc.q, 0, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, at.k, sc.a, false, n, d, d, TO_INT8, sc.k, 0, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, at.v, sc.a, false, n, d, d, TO_INT8, sc.v, 0, cyc);
      encoder_attention(m, scratch, at, sc, n, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, at.o, sc.c, false, n, d, d, TO_RESIDUAL, sc.g, e_r, cyc);
      e_r = at.o.out_exp;
      if (tapping) {
        tap_rows(taps, tap, scratch, sc.g, n, d, true, cyc);
        tap += nd;
      }
      LinDesc f1 = lin_at(m, base + E_FFN1);
      LinDesc f2 = lin_at(m, base + E_FFN2);
      layer_norm_rows(m, weights, scratch, sc.g, n, ln_at(m, base + E_LN2), sc.a, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, f1, sc.a, false, n, d, m.dff, TO_UINT8, sc.h, 0, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, f2, sc.h, true, n, m.dff, d, TO_RESIDUAL, sc.g, e_r, cyc);
      e_r = f2.out_exp;
      if (tapping) {
        tap_rows(taps, tap, scratch, sc.g, n, d, true, cyc);
        tap += nd;
      }
    }
    // the encoder memory: computed in scratch (A), then stored to the source slot; the cross-attention K/V
    // of every decoder layer are projected from the scratch copy and stored likewise
    layer_norm_rows(m, weights, scratch, sc.g, n, ln_at(m, H_ENC_FINAL), sc.a, cyc);
    copy_bytes(src, src_block(m, slot, 0), scratch, sc.a, nd, cyc);
    if (tapping) {
      tap_rows(taps, tap, scratch, sc.a, n, d, false, cyc);
    }
    for (int32_t l = 0; l < m.dec_layers; l++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=64
      AttDesc cross = att_at(m, dec_base(m, l) + D_CROSS);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, cross.k, sc.a, false, n, d, d, TO_INT8, sc.k, 0, cyc);
      copy_bytes(src, src_block(m, slot, 1 + 2 * l), scratch, sc.k, nd, cyc);
      linear(weights, ws0, ws1, ws2, ws3, scratch, out, cross.v, sc.a, false, n, d, d, TO_INT8, sc.v, 0, cyc);
      copy_bytes(src, src_block(m, slot, 2 + 2 * l), scratch, sc.v, nd, cyc);
    }
  }
  return ST_OK;
}

// ---- 2.2 one batched decoder step with the KV cache (section 6) ----------------------------------------------
int32_t decode_step(const Model& m, int32_t batch, int32_t flags, const word512_t* weights, const word512_t* ws0,
                    const word512_t* ws1, const word512_t* ws2, const word512_t* ws3, word512_t* kv,
                    const word512_t* src, const int32_t* in, word512_t* out, word512_t* scratch, int32_t* taps,
                    int64_t& cyc) {
  Scratch sc = scratch_at(m);
  int32_t d = m.d;
  const int32_t seq = IN_HDR;  // word offset into in: 5 words per sequence
  for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
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
  cyc += pipe(5 * (int64_t)batch, 1, LAT_MEM);
  int64_t tap_stride = (int64_t)(3 * m.dec_layers + 2) * d;
  int32_t point = 0;
  bool tapping = (flags & FLAG_TAP) != 0;
  embed_rows(m, weights, scratch, sc.g, batch, in, seq + 4, seq + 3, 5, m.dec_embed_out, cyc);
  if (tapping) {
    for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
      tap_rows(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, 1, d, true, cyc);
    }
    point++;
  }
  int32_t e_r = m.dec_embed_out;
  for (int32_t l = 0; l < m.dec_layers; l++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=64
    int32_t base = dec_base(m, l);
    // causal self-attention: the new row is appended to the cache, then attends to rows 0..t
    AttDesc self = att_at(m, base + D_SELF);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, base + D_LN1), sc.a, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.q, sc.a, false, batch, d, d, TO_INT8, sc.q, 0, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.k, sc.a, false, batch, d, d, TO_INT8, sc.k, 0, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.v, sc.a, false, batch, d, d, TO_INT8, sc.v, 0, cyc);
    for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
      int32_t slot = in[seq + 5 * b];
      int32_t t = in[seq + 5 * b + 3];
      int64_t ck = kv_block(m, slot, l, 0);
      int64_t cv = kv_block(m, slot, l, 1);
      copy_bytes(kv, ck + (int64_t)t * d, scratch, sc.k + (int64_t)b * d, d, cyc);
      copy_bytes(kv, cv + (int64_t)t * d, scratch, sc.v + (int64_t)b * d, d, cyc);
      attend_row<KEYS_IN_KV>(m, kv, scratch, self, sc.q + (int64_t)b * d, ck, cv, t + 1, sc.c + (int64_t)b * d, cyc);
    }
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.o, sc.c, false, batch, d, d, TO_RESIDUAL, sc.g, e_r, cyc);
    e_r = self.o.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
        tap_rows(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, 1, d, true, cyc);
      }
      point++;
    }
    // cross-attention over the source's precomputed K/V
    AttDesc cross = att_at(m, base + D_CROSS);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, base + D_LN2), sc.a, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, cross.q, sc.a, false, batch, d, d, TO_INT8, sc.q, 0, cyc);
    for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
      int32_t slot = in[seq + 5 * b + 1];
      int32_t n = in[seq + 5 * b + 2];
      attend_row<KEYS_IN_SRC>(m, src, scratch, cross, sc.q + (int64_t)b * d, src_block(m, slot, 1 + 2 * l),
                              src_block(m, slot, 2 + 2 * l), n, sc.c + (int64_t)b * d, cyc);
    }
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, cross.o, sc.c, false, batch, d, d, TO_RESIDUAL, sc.g, e_r, cyc);
    e_r = cross.o.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
        tap_rows(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, 1, d, true, cyc);
      }
      point++;
    }
    // feed-forward
    LinDesc f1 = lin_at(m, base + D_FFN1);
    LinDesc f2 = lin_at(m, base + D_FFN2);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, base + D_LN3), sc.a, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, f1, sc.a, false, batch, d, m.dff, TO_UINT8, sc.h, 0, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, f2, sc.h, true, batch, m.dff, d, TO_RESIDUAL, sc.g, e_r, cyc);
    e_r = f2.out_exp;
    if (tapping) {
      for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
        tap_rows(taps, b * tap_stride + point * d, scratch, sc.g + 2 * (int64_t)b * d, 1, d, true, cyc);
      }
      point++;
    }
  }
  layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, H_DEC_FINAL), sc.a, cyc);
  if (tapping) {
    for (int32_t b = 0; b < batch; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
      tap_rows(taps, b * tap_stride + point * d, scratch, sc.a + (int64_t)b * d, 1, d, false, cyc);
    }
  }
  // 3.8 tied logits: f x E^T, no bias, int32 at eF + eE; the embedding's striped copy is at stripe offset 0
  LinDesc tied;
  tied.w_off = 0;
  tied.b_off = 0;
  tied.has_bias = false;
  tied.acc_exp = 0;
  tied.out_exp = 0;
  linear(weights, ws0, ws1, ws2, ws3, scratch, out, tied, sc.a, false, batch, d, m.vocab, TO_OUT32, 0, 0, cyc);
  return ST_OK;
}

int32_t copy_kv(const Model& m, word512_t* kv, const int32_t* in, int64_t& cyc) {
  int32_t from = in[IN_HDR];
  int32_t to = in[IN_HDR + 1];
  int32_t rows = in[IN_HDR + 2];
  if (from < 0 || from >= m.kv_slots || to < 0 || to >= m.kv_slots) {
    return ST_BAD_SLOT;
  }
  if (rows < 0 || rows > m.max_pos) {
    return ST_BAD_POSITION;
  }
  cyc += pipe(3, 1, LAT_MEM);
  for (int32_t l = 0; l < m.dec_layers; l++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=64
    for (int32_t which = 0; which < 2; which++) {
      copy_bytes(kv, kv_block(m, to, l, which), kv, kv_block(m, from, l, which), (int64_t)rows * m.d, cyc);
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

int32_t op_linear(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
                  const word512_t* ws3, const int32_t* in, word512_t* out, word512_t* scratch, int64_t& cyc) {
  int32_t rows = in[0], k = in[1], x_unsigned = in[2], n = in[3], has_bias = in[4];
  if (rows < 1 || k < 1 || n < 1 || bad_size((int64_t)rows * k) || bad_size((int64_t)n * k)
      || bad_offset(in[P_LIN_W_OFF]) || bad_offset(in[P_LIN_B_OFF])) {
    return ST_BAD_OPERAND;
  }
  // x [rows, k] narrowed into scratch at 0, one stream of int32 words from `in`
  uint8_t buf[K_CHUNK];
  int64_t total = (int64_t)rows * k;
  for (int64_t i = 0; i < total; i += K_CHUNK) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16384
    int32_t cnt = (int32_t)(total - i < K_CHUNK ? total - i : K_CHUNK);
    for (int32_t j = 0; j < cnt; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=4096
      buf[j] = (uint8_t)in[IN_HDR + i + j];
    }
    wr_bytes(scratch, i, buf, cnt);
  }
  cyc += pipe(total, 1, LAT_MEM);
  LinDesc l;
  l.w_off = in[P_LIN_W_OFF];
  l.b_off = in[P_LIN_B_OFF];
  l.has_bias = has_bias != 0;
  l.acc_exp = 0;
  l.out_exp = 0;
  linear(weights, ws0, ws1, ws2, ws3, scratch, out, l, 0, x_unsigned != 0, rows, k, n, TO_OUT32, 0, 0, cyc);
  return ST_OK;
}

int32_t op_requant(const int32_t* in, word512_t* out, int64_t& cyc) {
  int32_t len = in[0], k = in[1], to_unsigned = in[2];
  if (len < 0 || bad_size(len) || k < -24 || k > 62) {
    return ST_BAD_OPERAND;
  }
  for (int32_t i = 0; i < len; i++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=67108864
    int64_t v = shift(in[IN_HDR + i], k);
    wr32(out, OUT_HDR + i, to_unsigned ? (int32_t)satu8(v) : (int32_t)sat8(v));
  }
  cyc += pipe(len, 1, LAT_MEM);
  return ST_OK;
}

int32_t op_softmax(const int32_t* in, word512_t* out, int64_t& cyc) {
  int32_t rows = in[0], len = in[1], e_s = in[2];
  if (rows < 1 || len < 1 || len > MAX_POSITIONS || bad_size((int64_t)rows * len)) {
    return ST_BAD_OPERAND;
  }
  int32_t lut[64];
  for (int32_t i = 0; i < 64; i++) {
    lut[i] = in[IN_HDR + rows + i];
  }
  cyc += pipe(64, 1, LAT_MEM);
  int64_t scores = IN_HDR + rows + 64;  // word offset into in
  int32_t s[MAX_POSITIONS];
  uint8_t p[MAX_POSITIONS];
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=67108864
    for (int32_t j = 0; j < len; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      s[j] = in[scores + (int64_t)r * len + j];
    }
    softmax2(s, len, in[IN_HDR + r], e_s, lut, p);
    for (int32_t j = 0; j < len; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      wr32(out, OUT_HDR + (int64_t)r * len + j, p[j]);
    }
  }
  cyc += rows * (pipe(len + 1, 1, LAT_MEM) + softmax_cycles(len) + pipe(len, 1, LAT_MEM));
  return ST_OK;
}

int32_t op_layer_norm(const word512_t* weights, const int32_t* in, word512_t* out, int64_t& cyc) {
  int32_t rows = in[0], d = in[1], e_g = in[2], e_out = in[3];
  if (rows < 1 || d < 1 || d > MAX_D || bad_size((int64_t)rows * d) || bad_offset(in[P_LN_GAMMA_OFF])
      || bad_offset(in[P_LN_BETA_OFF])) {
    return ST_BAD_OPERAND;
  }
  uint8_t gamma[2 * MAX_D];
  uint8_t beta[4 * MAX_D];
  uint8_t x[2 * MAX_D];
  int8_t y[MAX_D];
  rd_bytes(weights, in[P_LN_GAMMA_OFF], gamma, 2 * d);
  rd_bytes(weights, in[P_LN_BETA_OFF], beta, 4 * d);
  cyc += burst(2 * (int64_t)d) + burst(4 * (int64_t)d);
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=67108864
    for (int32_t i = 0; i < d; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
      st16(x + 2 * i, in[IN_HDR + (int64_t)r * d + i]);
    }
    layer_norm_row(x, d, gamma, beta, e_g, e_out, y);
    for (int32_t i = 0; i < d; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
      wr32(out, OUT_HDR + (int64_t)r * d + i, y[i]);
    }
  }
  cyc += rows * (pipe(d, 1, LAT_MEM) + ln_core_cycles(d) + pipe(d, 1, LAT_MEM));
  return ST_OK;
}

int32_t op_residual(const int32_t* in, word512_t* out, int64_t& cyc) {
  int32_t len = in[0], e_r = in[1], e_acc = in[2], e_out = in[3];
  if (len < 0 || bad_size(len)) {
    return ST_BAD_OPERAND;
  }
  for (int32_t i = 0; i < len; i++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=67108864
    wr32(out, OUT_HDR + i, residual(in[IN_HDR + i], e_out - e_r, in[IN_HDR + len + i], e_out - e_acc));
  }
  cyc += pipe(len, 2, LAT_MEM);
  return ST_OK;
}

int32_t dispatch(int32_t op, int32_t batch, int32_t flags, const word512_t* weights, word512_t* kv, word512_t* src,
                 const int32_t* in, word512_t* out, word512_t* scratch, int32_t* taps, const word512_t* ws0,
                 const word512_t* ws1, const word512_t* ws2, const word512_t* ws3, int64_t& cyc) {
  switch (op) {
    case OP_LINEAR:
      return op_linear(weights, ws0, ws1, ws2, ws3, in, out, scratch, cyc);
    case OP_REQUANT:
      return op_requant(in, out, cyc);
    case OP_SOFTMAX:
      return op_softmax(in, out, cyc);
    case OP_LAYERNORM:
      return op_layer_norm(weights, in, out, cyc);
    case OP_RESIDUAL:
      return op_residual(in, out, cyc);
    case OP_ENCODE:
    case OP_DECODE_STEP:
    case OP_COPY_KV:
      break;
    default:
      return ST_BAD_OP;
  }
  Model m;
  int32_t st = load_model(m, weights, cyc);
  if (st != ST_OK) {
    return st;
  }
  if (op == OP_COPY_KV) {
    return copy_kv(m, kv, in, cyc);
  }
  if (batch < 1 || batch > m.rows || (op == OP_DECODE_STEP && batch > m.kv_slots)) {
    return ST_BAD_BATCH;
  }
  if (op == OP_ENCODE) {
    return encode(m, batch, flags, weights, ws0, ws1, ws2, ws3, src, in, out, scratch, taps, cyc);
  }
  return decode_step(m, batch, flags, weights, ws0, ws1, ws2, ws3, kv, src, in, out, scratch, taps, cyc);
}

}  // namespace
}  // namespace sfk

// One m_axi bundle per port (distinct adapters; connectivity-*.cfg places each port's buffer in its banks),
// the base addresses and scalars on the s_axilite control interface. depth= is each port's size in its
// elements (64-byte words; int32 for in and taps) as the host allocates it for the base preset (vocabulary
// 8000, the default 64 KV and 64 source slots: FpgaModel.bufferBytes and the DeviceImage), what vitis_hls
// C/RTL co-simulation allocates; v++ -c and hw_emu take the sizes from the host's buffers (HlsInterfaceRulesTest
// checks the values).
extern "C" void shiftformer_step(int32_t op, int32_t batch, int32_t flags, const word512_t* weights, word512_t* kv,
                                 word512_t* src, const int32_t* in, word512_t* out, word512_t* scratch, int32_t* taps,
                                 const word512_t* wstripe0, const word512_t* wstripe1, const word512_t* wstripe2,
                                 const word512_t* wstripe3) {
#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=m_weights depth=73895 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=kv offset=slave bundle=m_kv depth=3145728
#pragma HLS INTERFACE m_axi port=src offset=slave bundle=m_src depth=3407872
#pragma HLS INTERFACE m_axi port=in offset=slave bundle=m_in depth=4128
#pragma HLS INTERFACE m_axi port=out offset=slave bundle=m_out depth=32001
#pragma HLS INTERFACE m_axi port=scratch offset=slave bundle=m_scratch depth=45056
#pragma HLS INTERFACE m_axi port=taps offset=slave bundle=m_taps depth=3670016
#pragma HLS INTERFACE m_axi port=wstripe0 offset=slave bundle=m_wstripe0 depth=188032 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=wstripe1 offset=slave bundle=m_wstripe1 depth=188032 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=wstripe2 offset=slave bundle=m_wstripe2 depth=188032 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=wstripe3 offset=slave bundle=m_wstripe3 depth=188032 max_read_burst_length=64
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
#pragma HLS INTERFACE s_axilite port=wstripe0
#pragma HLS INTERFACE s_axilite port=wstripe1
#pragma HLS INTERFACE s_axilite port=wstripe2
#pragma HLS INTERFACE s_axilite port=wstripe3
#pragma HLS INTERFACE s_axilite port=return
  int64_t cycles = 0;
  int32_t st = sfk::dispatch(op, batch, flags, weights, kv, src, in, out, scratch, taps, wstripe0, wstripe1, wstripe2,
                             wstripe3, cycles);
  uint8_t status[16];
  sfk::st32(status, st);
  sfk::st32(status + 4, st == sfk::ST_OK ? batch : 0);
  sfk::st32(status + 4 * sfk::OUT_CYCLES_LO, (int32_t)(uint32_t)((uint64_t)cycles & 0xFFFFFFFFu));
  sfk::st32(status + 4 * sfk::OUT_CYCLES_HI, (int32_t)(uint32_t)((uint64_t)cycles >> 32));
  sfk::wr_bytes(out, 0, status, 16);
}
