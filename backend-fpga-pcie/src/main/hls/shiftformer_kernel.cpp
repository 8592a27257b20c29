// The shiftformer kernel: SPEC.md section 2 (encoder pass, batched decoder step with a KV cache) composed
// from the ops of int_ops.h. Buffer formats and the descriptor table are in shiftformer_kernel.h; the
// datapath's sizes, limits, port access and cycle formulas in datapath.h.
//
// Structure for the card: one run per model step (a launch costs tens of microseconds, so per-op launches
// would be wrong). The working set lives in the scratch buffer (device memory, never synced); the host
// syncs only the small per-step input to the device and the status + logits back.
//
// Memory interface (issue 16 item 1): eleven m_axi ports, one bundle each, all 512-bit word ports (word512_t:
// ap_uint<512> under synthesis, a 64-byte struct in the emulation): weights, kv, src, in, out, scratch, taps and
// the four weight stripes wstripe0..3 (every weight matrix split by rows, shiftformer_kernel.h). A port is read
// and written only as contiguous byte segments into or out of on-chip arrays (rd_bytes / wr_bytes); in, out and
// taps carry int32 little-endian words, 16 to a beat, decoded from and encoded into on-chip bytes. Inside the
// kernel nothing holds a pointer to a port: descriptors and the scratch layout are byte offsets from a named
// port's base; attention, whose key/value rows come from three ports, is a template instantiated once per port.
// No void*, no null pointer.
//
// Datapath (issue 16 item 2): a LINEAR is a weight-stationary PE_R x PE_C MAC array. Up to ROW_TILE activation
// rows (a decoder step's whole batch) are held on chip; per row block, the weight blocks (PE_C weight rows x up
// to K_CHUNK inputs) go through a DATAFLOW region of three processes: load (the block from the four stripes, its
// bias, the rows' input chunk and the residual rows from scratch) -> MAC (the block's tiles stream the rows
// through the array into on-chip accumulators) -> store (requantization, ReLU or the residual add, written out),
// the weight block a ping-pong (PIPO) channel and the result rows an hls::stream, so block i + 1 loads while
// block i computes and block i - 1 stores. Attention keeps a head's keys and values on chip: in the decoder the
// heads of a query row go through a DATAFLOW region too (load the head's K/V rows -> scores and softmax ->
// weighted sum); the encoder holds each head's K/V for all its query rows. The descriptor table, the softmax
// table, a LayerNorm's gamma and beta, a query row and a score row are on chip too.
//
// Trip counts (issue 16 item 1): every loop bound that is not a compile-time constant is clamped to one, by
// min32/min64 with a limit of datapath.h (MAX_D, MAX_POSITIONS, ...) where the bound is computed or at the call
// that passes it (the limits are what the host and load_model enforce, so a clamp never changes a result), and
// the loop's LOOP_TRIPCOUNT max is the largest trip count that clamp allows (HlsInterfaceRulesTest derives it
// and compares).
//
// Cycles (issue 16 item 3): every loop nest adds its cost to the run's cycle count (datapath.h: trip counts
// x initiation interval + pipeline depth, a burst's beats on a 512-bit port, a DATAFLOW region in lock-step
// slots), returned in out[2..3]; DatapathCycles (runtime-api) is the same arithmetic in Java.
#include "shiftformer_kernel.h"

#include <hls_stream.h>

#include "int_ops.h"

namespace sfk {
namespace {

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

// Weight blocks of one linear, at most: a vocabulary of MAX_VOCAB outputs in blocks of PE_C (or, in an op-level
// LINEAR, as many input chunks of a long row: op_linear checks).
const int32_t MAX_BLOCKS = MAX_VOCAB / PE_C;

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
    int32_t part = min32(n, PE_R - 1);
    for (int32_t i = 0; i < part; i++) {
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
    int32_t part = min32(n, PE_R - 1);
    for (int32_t i = 0; i < part; i++) {
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
  int32_t cols = min32(cn, PE_C);
  int32_t rows = min32(m, ROW_TILE);
  for (int32_t c = 0; c < cols; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS UNROLL
    widen<int8_t>(wt[c] + kt, pe[c], kr);
  }
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS PIPELINE II=1
    widen<X>((const X*)(xs[r] + kt), x, kr);
    for (int32_t c = 0; c < cols; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS UNROLL
      acc[r][c] += column(x, pe[c], kr);
    }
  }
}

// A linear's shape, operands and output, for the stages below; rb and m: the row block in flight.
struct LinPass {
  int32_t k, n, chunks, blocks;
  int64_t x_off, out_off;
  bool x_unsigned;
  OutMode mode;
  int32_t k_out, k_res;  // the output stage's shifts: accumulator and residual to the output exponent
  int32_t w_off, b_off;
  bool has_bias;
  int32_t rb, m;
};

// Weight block i of a pass: output block i / chunks (rows nb .. nb + cn of the weight), input chunk i % chunks
// (inputs kc .. kc + kw), tiles of PE_R inputs; the first chunk of an output block starts its accumulators from
// the bias, the last one sends them to the output stage.
struct Block {
  int32_t nb, kc, cn, kw, tiles;
  bool first, last;
};
Block block_at(const LinPass& p, int32_t i) {
  Block b;
  b.nb = i / p.chunks * PE_C;
  b.kc = i % p.chunks * K_CHUNK;
  b.cn = min32(PE_C, p.n - b.nb);
  b.kw = min32(K_CHUNK, p.k - b.kc);
  b.tiles = (b.kw + PE_R - 1) / PE_R;
  b.first = b.kc == 0;
  b.last = b.kc + b.kw == p.k;
  return b;
}

// Inputs kc .. kc + kw of the row block's m rows of x [rows, k] at scratch + x_off, into on-chip rows.
void load_rows(const word512_t* scratch, const LinPass& p, int32_t kc, int32_t kw, uint8_t xs[ROW_TILE][K_CHUNK]) {
  int32_t rows = min32(p.m, ROW_TILE);
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    rd_bytes(scratch, p.x_off + (int64_t)(p.rb + r) * p.k + kc, xs[r], kw);
  }
}

// The rows c = s, s + WEIGHT_STRIPES, ... (< cn) of weight block i from stripe s, each one burst of kw bytes
// into its row of the on-chip block. Row nb + c of the matrix is on stripe (nb + c) % WEIGHT_STRIPES = c %
// WEIGHT_STRIPES (nb is a multiple of PE_C), at stripe row (nb + c) / WEIGHT_STRIPES.
void load_stripe(const word512_t* stripe, int32_t s, const LinPass& p, int32_t i, int8_t wt[PE_C][K_CHUNK]) {
#pragma HLS INLINE off
  Block b = block_at(p, i);
  int32_t cols = min32(b.cn, PE_C);
  for (int32_t c = s; c < cols; c += WEIGHT_STRIPES) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=16
    rd_bytes(stripe, p.w_off + (int64_t)((b.nb + c) / WEIGHT_STRIPES) * p.k + b.kc, (uint8_t*)wt[c], b.kw);
  }
}

// Block i's bias segment at the first input chunk of its output block (zeros without a bias).
void load_bias(const word512_t* weights, const LinPass& p, int32_t i, int32_t bias[PE_C]) {
#pragma HLS INLINE off
  Block b = block_at(p, i);
  uint8_t seg[4 * PE_C];
  bool read = b.first && p.has_bias;
  if (read) {
    rd_bytes(weights, p.b_off + 4 * (int64_t)b.nb, seg, 4 * b.cn);
  }
  for (int32_t c = 0; c < PE_C; c++) {
#pragma HLS UNROLL
    bias[c] = read && c < b.cn ? ld32(seg + 4 * c) : 0;
  }
}

