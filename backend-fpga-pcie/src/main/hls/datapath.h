// The kernel's datapath (issue 16 items 2 and 3): the 512-bit word of its ports, the only two ways a port is
// read or written (a contiguous byte segment into or out of an on-chip array), the sizes of the on-chip arrays
// and of the MAC array, the limits its loop bounds are clamped to, and the cycle formulas each loop nest and
// DATAFLOW region of the kernel adds to its own cycle count. org.shiftformer.api.backend.DatapathCycles
// (runtime-api) is the same formulas in Java; FpgaCycleAgreementTest requires the two counts to be equal for
// every op and whole steps.
#ifndef SHIFTFORMER_DATAPATH_H
#define SHIFTFORMER_DATAPATH_H

#include <stdint.h>

#ifdef __SYNTHESIS__
#include <ap_int.h>
// One AXI beat of a wide port: 64 bytes, byte i in bits [8i, 8i + 8).
typedef ap_uint<512> word512_t;
#else
// The host emulation's word: the same 64 bytes, in memory order.
struct word512_t {
  uint8_t b[64];
};
#endif
static_assert(sizeof(word512_t) == 64, "a port word is 512 bits");

namespace sfk {

// ---- sizes ----------------------------------------------------------------------------------------------------
constexpr int32_t WORD_BYTES = 64;   // bytes per beat of every data port (512 bits)
constexpr int32_t PE_R = 64;         // MAC array rows: inputs of a weight tile (one word of a weight row)
constexpr int32_t PE_C = 64;         // MAC array columns: outputs of a weight tile
constexpr int32_t ROW_TILE = 64;     // activation rows on chip per pass of a linear (a decoder step's batch)
constexpr int32_t K_CHUNK = 4096;    // inputs of an on-chip activation row; longer rows go in chunks
constexpr int32_t DOT_LANES = 64;    // multipliers of the attention datapath (Q·K^T and Pr·V): a d_k = 64 key per cycle
constexpr int32_t VEC_LANES = 16;    // elements per cycle of LayerNorm, softmax and the embedding (UNROLL factor=16)
constexpr int32_t KV_ON_CHIP = 262144;  // bytes of a head's K (and of its V) held on chip by attention
constexpr int32_t WEIGHT_STRIPES = 4;   // weight-matrix ports (wstripe0..3): row r of a matrix on stripe r % 4
constexpr int32_t MAX_TABLE_WORDS = 5600;  // descriptor table on chip: 32 + 64 encoder x 33 + 64 decoder x 54 words
constexpr int32_t IO_CHUNK = 1024;   // int32 words per on-chip chunk of an op-level operand or result stream
// The limits every loop bound of the kernel is clamped to (SPEC.md section 8, checked by the loader and by the
// kernel itself): d_model and d_k, positions, layers, rows on chip (a batch, the KV slots), d_ff, the vocabulary.
constexpr int32_t MAX_D = 1024;
constexpr int32_t MAX_POSITIONS = 8192;
constexpr int32_t MAX_LAYERS = 64;
constexpr int32_t MAX_ROWS = 65536;
constexpr int32_t MAX_DFF = 65536;
constexpr int32_t MAX_VOCAB = 1048576;
// The longest segment one rd_bytes / wr_bytes moves: a row of int32 scores or a source's int32 tokens.
constexpr int32_t MAX_SEGMENT = 4 * MAX_POSITIONS;

// ---- pipeline depths (cycles from a loop's first input to its first result) -------------------------------------
constexpr int32_t LAT_MEM = 64;   // an m_axi burst: request to first beat (DDR/HBM and the interconnect)
constexpr int32_t LAT_MAC = 10;   // a tile column: 64 products and an adder tree
constexpr int32_t LAT_OUT = 6;    // requantize / ReLU / residual output stage
constexpr int32_t LAT_VEC = 4;    // an element-wise loop of LayerNorm, softmax, embedding
constexpr int32_t LAT_DIV = 72;   // 64-bit divider (+ isqrt for LayerNorm), once per row

// ---- cycle formulas --------------------------------------------------------------------------------------------
inline int32_t min32(int32_t a, int32_t b) {
  return a < b ? a : b;
}
inline int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}
inline int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}
inline int64_t beats(int64_t bytes) {
  return (bytes + WORD_BYTES - 1) / WORD_BYTES;
}
// A pipelined loop of `trips` iterations at initiation interval `ii` with pipeline depth `depth`.
inline int64_t pipe(int64_t trips, int64_t ii, int64_t depth) {
  return trips <= 0 ? 0 : depth + (trips - 1) * ii;
}
// One burst of `bytes` on a wide port (a row into or out of an on-chip array, or a port-to-port copy whose
// read and write channels overlap).
inline int64_t burst(int64_t bytes) {
  return pipe(beats(bytes), 1, LAT_MEM);
}
// An element-wise loop over n elements, VEC_LANES per cycle.
inline int64_t lanes(int64_t n) {
  return pipe((n + VEC_LANES - 1) / VEC_LANES, 1, LAT_VEC);
}

