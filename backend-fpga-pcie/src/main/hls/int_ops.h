// SPEC.md section 1 and 3: the integer ops of shiftformer, written straight from the specification
// (section numbers below refer to it). Plain integer C++ for Vitis HLS and g++ alike: no floating point,
// no allocation, no recursion, no standard library beyond <stdint.h>. Multi-byte values in device
// buffers are read and written through ld16/ld32/st16 (explicit little-endian, no type punning), so the
// same code is correct on any host and maps to plain AXI reads on the card.
#ifndef SHIFTFORMER_INT_OPS_H
#define SHIFTFORMER_INT_OPS_H

#include <stdint.h>

#include "datapath.h"

namespace sfk {

// ---- little-endian access -------------------------------------------------------------------------------
inline int16_t ld16(const uint8_t* p) {
  return (int16_t)(uint16_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8));
}
inline int32_t ld32(const uint8_t* p) {
  return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24));
}
inline void st16(uint8_t* p, int32_t v) {
  p[0] = (uint8_t)(v & 0xFF);
  p[1] = (uint8_t)((v >> 8) & 0xFF);
}
inline void st32(uint8_t* p, int32_t v) {
  uint32_t u = (uint32_t)v;
  p[0] = (uint8_t)u;
  p[1] = (uint8_t)(u >> 8);
  p[2] = (uint8_t)(u >> 16);
  p[3] = (uint8_t)(u >> 24);
}

// ---- 1.1 rounding and shifting ----------------------------------------------------------------------------
// `>>` on a negative int64_t is an arithmetic shift on every compiler HLS and g++ target (and defined so
// from C++20); left shifts are written as multiplications because shifting a negative value left is
// undefined in C++17.
inline int64_t rsh(int64_t a, int32_t k) {
  return k == 0 ? a : (a + ((int64_t)1 << (k - 1))) >> k;
}
inline int64_t shift(int64_t a, int32_t k) {
  return k >= 0 ? rsh(a, k) : a * ((int64_t)1 << (-k));
}

// ---- 1.2 saturation ------------------------------------------------------------------------------------------
inline int64_t clamp64(int64_t a, int64_t lo, int64_t hi) {
  return a < lo ? lo : (a > hi ? hi : a);
}
inline int8_t sat8(int64_t a) { return (int8_t)clamp64(a, -128, 127); }
inline uint8_t satu8(int64_t a) { return (uint8_t)clamp64(a, 0, 255); }
inline int16_t sat16(int64_t a) { return (int16_t)clamp64(a, -32768, 32767); }

// ---- 3.1 EMBED of one position ----------------------------------------------------------------------------
// out (int16 LE) [d] = SAT16(SHIFT(E[tok][j], eOut - (eE + s)) + SHIFT(P[pos][j], eOut - eP))
inline void embed_row(const int8_t* e_row, const int8_t* p_row, int32_t d, int32_t k_e, int32_t k_p, uint8_t* out) {
  int32_t n = min32(d, MAX_D);
  for (int32_t j = 0; j < n; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    st16(out + 2 * j, sat16(shift(e_row[j], k_e) + shift(p_row[j], k_p)));
  }
}

// ---- 3.2 dot products (int32 is exact by the section 8 bound: every partial sum is bounded too) ----------
// Lanes of DOT_LANES (datapath.h) products are summed as one unrolled block (DOT_LANES multipliers in
// parallel on the card; a vectorised loop for the CPU compiler at -O2), then the tail one by one.

template <typename X>
inline int32_t dot_lanes(const X* x, const int8_t* w, int32_t k) {
  int32_t n = min32(k, MAX_D);  // attention's d_k
  int32_t full = n / DOT_LANES;
  int32_t s = 0;
  for (int32_t g = 0; g < full; g++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=16
#pragma HLS PIPELINE II=1
    int32_t part = 0;
    for (int32_t j = 0; j < DOT_LANES; j++) {
#pragma HLS UNROLL
      part += (int32_t)x[g * DOT_LANES + j] * (int32_t)w[g * DOT_LANES + j];
    }
    s += part;
  }
  int32_t tail = min32(n - full * DOT_LANES, DOT_LANES - 1);
  for (int32_t i = 0; i < tail; i++) {
#pragma HLS LOOP_TRIPCOUNT min=0 max=63
    int32_t at = full * DOT_LANES + i;
    s += (int32_t)x[at] * (int32_t)w[at];
  }
  return s;
}
inline int32_t dot_s8(const int8_t* x, const int8_t* w, int32_t k) {
  return dot_lanes<int8_t>(x, w, k);
}
inline int32_t dot_u8(const uint8_t* x, const int8_t* w, int32_t k) {
  return dot_lanes<uint8_t>(x, w, k);
}