// From scratch: the rows' input chunk when k > K_CHUNK (when k fits, the rows are on chip for the whole row block)
// and, at the last chunk of a residual linear, the m rows' int16 residual segments the output stage adds to.
void load_scratch(const word512_t* scratch, const LinPass& p, int32_t i, uint8_t xc[ROW_TILE][K_CHUNK],
                  uint8_t res[ROW_TILE][2 * PE_C]) {
#pragma HLS INLINE off
  Block b = block_at(p, i);
  if (p.chunks > 1) {
    load_rows(scratch, p, b.kc, b.kw, xc);
  }
  if (b.last && p.mode == TO_RESIDUAL) {
    int32_t rows = min32(p.m, ROW_TILE);
    for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
      rd_bytes(scratch, p.out_off + 2 * ((int64_t)(p.rb + r) * p.n + b.nb), res[r], 2 * b.cn);
    }
  }
}

// The three stages' cycles for block i (datapath.h). Load: the four stripes' bursts of ceil(cn / 4) rows each,
// the bias burst and the scratch bursts run concurrently (separate instances on separate ports), so the longest.
// MAC: the tiles x m rows through the array, then at the last chunk the m result rows into the stream (one a
// cycle). Store, at the last chunk: one row of cn results per initiation, its beats on the output port.
int64_t load_cycles(const LinPass& p, const Block& b) {
  int64_t stripes = pipe((int64_t)((b.cn + WEIGHT_STRIPES - 1) / WEIGHT_STRIPES) * beats(b.kw), 1, LAT_MEM);
  int64_t bias = b.first && p.has_bias ? burst(4 * (int64_t)b.cn) : 0;
  int64_t scr = (p.chunks > 1 ? p.m * beats(b.kw) : 0) + (b.last && p.mode == TO_RESIDUAL ? p.m * beats(2 * b.cn) : 0);
  return max64(stripes, max64(bias, pipe(scr, 1, LAT_MEM)));
}
int64_t mac_cycles(const LinPass& p, const Block& b) {
  return pipe((int64_t)b.tiles * p.m, 1, LAT_MAC) + (b.last ? p.m : 0);
}
int64_t out_row_bytes(OutMode mode, int32_t cn) {
  return (mode == TO_OUT32 ? 4 : mode == TO_RESIDUAL ? 2 : 1) * (int64_t)cn;
}
int64_t store_cycles(const LinPass& p, const Block& b) {
  return b.last ? pipe(p.m, beats(out_row_bytes(p.mode, b.cn)), LAT_OUT) : 0;
}

// The load process: weight block i from the four stripes at once (four load_stripe instances on four ports
// writing disjoint rows of the row-partitioned block), its bias, its scratch rows; and the region's cycle count,
// block by block in lock-step (Flow3), kept by this process alone.
void load_stage(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
                const word512_t* ws3, const word512_t* scratch, const LinPass& p, int32_t i, int8_t wt[PE_C][K_CHUNK],
                int32_t bias[PE_C], uint8_t xc[ROW_TILE][K_CHUNK], uint8_t res[ROW_TILE][2 * PE_C], Flow3& flow) {
#pragma HLS INLINE off
  static_assert(WEIGHT_STRIPES == 4, "one load_stripe per stripe port");
  load_stripe(ws0, 0, p, i, wt);
  load_stripe(ws1, 1, p, i, wt);
  load_stripe(ws2, 2, p, i, wt);
  load_stripe(ws3, 3, p, i, wt);
  load_bias(weights, p, i, bias);
  load_scratch(scratch, p, i, xc, res);
  Block b = block_at(p, i);
  flow.item(load_cycles(p, b), mac_cycles(p, b), store_cycles(p, b));
}

// One row of an output block's int32 results, from the MAC process to the store process.
struct AccRow {
  int32_t v[PE_C];
};

// The MAC process: at the first chunk the accumulators start from the bias; every tile of the on-chip block
// streams the m rows (xs: the whole rows, loaded once per row block; xc: this chunk's, when k > K_CHUNK) through
// the array; at the last chunk the m finished rows go to the store process.
void mac_stage(const uint8_t xs[ROW_TILE][K_CHUNK], const uint8_t xc[ROW_TILE][K_CHUNK], const int8_t wt[PE_C][K_CHUNK],
               const int32_t bias[PE_C], const LinPass& p, int32_t i, int32_t acc[ROW_TILE][PE_C],
               hls::stream<AccRow, ROW_TILE>& done) {
#pragma HLS INLINE off
  Block b = block_at(p, i);
  int32_t rows = min32(p.m, ROW_TILE);
  if (b.first) {
    for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS PIPELINE II=1
      for (int32_t c = 0; c < PE_C; c++) {
#pragma HLS UNROLL
        acc[r][c] = bias[c];
      }
    }
  }
  const uint8_t(*x)[K_CHUNK] = p.chunks > 1 ? xc : xs;
  int32_t tiles = min32(b.tiles, K_CHUNK / PE_R);
  for (int32_t t = 0; t < tiles; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    int32_t kr = min32(PE_R, b.kw - t * PE_R);
    if (p.x_unsigned) {
      mac_tile<uint8_t>(x, rows, t * PE_R, wt, b.cn, kr, acc);
    } else {
      mac_tile<int8_t>(x, rows, t * PE_R, wt, b.cn, kr, acc);
    }
  }
  if (b.last) {
    for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS PIPELINE II=1
      AccRow a;
      for (int32_t c = 0; c < PE_C; c++) {
#pragma HLS UNROLL
        a.v[c] = acc[r][c];
      }
      done.write(a);
    }
  }
}

// The store process, at the last chunk of an output block: per row, requantize (int8), apply ReLU (uint8), add to
// the residual segment the load process brought (int16, written back), or write the raw int32 (out), cn results
// per initiation.
void store_stage(hls::stream<AccRow, ROW_TILE>& done, const uint8_t res[ROW_TILE][2 * PE_C], const LinPass& p,
                 int32_t i, word512_t* scratch, word512_t* out) {
#pragma HLS INLINE off
  Block b = block_at(p, i);
  if (!b.last) {
    return;
  }
  int32_t rows = min32(p.m, ROW_TILE);
  int32_t cols = min32(b.cn, PE_C);
  uint8_t seg[4 * PE_C];
  for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
    AccRow a = done.read();
    int64_t idx = (int64_t)(p.rb + r) * p.n + b.nb;
    for (int32_t c = 0; c < cols; c++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
#pragma HLS UNROLL
      switch (p.mode) {
        case TO_INT8:
          seg[c] = (uint8_t)sat8(shift(a.v[c], p.k_out));
          break;
        case TO_UINT8:
          seg[c] = satu8(shift(a.v[c], p.k_out));
          break;
        case TO_RESIDUAL:
          st16(seg + 2 * c, residual(ld16(res[r] + 2 * c), p.k_res, a.v[c], p.k_out));
          break;
        case TO_OUT32:
          st32(seg + 4 * c, a.v[c]);
          break;
      }
    }
    int32_t bytes = (int32_t)out_row_bytes(p.mode, b.cn);
    if (p.mode == TO_OUT32) {
      wr_bytes(out, 4 * (OUT_HDR + idx), seg, bytes);
    } else {
      wr_bytes(scratch, p.out_off + (p.mode == TO_RESIDUAL ? 2 : 1) * idx, seg, bytes);
    }
  }
}