// A DATAFLOW region of three processes, load -> compute -> store, over a sequence of items (a linear's weight
// blocks, attention's heads), counted in lock-step: slot s runs item s's load, item s-1's compute and item s-2's
// store at once and lasts as long as the longest of the three. The first two slots fill the pipeline and the last
// two drain it, so one item alone costs load + compute + store and a long run of like items the slowest stage
// each. On a card the processes hand items over through their channels (PIPO buffers, FIFO streams) whenever
// both sides are ready, which is never slower than the lock-step slots: where items differ this is an upper bound.
struct Flow3 {
  int64_t total = 0;
  int64_t compute1 = 0;  // the previous item's compute
  int64_t store1 = 0;    // the previous item's store
  int64_t store2 = 0;    // the store of the item before that
  void item(int64_t load, int64_t compute, int64_t store) {
    total += max64(load, max64(compute1, store2));
    store2 = store1;
    compute1 = compute;
    store1 = store;
  }
  int64_t end() const {
    return total + max64(compute1, store2) + store1;
  }
};

// ---- port access: contiguous segments only ----------------------------------------------------------------------
#ifdef __SYNTHESIS__
// Whole words, one beat per cycle: the words covering [off, off + n), n <= MAX_SEGMENT; a partial first or last
// word is read before it is written back.
inline void rd_bytes(const word512_t* port, int64_t off, uint8_t* dst, int32_t n) {
  int64_t w0 = off / WORD_BYTES;
  int32_t words = (int32_t)((off + n + WORD_BYTES - 1) / WORD_BYTES - w0);
  for (int32_t i = 0; i < min32(words, MAX_SEGMENT / WORD_BYTES + 1); i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=513
#pragma HLS PIPELINE II=1
    int64_t w = w0 + i;
    word512_t v = port[w];
    for (int32_t j = 0; j < WORD_BYTES; j++) {
#pragma HLS UNROLL
      int64_t a = w * WORD_BYTES + j - off;
      if (a >= 0 && a < n) {
        dst[a] = (uint8_t)v.range(8 * j + 7, 8 * j);
      }
    }
  }
}
inline void wr_bytes(word512_t* port, int64_t off, const uint8_t* src, int32_t n) {
  int64_t w0 = off / WORD_BYTES;
  int32_t words = (int32_t)((off + n + WORD_BYTES - 1) / WORD_BYTES - w0);
  for (int32_t i = 0; i < min32(words, MAX_SEGMENT / WORD_BYTES + 1); i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=513
#pragma HLS PIPELINE II=1
    int64_t w = w0 + i;
    bool whole = w * WORD_BYTES >= off && (w + 1) * WORD_BYTES <= off + n;
    word512_t v = whole ? word512_t(0) : port[w];
    for (int32_t j = 0; j < WORD_BYTES; j++) {
#pragma HLS UNROLL
      int64_t a = w * WORD_BYTES + j - off;
      if (a >= 0 && a < n) {
        v.range(8 * j + 7, 8 * j) = src[a];
      }
    }
    port[w] = v;
  }
}
#else
// The emulation copies the device copy's bytes in memory order (an unsigned char view of the word array;
// __builtin_memcpy, so a row is a block copy on the CPU as it is a burst on the card).
inline void rd_bytes(const word512_t* port, int64_t off, uint8_t* dst, int32_t n) {
  if (n > 0) {
    __builtin_memcpy(dst, reinterpret_cast<const uint8_t*>(port) + off, (unsigned long)n);
  }
}
inline void wr_bytes(word512_t* port, int64_t off, const uint8_t* src, int32_t n) {
  if (n > 0) {
    __builtin_memcpy(reinterpret_cast<uint8_t*>(port) + off, src, (unsigned long)n);
  }
}
#endif

}  // namespace sfk

#endif