// ---- 3.4 SOFTMAX2 over a valid prefix ---------------------------------------------------------------------
// s: int32 scores [len] and p: probabilities [len], both on-chip arrays of the caller (never an m_axi
// port); the first `valid` scores are valid (both masks of section 4 are prefixes).
// Three passes (max, sum, output) recompute e[j] instead of storing it: no array of len entries.
inline int64_t softmax_e(int64_t m, int32_t sj, int32_t k, const int32_t* lut) {
  int64_t u = shift(m - (int64_t)sj, k);
  int64_t whole = u >> 6;
  return rsh(lut[u & 63], (int32_t)(whole < 62 ? whole : 62));
}
inline void softmax2(const int32_t* s, int32_t n_in, int32_t valid, int32_t e_s, const int32_t* lut, uint8_t* p) {
  // Every loop runs `len` iterations whatever `valid` is (masked), so its trip count, and the kernel's cycle
  // count, depend on the shape only.
  int32_t len = min32(n_in, MAX_POSITIONS);
  if (valid > len) {
    valid = len;
  }
  if (valid <= 0) {
    for (int32_t j = 0; j < len; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
      p[j] = 0;
    }
    return;
  }
  int64_t m = s[0];
  for (int32_t j = 0; j < len; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    int64_t v = s[j];
    m = j < valid && v > m ? v : m;
  }
  int32_t k = -(e_s + 6);  // F = 6 fractional bits
  int64_t sum = 0;
  for (int32_t j = 0; j < len; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    sum += j < valid ? softmax_e(m, s[j], k, lut) : 0;
  }
  int64_t r = ((int64_t)1 << 40) / sum;  // the one reciprocal; sum >= 65536
  for (int32_t j = 0; j < len; j++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=8192
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    if (j < valid) {
      int64_t q = rsh(softmax_e(m, s[j], k, lut) * r, 32);
      p[j] = (uint8_t)(q < 255 ? q : 255);
    } else {
      p[j] = 0;
    }
  }
}

// ---- 3.7 LAYERNORM of one row ----------------------------------------------------------------------------------
// Exact floor square root, digit by digit (no floating point): s*s <= v < (s+1)*(s+1). The trial bit walks
// down from 2^62 in 32 steps of two bits; while it is above v the step changes nothing (res is still 0), so a
// fixed 32 steps give the same root as stopping early (and a fixed trip count on the card).
inline int64_t isqrt64(int64_t v) {
  uint64_t x = (uint64_t)v;
  uint64_t res = 0;
  uint64_t bit = (uint64_t)1 << 62;
  for (int32_t step = 0; step < 32; step++) {
    if (x >= res + bit) {
      x -= res + bit;
      res = (res >> 1) + bit;
    } else {
      res >>= 1;
    }
    bit >>= 2;
  }
  return (int64_t)res;
}

// x: int16 LE [d]; gamma int16 LE [d], beta int32 LE [d]; out int8 [d] at eOut: all on-chip arrays (the kernel
// bursts them in from scratch and weights and the result out to scratch).
inline void layer_norm_row(const uint8_t* x, int32_t d, const uint8_t* gamma, const uint8_t* beta, int32_t e_g,
                           int32_t e_out, int8_t* out) {
  int32_t n = min32(d, MAX_D);
  int64_t sum = 0;
  for (int32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    sum += ld16(x + 2 * i);
  }
  int64_t q = 0;
  for (int32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    int64_t c = (int64_t)d * ld16(x + 2 * i) - sum;
    q += c * c;
  }
  int64_t sig = isqrt64(q / d);
  int64_t r = sig == 0 ? 0 : ((int64_t)1 << 40) / sig;
  int32_t k = e_out - (e_g - 12);
  for (int32_t i = 0; i < n; i++) {
#pragma HLS LOOP_TRIPCOUNT min=1 max=1024
#pragma HLS PIPELINE II=1
#pragma HLS UNROLL factor=16
    int64_t c = (int64_t)d * ld16(x + 2 * i) - sum;
    int64_t n = sig == 0 ? 0 : rsh(c * r, 28);
    int64_t y = n * ld16(gamma + 2 * i) + ld32(beta + 4 * i);
    out[i] = sat8(shift(y, k));
  }
}

// ---- 3.5 RESIDUAL of one element -------------------------------------------------------------------------------
inline int16_t residual(int32_t r, int32_t k_r, int32_t acc, int32_t k_acc) {
  return sat16(shift(r, k_r) + shift(acc, k_acc));
}

}  // namespace sfk

#endif