// One row block's weight blocks through the DATAFLOW region, a loop in canonical form (from 0 by 1 to a function
// argument, only the processes' calls in its body): each iteration's channels (the weight block, bias, input
// chunk and residual rows: ping-pong buffers; the result rows: a stream of ROW_TILE, which holds everything the
// MAC process writes per block, so the emulation's sequential run needs no more) let the three processes of
// consecutive blocks overlap. xs and acc belong to the MAC process alone. flow: the region's cycles.
void linear_flow(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
                 const word512_t* ws3, word512_t* scratch, word512_t* out, const LinPass& p,
                 const uint8_t xs[ROW_TILE][K_CHUNK], int32_t acc[ROW_TILE][PE_C], int32_t blocks, Flow3& flow) {
  for (int32_t i = 0; i < blocks; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=16384
#pragma HLS DATAFLOW
    int8_t wt[PE_C][K_CHUNK];
    int32_t bias[PE_C];
    uint8_t xc[ROW_TILE][K_CHUNK];
    uint8_t res[ROW_TILE][2 * PE_C];
    hls::stream<AccRow, ROW_TILE> done;
#pragma HLS ARRAY_PARTITION variable=wt dim=1 type=complete
#pragma HLS ARRAY_RESHAPE variable=wt dim=2 type=cyclic factor=64
#pragma HLS ARRAY_RESHAPE variable=xc dim=2 type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=bias type=complete
    load_stage(weights, ws0, ws1, ws2, ws3, scratch, p, i, wt, bias, xc, res, flow);
    mac_stage(xs, xc, wt, bias, p, i, acc, done);
    store_stage(done, res, p, i, scratch, out);
  }
}

// x: [rows, k] int8 (uint8 when x_unsigned) at scratch + x_off; the output per mode (store_stage). Per row block
// of up to ROW_TILE rows: the rows on chip once (when k <= K_CHUNK), then the weight blocks through the dataflow
// region.
void linear(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
            const word512_t* ws3, word512_t* scratch, word512_t* out, const LinDesc& l, int64_t x_off,
            bool x_unsigned, int32_t rows, int32_t k, int32_t n, OutMode mode, int64_t out_off, int32_t e_r,
            int64_t& cyc) {
  uint8_t xs[ROW_TILE][K_CHUNK];
  int32_t acc[ROW_TILE][PE_C];
#pragma HLS ARRAY_RESHAPE variable=xs dim=2 type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=acc dim=2 type=complete
  LinPass p;
  p.k = k;
  p.n = n;
  p.chunks = (k + K_CHUNK - 1) / K_CHUNK;
  p.blocks = (n + PE_C - 1) / PE_C * p.chunks;
  p.x_off = x_off;
  p.out_off = out_off;
  p.x_unsigned = x_unsigned;
  p.mode = mode;
  p.k_out = l.out_exp - l.acc_exp;
  p.k_res = l.out_exp - e_r;
  p.w_off = l.w_off;
  p.b_off = l.b_off;
  p.has_bias = l.has_bias;
  int32_t all = min32(rows, MAX_ROWS);
  for (int32_t rb = 0; rb < all; rb += ROW_TILE) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    p.rb = rb;
    p.m = min32(ROW_TILE, rows - rb);
    if (p.chunks == 1) {
      load_rows(scratch, p, 0, k, xs);  // once per row block, reused by every tile
      cyc += pipe((int64_t)p.m * beats(k), 1, LAT_MEM);
    }
    Flow3 flow;
    linear_flow(weights, ws0, ws1, ws2, ws3, scratch, out, p, xs, acc, min32(p.blocks, MAX_BLOCKS), flow);
    cyc += flow.end();
  }
}

// ---- 3.3 attention -----------------------------------------------------------------------------------------------
// The key/value rows come from the kv, src or scratch port: the functions that read them are templates instantiated
// once per port (PORT), so each instance's `keys` is bound to one bundle. Keys and values [n_keys, d] int8 at
// keys + k_off / v_off, all valid; head h is the column segment [h * d_k, (h + 1) * d_k) of every row.
enum KeyPort { KEYS_IN_KV, KEYS_IN_SRC, KEYS_IN_SCRATCH };

inline int64_t softmax_cycles(int64_t len) {
  return 3 * lanes(len) + LAT_DIV;
}
// A key's (or value's) d_k products on DOT_LANES multipliers: passes per key row.
inline int64_t per_key(int64_t dk) {
  return (dk + DOT_LANES - 1) / DOT_LANES;
}
// A head's n key rows and n value rows, each a burst of d_k bytes, from one port: two pipelined loops.
inline int64_t head_load_cycles(int64_t n, int64_t dk) {
  return 2 * pipe(n * beats(dk), 1, LAT_MEM);
}
// Scores of one query segment against n keys on chip, then softmax over them.
inline int64_t score_cycles(int64_t n, int64_t dk) {
  return pipe(n, per_key(dk), LAT_MAC) + softmax_cycles(n);
}
// The weighted sum of n values on chip, then the context segment's output stage.
inline int64_t weigh_cycles(int64_t n, int64_t dk) {
  return pipe(n, per_key(dk), LAT_MAC) + pipe(per_key(dk), 1, LAT_OUT);
}

// Head h's key and value rows (n_keys x d_k each) on chip: kh and vh [j * dk + t].
template <int PORT>
void load_head(const word512_t* keys, int64_t k_off, int64_t v_off, int32_t h, int32_t n_keys, int32_t d, int32_t dk,
               uint8_t kh[KV_ON_CHIP], uint8_t vh[KV_ON_CHIP]) {
#pragma HLS INLINE off
  int32_t n = min32(n_keys, MAX_POSITIONS);
  int64_t col = (int64_t)h * dk;
  for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
    rd_bytes(keys, k_off + (int64_t)j * d + col, kh + (int64_t)j * dk, dk);
    rd_bytes(keys, v_off + (int64_t)j * d + col, vh + (int64_t)j * dk, dk);
  }
}

// Head h's scores: its segment of the query row q (q + h * d_k) against the n keys on chip, DOT_LANES products a
// cycle, then SOFTMAX2 into probs.
void score_head(const uint8_t q[MAX_D], int32_t h, const uint8_t kh[KV_ON_CHIP], int32_t n_keys, int32_t dk,
                int32_t e_s, const int32_t lut[64], uint8_t probs[MAX_POSITIONS]) {
#pragma HLS INLINE off
  int32_t scores[MAX_POSITIONS];
#pragma HLS ARRAY_PARTITION variable=scores type=cyclic factor=16
  int32_t n = min32(n_keys, MAX_POSITIONS);
  const int8_t* qs = (const int8_t*)q + (int64_t)h * dk;
  for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
    scores[j] = dot_s8(qs, (const int8_t*)(kh + (int64_t)j * dk), dk);
  }
  softmax2(scores, n, n, e_s, lut, probs);
}

