// A stand-in for Vitis HLS's <ap_int.h>, for tests only: just enough of ap_uint<W> (a W-bit unsigned word,
// W a multiple of 8, with range(hi, lo) read and assigned on byte boundaries) to compile and run the
// kernel's __SYNTHESIS__ branches (datapath.h: word512_t, the word-wise rd_bytes / wr_bytes) with g++, so
// their port access is checked bit for bit by the same tests as the emulation's. Bit i of the word is bit
// i % 8 of byte i / 8 (little-endian, as the AXI data bus and the emulation's byte order). Not the real
// library: no arithmetic, and only ranges of whole bytes (all the kernel uses).
#ifndef SHIFTFORMER_HLS_MOCK_AP_INT_H
#define SHIFTFORMER_HLS_MOCK_AP_INT_H

#include <stdint.h>

template <int W>
struct ap_uint {
  static_assert(W % 8 == 0, "the mock holds whole bytes");
  uint8_t bytes[W / 8];

  ap_uint() : bytes() {}
  explicit ap_uint(int v) : bytes() {
    for (int i = 0; i < W / 8 && i < 4; i++) {
      bytes[i] = (uint8_t)((unsigned)v >> (8 * i));
    }
  }

  // A byte-aligned slice [lo, hi] that reads as an unsigned value and can be assigned.
  struct range_ref {
    uint8_t* base;
    int hi, lo;
    operator uint64_t() const {
      uint64_t v = 0;
      for (int b = (hi - lo) / 8; b >= 0; b--) {
        v = (v << 8) | base[lo / 8 + b];
      }
      return v;
    }
    range_ref& operator=(uint64_t v) {
      for (int b = 0; b <= (hi - lo) / 8; b++) {
        base[lo / 8 + b] = (uint8_t)(v >> (8 * b));
      }
      return *this;
    }
  };
  range_ref range(int hi, int lo) {
    return range_ref{bytes, hi, lo};
  }
  uint64_t range(int hi, int lo) const {
    return range_ref{const_cast<uint8_t*>(bytes), hi, lo};
  }
};

#endif
