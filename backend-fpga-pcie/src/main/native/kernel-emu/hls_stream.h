// A stand-in for Vitis HLS's <hls_stream.h>, written for this project: just enough of hls::stream<T, DEPTH> (write,
// read, empty, full) for the kernel's DATAFLOW regions to compile and run with g++ in the host emulation (and in
// the __SYNTHESIS__-branch build against the test <ap_int.h>). Not the real library. The native build puts this
// directory on the include path; Vitis (v++ -c, vitis_hls) uses its own header instead.
//
// Bounded, unlike Vitis's C-simulation stream (an unbounded FIFO): DEPTH elements in a ring on the stack, no heap.
// In g++ a dataflow region runs its processes one after the other, in source order, so the producer writes
// everything it writes in one invocation of the region before the consumer reads any of it. Every stream of the
// kernel is declared with a depth that holds that much (shiftformer_kernel.cpp: ROW_TILE result rows per weight
// block), which is also enough for the processes never to wait for each other on a card. A write to a full
// stream, or a read from an empty one, means a region needs a deeper stream (or would deadlock on a card): the
// emulation stops with a message instead of returning wrong results.
#ifndef SHIFTFORMER_EMU_HLS_STREAM_H
#define SHIFTFORMER_EMU_HLS_STREAM_H

#include <cstdio>
#include <cstdlib>

namespace hls {

template <typename T, int DEPTH = 2>
class stream {
  static_assert(DEPTH > 0, "a stream holds at least one element");

 public:
  stream() : head_(0), count_(0) {}
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  bool empty() const {
    return count_ == 0;
  }
  bool full() const {
    return count_ == DEPTH;
  }
  void write(const T& v) {
    if (full()) {
      fail("write to a full stream");
    }
    buf_[(head_ + count_) % DEPTH] = v;
    count_++;
  }
  T read() {
    if (empty()) {
      fail("read from an empty stream");
    }
    T v = buf_[head_];
    head_ = (head_ + 1) % DEPTH;
    count_--;
    return v;
  }

 private:
  [[noreturn]] static void fail(const char* what) {
    std::fprintf(stderr, "hls::stream (emulation, depth %d): %s: a dataflow region needs a deeper stream\n", DEPTH, what);
    std::abort();
  }
  T buf_[DEPTH];
  int head_;
  int count_;
};

}  // namespace hls

#endif