// acc[t] += pj * v_row[t] over a value row's d_k entries (uint8 x int8 summed over positions is exact in int32:
// section 8, the max_positions bound).
inline void weigh_row(int32_t acc[MAX_D], int32_t pj, const uint8_t* v_row, int32_t dk) {
  int32_t w = min32(dk, MAX_D);
  for (int32_t t = 0; t < w; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=64
    acc[t] += pj * (int32_t)(int8_t)v_row[t];
  }
}
// The first d_k accumulators zeroed, or requantized into the int8 context segment seg.
inline void zero_acc(int32_t acc[MAX_D], int32_t dk) {
  int32_t w = min32(dk, MAX_D);
  for (int32_t t = 0; t < w; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    acc[t] = 0;
  }
}
inline void ctx_out(const int32_t acc[MAX_D], int32_t dk, int32_t k_ctx, uint8_t* seg) {
  int32_t w = min32(dk, MAX_D);
  for (int32_t t = 0; t < w; t++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=64
    seg[t] = (uint8_t)sat8(shift(acc[t], k_ctx));
  }
}

// Head h's weighted sum Pr x V over the n values on chip, requantized into the context row's segment
// ctx + h * d_k.
void weigh_head(const uint8_t probs[MAX_POSITIONS], const uint8_t vh[KV_ON_CHIP], int32_t h, int32_t n_keys,
                int32_t dk, int32_t k_ctx, uint8_t ctx[MAX_D]) {
#pragma HLS INLINE off
  int32_t acc[MAX_D];
#pragma HLS ARRAY_PARTITION variable=acc type=cyclic factor=64
  int32_t n = min32(n_keys, MAX_POSITIONS);
  zero_acc(acc, dk);
  for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
    weigh_row(acc, probs[j], vh + (int64_t)j * dk, dk);
  }
  ctx_out(acc, dk, k_ctx, ctx + (int64_t)h * dk);
}

// A head too long for the chip (n_keys x d_k > KV_ON_CHIP): its key segments stream in one per key for the
// scores, then its value segments one per key for the weighted sum, the heads one after the other; a segment per
// initiation, its beats or its DOT_LANES passes, whichever is longer.
template <int PORT>
void attend_streamed(const word512_t* keys, int64_t k_off, int64_t v_off, int32_t n_keys, int32_t d, int32_t dk,
                     int32_t e_s, int32_t k_ctx, const uint8_t q_row[MAX_D], const int32_t lut[64],
                     uint8_t ctx[MAX_D], int32_t heads, int64_t& cyc) {
  int32_t scores[MAX_POSITIONS];
  uint8_t probs[MAX_POSITIONS];
  uint8_t kv_row[MAX_D];
  int32_t acc[MAX_D];
#pragma HLS ARRAY_PARTITION variable=scores type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=probs type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=kv_row type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=acc type=cyclic factor=64
  int32_t n = min32(n_keys, MAX_POSITIONS);
  int64_t per = max64(beats(dk), per_key(dk));
  for (int32_t h = 0; h < heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    int64_t col = (int64_t)h * dk;
    for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      rd_bytes(keys, k_off + (int64_t)j * d + col, kv_row, dk);
      scores[j] = dot_s8((const int8_t*)q_row + col, (const int8_t*)kv_row, dk);
    }
    softmax2(scores, n, n, e_s, lut, probs);
    zero_acc(acc, dk);
    for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      rd_bytes(keys, v_off + (int64_t)j * d + col, kv_row, dk);
      weigh_row(acc, probs[j], kv_row, dk);
    }
    ctx_out(acc, dk, k_ctx, ctx + col);
  }
  cyc += heads * (2 * pipe(n_keys, per, LAT_MEM + LAT_MAC) + softmax_cycles(n_keys) + pipe(per_key(dk), 1, LAT_OUT));
}

// The heads of one query row through a DATAFLOW region (a canonical loop over the heads): load head h's K/V rows
// -> its scores and softmax -> its weighted sum, so head h + 1 loads while head h scores and head h - 1 weighs.
// Channels: kh and probs ping-pong buffers between neighbours; vh skips the score process, so it holds three
// heads (depth 3). q_row and the lut are read by the score process alone, ctx written by the weigh process alone.
template <int PORT>
void attend_heads(const word512_t* keys, int64_t k_off, int64_t v_off, int32_t n_keys, int32_t d, int32_t dk,
                  int32_t e_s, int32_t k_ctx, const uint8_t q_row[MAX_D], const int32_t lut[64], uint8_t ctx[MAX_D],
                  int32_t heads) {
  for (int32_t h = 0; h < heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS DATAFLOW
    uint8_t kh[KV_ON_CHIP];
    uint8_t vh[KV_ON_CHIP];
    uint8_t probs[MAX_POSITIONS];
#pragma HLS ARRAY_PARTITION variable=kh type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=vh type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=probs type=cyclic factor=16
#pragma HLS STREAM variable=vh type=pipo depth=3
    load_head<PORT>(keys, k_off, v_off, h, n_keys, d, dk, kh, vh);
    score_head(q_row, h, kh, n_keys, dk, e_s, lut, probs);
    weigh_head(probs, vh, h, n_keys, dk, k_ctx, ctx);
  }
}

// Attention of one query row: q [d] at scratch + q_off over n_keys key/value rows; the int8 context row [d] to
// scratch + ctx_off. A head whose rows fit on chip (n_keys x d_k <= KV_ON_CHIP) goes through the heads' dataflow
// region; a longer one streams its key and value segments per key, one head after the other.
template <int PORT>
void attend_row(const Model& m, const word512_t* keys, word512_t* scratch, const AttDesc& at, int64_t q_off,
                int64_t k_off, int64_t v_off, int32_t n_keys, int64_t ctx_off, int64_t& cyc) {
  int32_t e_s = at.q.out_exp + at.k.out_exp;
  int32_t k_ctx = at.ctx_exp - (-8 + at.v.out_exp);
  int32_t d = m.d;
  int32_t dk = m.dk;
  int32_t heads = min32(m.heads, MAX_D);
  uint8_t q_row[MAX_D];
  uint8_t ctx[MAX_D];
#pragma HLS ARRAY_PARTITION variable=q_row type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=ctx type=cyclic factor=64
  rd_bytes(scratch, q_off, q_row, d);
  cyc += burst(d);
  if ((int64_t)n_keys * dk <= KV_ON_CHIP) {
    attend_heads<PORT>(keys, k_off, v_off, n_keys, d, dk, e_s, k_ctx, q_row, m.lut, ctx, heads);
    Flow3 flow;
    for (int32_t h = 0; h < heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
      flow.item(head_load_cycles(n_keys, dk), score_cycles(n_keys, dk), weigh_cycles(n_keys, dk));
    }
    cyc += flow.end();
  } else {
    attend_streamed<PORT>(keys, k_off, v_off, n_keys, d, dk, e_s, k_ctx, q_row, m.lut, ctx, heads, cyc);
  }
  wr_bytes(scratch, ctx_off, ctx, d);
  cyc += burst(d);
}

