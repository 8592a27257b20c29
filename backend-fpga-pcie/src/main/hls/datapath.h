// The kernel's datapath (issue 16 items 2 and 3): the 512-bit word of its wide ports, the only two ways a
// port is read or written (a contiguous byte segment into or out of an on-chip array), the sizes of the
// on-chip arrays and of the MAC array, and the cycle formulas each loop nest of the kernel adds to its own
// cycle count. org.shiftformer.api.backend.DatapathCycles (runtime-api) is the same formulas in Java;
// FpgaCycleAgreementTest requires the two counts to be equal for every op and whole steps.
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
constexpr int32_t WORD_BYTES = 64;   // bytes per beat of the weights, kv, src and scratch ports
constexpr int32_t PE_R = 64;         // MAC array rows: inputs of a weight tile (one word of a weight row)
constexpr int32_t PE_C = 64;         // MAC array columns: outputs of a weight tile
constexpr int32_t ROW_TILE = 64;     // activation rows on chip per pass of a linear (a decoder step's batch)
constexpr int32_t K_CHUNK = 4096;    // inputs of an on-chip activation row; longer rows go in chunks
constexpr int32_t DOT_LANES = 64;    // multipliers of the attention datapath (Q·K^T and Pr·V): a d_k = 64 key per cycle
constexpr int32_t VEC_LANES = 16;    // elements per cycle of LayerNorm, softmax and the embedding (UNROLL factor=16)
constexpr int32_t KV_ON_CHIP = 262144;  // bytes of a head's K (and of its V) held on chip in the encoder
constexpr int32_t WEIGHT_STRIPES = 4;   // weight-matrix ports (wstripe0..3): row r of a matrix on stripe r % 4
constexpr int32_t MAX_TABLE_WORDS = 5600;  // descriptor table on chip: 32 + 64 encoder x 33 + 64 decoder x 54 words

// ---- pipeline depths (cycles from a loop's first input to its first result) -------------------------------------
constexpr int32_t LAT_MEM = 64;   // an m_axi burst: request to first beat (DDR/HBM and the interconnect)
constexpr int32_t LAT_MAC = 10;   // a tile column: 64 products and an adder tree
constexpr int32_t LAT_OUT = 6;    // requantize / ReLU / residual output stage
constexpr int32_t LAT_VEC = 4;    // an element-wise loop of LayerNorm, softmax, embedding
constexpr int32_t LAT_DIV = 72;   // 64-bit divider (+ isqrt for LayerNorm), once per row

// ---- cycle formulas --------------------------------------------------------------------------------------------
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
inline int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}
// An element-wise loop over n elements, VEC_LANES per cycle.
inline int64_t lanes(int64_t n) {
  return pipe((n + VEC_LANES - 1) / VEC_LANES, 1, LAT_VEC);
}

// ---- port access: contiguous segments only ----------------------------------------------------------------------
#ifdef __SYNTHESIS__
// Whole words, one beat per cycle: the words covering [off, off + n); a partial first or last word is read
// before it is written back.
inline void rd_bytes(const word512_t* port, int64_t off, uint8_t* dst, int32_t n) {
  int64_t w0 = off / WORD_BYTES;
  int64_t w1 = (off + n + WORD_BYTES - 1) / WORD_BYTES;
  for (int64_t w = w0; w < w1; w++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65
#pragma HLS PIPELINE II=1
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
  int64_t w1 = (off + n + WORD_BYTES - 1) / WORD_BYTES;
  for (int64_t w = w0; w < w1; w++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=65
#pragma HLS PIPELINE II=1
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
// One int32 (little-endian) at int32 index i of a word port (the out port's status words and op-level results).
inline void wr32(word512_t* port, int64_t i, int32_t v) {
  uint8_t b[4];
  uint32_t u = (uint32_t)v;
  b[0] = (uint8_t)u;
  b[1] = (uint8_t)(u >> 8);
  b[2] = (uint8_t)(u >> 16);
  b[3] = (uint8_t)(u >> 24);
  wr_bytes(port, 4 * i, b, 4);
}

}  // namespace sfk

#endif