// Encoder self-attention of one source of n rows (Q, K, V in scratch): per head, the head's key and value
// rows [n, d_k] are burst on chip once (load_head) and every query row of the source meets them there, one after
// the other (its segment in, score_head, weigh_head, its context segment out). A source whose head does not fit
// (n x d_k > KV_ON_CHIP) streams them per query row as the decoder does.
void encoder_attention(const Model& m, word512_t* scratch, const AttDesc& at, const Scratch& sc, int32_t n,
                       int64_t& cyc) {
  int32_t d = m.d;
  int32_t dk = m.dk;
  int32_t rows = min32(n, MAX_POSITIONS);
  if ((int64_t)n * dk > KV_ON_CHIP) {
    for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      attend_row<KEYS_IN_SCRATCH>(m, scratch, scratch, at, sc.q + (int64_t)r * d, sc.k, sc.v, n,
                                  sc.c + (int64_t)r * d, cyc);
    }
    return;
  }
  int32_t e_s = at.q.out_exp + at.k.out_exp;
  int32_t k_ctx = at.ctx_exp - (-8 + at.v.out_exp);
  int32_t heads = min32(m.heads, MAX_D);
  uint8_t kh[KV_ON_CHIP];
  uint8_t vh[KV_ON_CHIP];
  uint8_t probs[MAX_POSITIONS];
  uint8_t q[MAX_D];
  uint8_t ctx[MAX_D];
#pragma HLS ARRAY_PARTITION variable=kh type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=vh type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=probs type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=q type=cyclic factor=64
#pragma HLS ARRAY_PARTITION variable=ctx type=cyclic factor=64
  for (int32_t h = 0; h < heads; h++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    int64_t col = (int64_t)h * dk;
    load_head<KEYS_IN_SCRATCH>(scratch, sc.k, sc.v, h, n, d, dk, kh, vh);
    for (int32_t r = 0; r < rows; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      rd_bytes(scratch, sc.q + (int64_t)r * d + col, q, dk);
      score_head(q, 0, kh, n, dk, e_s, m.lut, probs);
      weigh_head(probs, vh, 0, n, dk, k_ctx, ctx);
      wr_bytes(scratch, sc.c + (int64_t)r * d + col, ctx, dk);
    }
    cyc += head_load_cycles(n, dk) + n * (2 * burst(dk) + score_cycles(n, dk) + weigh_cycles(n, dk));
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
  int32_t all = min32(rows, MAX_ROWS);
  for (int32_t r = 0; r < all; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
    rd_bytes(scratch, x_off + 2 * (int64_t)r * d, x, 2 * d);
    layer_norm_row(x, d, gamma, beta, ln.gamma_exp, ln.out_exp, y);
    wr_bytes(scratch, out_off + (int64_t)r * d, (const uint8_t*)y, d);
  }
  cyc += rows * (burst(2 * (int64_t)d) + ln_core_cycles(d) + burst(d));
}

// ---- 3.1 embedding of `rows` positions into the residual stream at scratch + g_off ---------------------------
// Token and position of row r from an on-chip array of input words: words[tok_at + r * stride], and r (pos_at < 0:
// the encoder) or words[pos_at + r * stride].
void embed_rows(const Model& m, const word512_t* weights, word512_t* scratch, int64_t g_off, int32_t rows,
                const int32_t* words, int32_t tok_at, int32_t pos_at, int32_t stride, int32_t e_out, int64_t& cyc) {
  int32_t d = m.d;
  int32_t k_e = e_out - (m.embed_exp + m.embed_scale);
  int32_t k_p = e_out - m.pos_exp;
  uint8_t e_row[MAX_D];
  uint8_t p_row[MAX_D];
  uint8_t g_row[2 * MAX_D];
#pragma HLS ARRAY_PARTITION variable=e_row type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=p_row type=cyclic factor=16
#pragma HLS ARRAY_PARTITION variable=g_row type=cyclic factor=32
  int32_t all = min32(rows, MAX_POSITIONS);
  for (int32_t r = 0; r < all; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
    int32_t token = words[tok_at + r * stride];
    int32_t pos = pos_at < 0 ? r : words[pos_at + r * stride];
    rd_bytes(weights, m.embed_off + (int64_t)token * d, e_row, d);
    rd_bytes(weights, m.pos_off + (int64_t)pos * d, p_row, d);
    embed_row((const int8_t*)e_row, (const int8_t*)p_row, d, k_e, k_p, g_row);
    wr_bytes(scratch, g_off + 2 * (int64_t)r * d, g_row, 2 * d);
  }
  cyc += rows * (2 * burst(d) + lanes(d) + burst(2 * (int64_t)d));
}

// ---- taps and copies out of the scratch ---------------------------------------------------------------------------
// `rows` rows of d values from scratch + off (int16 LE when wide, else int8), widened to int32 LE words, to the taps
// port at int32 index tap_off: per row, one burst in and one out, the taps port's beats binding (the scratch row is
// half or a quarter as long, on another port, read as the words go out).
void tap_rows(word512_t* taps, int64_t tap_off, const word512_t* scratch, int64_t off, int32_t rows, int32_t d, bool wide,
              int64_t& cyc) {
  uint8_t row[2 * MAX_D];
  uint8_t words[4 * MAX_D];
#pragma HLS ARRAY_PARTITION variable=row type=cyclic factor=32
#pragma HLS ARRAY_PARTITION variable=words type=cyclic factor=64
  int32_t bytes = wide ? 2 * d : d;
  int32_t all = min32(rows, MAX_POSITIONS);
  int32_t w = min32(d, MAX_D);
  for (int32_t r = 0; r < all; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
    rd_bytes(scratch, off + (int64_t)r * bytes, row, bytes);
    for (int32_t i = 0; i < w; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
      st32(words + 4 * i, wide ? (int32_t)ld16(row + 2 * i) : (int32_t)(int8_t)row[i]);
    }
    wr_bytes(taps, 4 * (tap_off + (int64_t)r * d), words, 4 * d);
  }
  cyc += rows * burst(4 * (int64_t)d);
}

// Every sequence's row of a decoder step (sequence b's at scratch + off + b x the row's bytes) to its tap point
// taps[b * stride + point * d].
void tap_batch(word512_t* taps, int64_t stride, int32_t point, const word512_t* scratch, int64_t off, int32_t batch,
               int32_t d, bool wide, int64_t& cyc) {
  int32_t seqs = min32(batch, MAX_ROWS);
  int64_t row = (wide ? 2 : 1) * (int64_t)d;
  for (int32_t b = 0; b < seqs; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
    tap_rows(taps, b * stride + (int64_t)point * d, scratch, off + b * row, 1, d, wide, cyc);
  }
}

// Bytes of one copy at most: a [max_positions, d] block.
const int64_t MAX_COPY = (int64_t)MAX_POSITIONS * MAX_D;

// `bytes` bytes from one wide port to another (or the same) through an on-chip buffer, one stream.
void copy_bytes(word512_t* to, int64_t to_off, const word512_t* from, int64_t from_off, int64_t bytes, int64_t& cyc) {
  uint8_t buf[K_CHUNK];
  int64_t all = min64(bytes, MAX_COPY);
  for (int64_t i = 0; i < all; i += K_CHUNK) {
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
  int32_t words = min32(total, MAX_TABLE_WORDS);
  for (int32_t w = HDR_WORDS; w < words; w += 64) {
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
  // the limits the loop bounds are clamped to (datapath.h), so a clamp never changes what a run computes
  if (m.d < 1 || m.d > MAX_D || m.heads < 1 || m.dk * m.heads != m.d || m.max_pos < 1 || m.max_pos > MAX_POSITIONS
      || m.rows < m.max_pos || m.rows > MAX_ROWS || m.enc_layers < 0 || m.dec_layers < 0 || m.enc_layers > MAX_LAYERS
      || m.dec_layers > MAX_LAYERS || m.dff < 1 || m.dff > MAX_DFF || m.vocab < 1 || m.vocab > MAX_VOCAB
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

// n int32 words of the in port from word index at, on chip (bytes decoded with ld32).
void read_words(const word512_t* in, int64_t at, int32_t n, uint8_t bytes[MAX_SEGMENT], int32_t* words) {
  int32_t cnt = min32(n, MAX_SEGMENT / 4);
  rd_bytes(in, 4 * at, bytes, 4 * cnt);
  for (int32_t i = 0; i < cnt; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    words[i] = ld32(bytes + 4 * i);
  }
}

// ---- 2.1 the encoder pass, one sequence at a time (all its rows at once) --------------------------------------
int32_t encode(const Model& m, int32_t batch, int32_t flags, const word512_t* weights, const word512_t* ws0,
               const word512_t* ws1, const word512_t* ws2, const word512_t* ws3, word512_t* src,
               const word512_t* in, word512_t* out, word512_t* scratch, word512_t* taps, int64_t& cyc) {
  Scratch sc = scratch_at(m);
  int32_t d = m.d;
  bool tapping = (flags & FLAG_TAP) != 0;
  uint8_t bytes[MAX_SEGMENT];
  int32_t tokens[MAX_POSITIONS];
  int32_t sources = min32(batch, MAX_ROWS);
  for (int32_t b = 0; b < sources; b++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65536
    int32_t head[2];
    read_words(in, IN_HDR + 2 * (int64_t)b, 2, bytes, head);
    int32_t slot = head[0];
    int32_t n = head[1];
    if (slot < 0 || slot >= m.src_slots) {
      return ST_BAD_SLOT;
    }
    if (n < 1 || n > m.max_pos) {
      return ST_BAD_POSITION;
    }
    read_words(in, enc_tokens_at(batch, b, m.max_pos), n, bytes, tokens);
    int32_t cnt = min32(n, MAX_POSITIONS);
    for (int32_t i = 0; i < cnt; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      if (tokens[i] < 0 || tokens[i] >= m.vocab) {
        return ST_BAD_TOKEN;
      }
    }
    cyc += burst(8) + burst(4 * (int64_t)n);
    int64_t tap = (int64_t)b * (2 * m.enc_layers + 2) * m.max_pos * d;  // int32 index into taps
    int64_t nd = (int64_t)n * d;
    embed_rows(m, weights, scratch, sc.g, n, tokens, 0, -1, 1, m.enc_embed_out, cyc);
    if (tapping) {
      tap_rows(taps, tap, scratch, sc.g, n, d, true, cyc);
      tap += nd;
    }
    int32_t e_r = m.enc_embed_out;
    int32_t layers = min32(m.enc_layers, MAX_LAYERS);
    for (int32_t l = 0; l < layers; l++) {
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
    int32_t dec_layers = min32(m.dec_layers, MAX_LAYERS);
    for (int32_t l = 0; l < dec_layers; l++) {
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
// The step's sequences b0 .. b0 + cnt (cnt <= ROW_TILE): their 5 input words each (kv slot, source slot, source
// length, position, token) in one burst on chip.
void read_seqs(const word512_t* in, int32_t b0, int32_t cnt, uint8_t bytes[MAX_SEGMENT], int32_t rec[5 * ROW_TILE],
               int64_t& cyc) {
  int32_t c = min32(cnt, ROW_TILE);
  read_words(in, IN_HDR + 5 * (int64_t)b0, 5 * c, bytes, rec);
  cyc += burst(20 * (int64_t)c);
}

// What a pass over a decoder step's sequences does with each one (sequences, below).
enum SeqPass { CHECK_AND_EMBED, SELF_ATTENTION, CROSS_ATTENTION };

// The step's sequences, ROW_TILE at a time with their 5 input words on chip (read_seqs): checked, then embedded
// into the residual stream (a bad word ends the run with its status; rows embedded before it are scratch the host
// never reads); or each one's attention in decoder layer l (at): self-attention appends the sequence's new key and
// value rows (scratch K, V) to its cache at position t and attends over rows 0 .. t of it, cross-attention attends
// over its source's K/V.
int32_t sequences(SeqPass pass, const Model& m, int32_t l, const AttDesc& at, const word512_t* weights, word512_t* kv,
                  const word512_t* src, word512_t* scratch, const word512_t* in, int32_t batch, int64_t& cyc) {
  Scratch sc = scratch_at(m);
  uint8_t bytes[MAX_SEGMENT];
  int32_t rec[5 * ROW_TILE];
  int32_t d = m.d;
  int32_t seqs = min32(batch, MAX_ROWS);
  for (int32_t b0 = 0; b0 < seqs; b0 += ROW_TILE) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
    int32_t cnt = min32(ROW_TILE, batch - b0);
    read_seqs(in, b0, cnt, bytes, rec, cyc);
    for (int32_t i = 0; i < cnt; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=64
      int64_t b = b0 + i;
      int32_t kv_slot = rec[5 * i], src_slot = rec[5 * i + 1], n = rec[5 * i + 2];
      int32_t t = rec[5 * i + 3], token = rec[5 * i + 4];
      if (pass == CHECK_AND_EMBED) {
        if (kv_slot < 0 || kv_slot >= m.kv_slots || src_slot < 0 || src_slot >= m.src_slots) {
          return ST_BAD_SLOT;
        }
        if (n < 1 || n > m.max_pos || t < 0 || t >= m.max_pos) {
          return ST_BAD_POSITION;
        }
        if (token < 0 || token >= m.vocab) {
          return ST_BAD_TOKEN;
        }
      } else if (pass == SELF_ATTENTION) {
        int64_t ck = kv_block(m, kv_slot, l, 0);
        int64_t cv = kv_block(m, kv_slot, l, 1);
        copy_bytes(kv, ck + (int64_t)t * d, scratch, sc.k + b * d, d, cyc);
        copy_bytes(kv, cv + (int64_t)t * d, scratch, sc.v + b * d, d, cyc);
        attend_row<KEYS_IN_KV>(m, kv, scratch, at, sc.q + b * d, ck, cv, t + 1, sc.c + b * d, cyc);
      } else {
        attend_row<KEYS_IN_SRC>(m, src, scratch, at, sc.q + b * d, src_block(m, src_slot, 1 + 2 * l),
                                src_block(m, src_slot, 2 + 2 * l), n, sc.c + b * d, cyc);
      }
    }
    if (pass == CHECK_AND_EMBED) {
      embed_rows(m, weights, scratch, sc.g + 2 * (int64_t)b0 * d, cnt, rec, 4, 3, 5, m.dec_embed_out, cyc);
    }
  }
  return ST_OK;
}

int32_t decode_step(const Model& m, int32_t batch, int32_t flags, const word512_t* weights, const word512_t* ws0,
                    const word512_t* ws1, const word512_t* ws2, const word512_t* ws3, word512_t* kv,
                    const word512_t* src, const word512_t* in, word512_t* out, word512_t* scratch, word512_t* taps,
                    int64_t& cyc) {
  Scratch sc = scratch_at(m);
  int32_t d = m.d;
  int32_t st = sequences(CHECK_AND_EMBED, m, 0, AttDesc(), weights, kv, src, scratch, in, batch, cyc);
  if (st != ST_OK) {
    return st;
  }
  int64_t tap_stride = (int64_t)(3 * m.dec_layers + 2) * d;
  int32_t point = 0;
  bool tapping = (flags & FLAG_TAP) != 0;
  if (tapping) {
    tap_batch(taps, tap_stride, point, scratch, sc.g, batch, d, true, cyc);
    point++;
  }
  int32_t e_r = m.dec_embed_out;
  int32_t layers = min32(m.dec_layers, MAX_LAYERS);
  for (int32_t l = 0; l < layers; l++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=64
    int32_t base = dec_base(m, l);
    // causal self-attention: the new row is appended to the cache, then attends to rows 0..t
    AttDesc self = att_at(m, base + D_SELF);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, base + D_LN1), sc.a, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.q, sc.a, false, batch, d, d, TO_INT8, sc.q, 0, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.k, sc.a, false, batch, d, d, TO_INT8, sc.k, 0, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.v, sc.a, false, batch, d, d, TO_INT8, sc.v, 0, cyc);
    sequences(SELF_ATTENTION, m, l, self, weights, kv, src, scratch, in, batch, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, self.o, sc.c, false, batch, d, d, TO_RESIDUAL, sc.g, e_r, cyc);
    e_r = self.o.out_exp;
    if (tapping) {
      tap_batch(taps, tap_stride, point, scratch, sc.g, batch, d, true, cyc);
      point++;
    }
    // cross-attention over the source's precomputed K/V
    AttDesc cross = att_at(m, base + D_CROSS);
    layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, base + D_LN2), sc.a, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, cross.q, sc.a, false, batch, d, d, TO_INT8, sc.q, 0, cyc);
    sequences(CROSS_ATTENTION, m, l, cross, weights, kv, src, scratch, in, batch, cyc);
    linear(weights, ws0, ws1, ws2, ws3, scratch, out, cross.o, sc.c, false, batch, d, d, TO_RESIDUAL, sc.g, e_r, cyc);
    e_r = cross.o.out_exp;
    if (tapping) {
      tap_batch(taps, tap_stride, point, scratch, sc.g, batch, d, true, cyc);
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
      tap_batch(taps, tap_stride, point, scratch, sc.g, batch, d, true, cyc);
      point++;
    }
  }
  layer_norm_rows(m, weights, scratch, sc.g, batch, ln_at(m, H_DEC_FINAL), sc.a, cyc);
  if (tapping) {
    tap_batch(taps, tap_stride, point, scratch, sc.a, batch, d, false, cyc);
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

int32_t copy_kv(const Model& m, word512_t* kv, const word512_t* in, int64_t& cyc) {
  uint8_t bytes[MAX_SEGMENT];
  int32_t prm[3];
  read_words(in, IN_HDR, 3, bytes, prm);
  int32_t from = prm[0];
  int32_t to = prm[1];
  int32_t rows = prm[2];
  if (from < 0 || from >= m.kv_slots || to < 0 || to >= m.kv_slots) {
    return ST_BAD_SLOT;
  }
  if (rows < 0 || rows > m.max_pos) {
    return ST_BAD_POSITION;
  }
  cyc += burst(12);
  int32_t layers = min32(m.dec_layers, MAX_LAYERS);
  for (int32_t l = 0; l < layers; l++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=64
    for (int32_t which = 0; which < 2; which++) {
      copy_bytes(kv, kv_block(m, to, l, which), kv, kv_block(m, from, l, which), (int64_t)rows * m.d, cyc);
    }
  }
  return ST_OK;
}

// ---- op-level entry points: parameters in[0 .. IN_HDR), operands widened to int32 from in[IN_HDR] (weights,
// bias, gamma, beta in the weights port at the offsets the parameters give), activations narrowed into scratch,
// results to out from out[OUT_HDR]; operand and result streams go through on-chip chunks of IO_CHUNK words, a
// burst each ------------------------------------------------------------------------------------------------------
const int32_t MAX_OPERAND = 1 << 26;

bool bad_size(int64_t v) {
  return v < 0 || v > MAX_OPERAND;
}
bool bad_offset(int32_t off) {
  return off < 0 || off % TENSOR_ALIGN != 0;
}

// An op-level operand stream, IO_CHUNK int32 words at a time from in[IN_HDR] (and, for RESIDUAL, the second
// operand's from in[IN_HDR + len]): NARROW keeps each word's low byte (an int8 or uint8 activation) and writes the
// bytes to scratch from 0; REQUANT (shift k0, to uint8 when flag, else int8) and RESIDUAL (shifts k0 for the
// first operand, k1 for the second) write int32 results to out from OUT_HDR. Per chunk one pipelined pass: the
// operand bursts in on one port, the results out on another.
enum StreamOp { NARROW, REQUANT, RESIDUAL };

void op_stream(StreamOp kind, int64_t len, int32_t k0, int32_t k1, bool flag, const word512_t* in, word512_t* out,
               word512_t* scratch, int64_t& cyc) {
  uint8_t words[4 * IO_CHUNK];
  uint8_t second[4 * IO_CHUNK];
  uint8_t bytes[IO_CHUNK];
  int64_t total = min64(len, MAX_OPERAND);
  for (int64_t i = 0; i < total; i += IO_CHUNK) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=65536
    int32_t cnt = (int32_t)min64(IO_CHUNK, total - i);
    rd_bytes(in, 4 * (IN_HDR + i), words, 4 * cnt);
    if (kind == RESIDUAL) {
      rd_bytes(in, 4 * (IN_HDR + len + i), second, 4 * cnt);
    }
    for (int32_t j = 0; j < cnt; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
      if (kind == NARROW) {
        bytes[j] = words[4 * j];  // the low byte of the little-endian word
      } else if (kind == REQUANT) {
        int64_t v = shift(ld32(words + 4 * j), k0);
        st32(words + 4 * j, flag ? (int32_t)satu8(v) : (int32_t)sat8(v));
      } else {
        st32(words + 4 * j, residual(ld32(words + 4 * j), k0, ld32(second + 4 * j), k1));
      }
    }
    if (kind == NARROW) {
      wr_bytes(scratch, i, bytes, cnt);
    } else {
      wr_bytes(out, 4 * (OUT_HDR + i), words, 4 * cnt);
    }
    cyc += pipe((kind == RESIDUAL ? 2 : 1) * beats(4 * (int64_t)cnt), 1, LAT_MEM);
  }
}

int32_t op_linear(const word512_t* weights, const word512_t* ws0, const word512_t* ws1, const word512_t* ws2,
                  const word512_t* ws3, const int32_t prm[IN_HDR], const word512_t* in, word512_t* out,
                  word512_t* scratch, int64_t& cyc) {
  int32_t rows = prm[0], k = prm[1], x_unsigned = prm[2], n = prm[3], has_bias = prm[4];
  if (rows < 1 || k < 1 || n < 1 || rows > MAX_ROWS || n > MAX_VOCAB || bad_size((int64_t)rows * k)
      || bad_size((int64_t)n * k) || bad_offset(prm[P_LIN_W_OFF]) || bad_offset(prm[P_LIN_B_OFF])
      || (int64_t)(n + PE_C - 1) / PE_C * ((k + K_CHUNK - 1) / K_CHUNK) > MAX_BLOCKS) {
    return ST_BAD_OPERAND;
  }
  // x [rows, k] narrowed into scratch at 0
  op_stream(NARROW, (int64_t)rows * k, 0, 0, false, in, out, scratch, cyc);
  LinDesc l;
  l.w_off = prm[P_LIN_W_OFF];
  l.b_off = prm[P_LIN_B_OFF];
  l.has_bias = has_bias != 0;
  l.acc_exp = 0;
  l.out_exp = 0;
  linear(weights, ws0, ws1, ws2, ws3, scratch, out, l, 0, x_unsigned != 0, rows, k, n, TO_OUT32, 0, 0, cyc);
  return ST_OK;
}

int32_t op_requant(const int32_t prm[IN_HDR], const word512_t* in, word512_t* out, word512_t* scratch, int64_t& cyc) {
  int32_t len = prm[0], k = prm[1], to_unsigned = prm[2];
  if (len < 0 || bad_size(len) || k < -24 || k > 62) {
    return ST_BAD_OPERAND;
  }
  op_stream(REQUANT, len, k, 0, to_unsigned != 0, in, out, scratch, cyc);
  return ST_OK;
}

int32_t op_softmax(const int32_t prm[IN_HDR], const word512_t* in, word512_t* out, int64_t& cyc) {
  int32_t rows = prm[0], len = prm[1], e_s = prm[2];
  if (rows < 1 || len < 1 || len > MAX_POSITIONS || bad_size((int64_t)rows * len)) {
    return ST_BAD_OPERAND;
  }
  uint8_t bytes[MAX_SEGMENT];
  int32_t lut[64];
  read_words(in, IN_HDR + (int64_t)rows, 64, bytes, lut);
  cyc += burst(4 * 64);
  int64_t scores = IN_HDR + (int64_t)rows + 64;  // word index into in
  int32_t s[MAX_POSITIONS];
  uint8_t p[MAX_POSITIONS];
  int32_t all = min32(rows, MAX_OPERAND);
  int32_t cnt = min32(len, MAX_POSITIONS);
  for (int32_t r = 0; r < all; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=67108864
    int32_t valid[1];
    read_words(in, IN_HDR + (int64_t)r, 1, bytes, valid);
    read_words(in, scores + (int64_t)r * len, len, bytes, s);
    softmax2(s, len, valid[0], e_s, lut, p);
    for (int32_t j = 0; j < cnt; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
      st32(bytes + 4 * j, p[j]);
    }
    wr_bytes(out, 4 * (OUT_HDR + (int64_t)r * len), bytes, 4 * len);
  }
  cyc += rows * (pipe(1 + beats(4 * (int64_t)len), 1, LAT_MEM) + softmax_cycles(len) + burst(4 * (int64_t)len));
  return ST_OK;
}

int32_t op_layer_norm(const word512_t* weights, const int32_t prm[IN_HDR], const word512_t* in, word512_t* out,
                      int64_t& cyc) {
  int32_t rows = prm[0], d = prm[1], e_g = prm[2], e_out = prm[3];
  if (rows < 1 || d < 1 || d > MAX_D || bad_size((int64_t)rows * d) || bad_offset(prm[P_LN_GAMMA_OFF])
      || bad_offset(prm[P_LN_BETA_OFF])) {
    return ST_BAD_OPERAND;
  }
  uint8_t gamma[2 * MAX_D];
  uint8_t beta[4 * MAX_D];
  uint8_t bytes[MAX_SEGMENT];
  int32_t xw[MAX_D];
  uint8_t x[2 * MAX_D];
  int8_t y[MAX_D];
  rd_bytes(weights, prm[P_LN_GAMMA_OFF], gamma, 2 * d);
  rd_bytes(weights, prm[P_LN_BETA_OFF], beta, 4 * d);
  cyc += burst(2 * (int64_t)d) + burst(4 * (int64_t)d);
  int32_t all = min32(rows, MAX_OPERAND);
  int32_t w = min32(d, MAX_D);
  for (int32_t r = 0; r < all; r++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=67108864
    read_words(in, IN_HDR + (int64_t)r * d, d, bytes, xw);
    for (int32_t i = 0; i < w; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
      st16(x + 2 * i, xw[i]);
    }
    layer_norm_row(x, d, gamma, beta, e_g, e_out, y);
    for (int32_t i = 0; i < w; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
      st32(bytes + 4 * i, y[i]);
    }
    wr_bytes(out, 4 * (OUT_HDR + (int64_t)r * d), bytes, 4 * d);
  }
  cyc += rows * (burst(4 * (int64_t)d) + ln_core_cycles(d) + burst(4 * (int64_t)d));
  return ST_OK;
}

int32_t op_residual(const int32_t prm[IN_HDR], const word512_t* in, word512_t* out, word512_t* scratch, int64_t& cyc) {
  int32_t len = prm[0], e_r = prm[1], e_acc = prm[2], e_out = prm[3];
  if (len < 0 || bad_size(len)) {
    return ST_BAD_OPERAND;
  }
  op_stream(RESIDUAL, len, e_out - e_r, e_out - e_acc, false, in, out, scratch, cyc);
  return ST_OK;
}

int32_t dispatch(int32_t op, int32_t batch, int32_t flags, const word512_t* weights, word512_t* kv, word512_t* src,
                 const word512_t* in, word512_t* out, word512_t* scratch, word512_t* taps, const word512_t* ws0,
                 const word512_t* ws1, const word512_t* ws2, const word512_t* ws3, int64_t& cyc) {
  if (op >= OP_LINEAR && op <= OP_RESIDUAL) {
    uint8_t bytes[4 * IN_HDR];
    int32_t prm[IN_HDR];
    rd_bytes(in, 0, bytes, 4 * IN_HDR);
    for (int32_t i = 0; i < IN_HDR; i++) {
#pragma HLS UNROLL
      prm[i] = ld32(bytes + 4 * i);
    }
    cyc += burst(4 * IN_HDR);
    switch (op) {
      case OP_LINEAR:
        return op_linear(weights, ws0, ws1, ws2, ws3, prm, in, out, scratch, cyc);
      case OP_REQUANT:
        return op_requant(prm, in, out, scratch, cyc);
      case OP_SOFTMAX:
        return op_softmax(prm, in, out, cyc);
      case OP_LAYERNORM:
        return op_layer_norm(weights, prm, in, out, cyc);
      default:
        return op_residual(prm, in, out, scratch, cyc);
    }
  }
  if (op != OP_ENCODE && op != OP_DECODE_STEP && op != OP_COPY_KV) {
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
// 64-byte words as the host allocates it for the base preset (vocabulary 8000, the default 64 KV and 64 source
// slots: FpgaModel.bufferBytes and the DeviceImage), what vitis_hls C/RTL co-simulation allocates; v++ -c and
// hw_emu take the sizes from the host's buffers (HlsInterfaceRulesTest checks the values).
extern "C" void shiftformer_step(int32_t op, int32_t batch, int32_t flags, const word512_t* weights, word512_t* kv,
                                 word512_t* src, const word512_t* in, word512_t* out, word512_t* scratch, word512_t* taps,
                                 const word512_t* wstripe0, const word512_t* wstripe1, const word512_t* wstripe2,
                                 const word512_t* wstripe3) {
#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=m_weights depth=73895 max_read_burst_length=64
#pragma HLS INTERFACE m_axi port=kv offset=slave bundle=m_kv depth=3145728
#pragma HLS INTERFACE m_axi port=src offset=slave bundle=m_src depth=3407872
#pragma HLS INTERFACE m_axi port=in offset=slave bundle=m_in depth=258
#pragma HLS INTERFACE m_axi port=out offset=slave bundle=m_out depth=32001
#pragma HLS INTERFACE m_axi port=scratch offset=slave bundle=m_scratch depth=45056
#pragma HLS INTERFACE m_axi port=taps offset=slave bundle=m_taps depth=229376
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
