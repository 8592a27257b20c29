// Kernels of the test xclbin (target/native/xrt-test-kernels.xclbin) used by the XRT binding's tests and
// XrtCallBenchmark. Each sees only the DEVICE copies of its buffers.
#include <cstdint>

#include "xrt_emu_kernel.h"

namespace {

// out[i] = a[i] + b[i] for i < n (int32, wrapping).
int vadd(void* const* args) {
  const int32_t* a = static_cast<const int32_t*>(args[0]);
  const int32_t* b = static_cast<const int32_t*>(args[1]);
  int32_t* out = static_cast<int32_t*>(args[2]);
  int32_t n = *static_cast<const int32_t*>(args[3]);
  for (int32_t i = 0; i < n; i++) {
    out[i] = static_cast<int32_t>(static_cast<uint32_t>(a[i]) + static_cast<uint32_t>(b[i]));
  }
  return 0;
}

// out[i] = base + i for i < n (int64): proves an 8-byte scalar arrives whole.
int fill64(void* const* args) {
  int64_t* out = static_cast<int64_t*>(args[0]);
  int64_t base = *static_cast<const int64_t*>(args[1]);
  int32_t n = *static_cast<const int32_t*>(args[2]);
  for (int32_t i = 0; i < n; i++) out[i] = base + i;
  return 0;
}

// Does nothing: the launch cost alone.
int noop(void* const*) { return 0; }

// Returns its argument. XRT ignores a kernel's return value, and so does the emulation: the run still
// ends in ERT_CMD_STATE_COMPLETED.
int fail_with(void* const* args) { return *static_cast<const int32_t*>(args[0]); }

// Writes n bytes of 0x11 to out (connected to memory group 2): n beyond the buffer's size overruns it.
int overrun(void* const* args) {
  unsigned char* out = static_cast<unsigned char*>(args[0]);
  int32_t n = *static_cast<const int32_t*>(args[1]);
  for (int32_t i = 0; i < n; i++) out[i] = 0x11;
  return 0;
}

// Writes n 64-byte words of 0x22 to w, a 512-bit port (the emulation accepts only whole words for it).
int words(void* const* args) {
  unsigned char* w = static_cast<unsigned char*>(args[0]);
  int32_t n = *static_cast<const int32_t*>(args[1]);
  for (int32_t i = 0; i < 64 * n; i++) w[i] = 0x22;
  return 0;
}

const xrt_emu_arg kVaddArgs[] = {{"a", XRT_EMU_ARG_BUFFER, 0, 0},
                                 {"b", XRT_EMU_ARG_BUFFER, 0, 0},
                                 {"out", XRT_EMU_ARG_BUFFER, 0, 0},
                                 {"n", XRT_EMU_ARG_SCALAR, 4, 0}};
const xrt_emu_arg kFill64Args[] = {
    {"out", XRT_EMU_ARG_BUFFER, 0, 0}, {"base", XRT_EMU_ARG_SCALAR, 8, 0}, {"n", XRT_EMU_ARG_SCALAR, 4, 0}};
const xrt_emu_arg kFailArgs[] = {{"code", XRT_EMU_ARG_SCALAR, 4, 0}};
const xrt_emu_arg kOverrunArgs[] = {{"out", XRT_EMU_ARG_BUFFER, 0, 2}, {"n", XRT_EMU_ARG_SCALAR, 4, 0}};
const xrt_emu_arg kWordsArgs[] = {{"w", XRT_EMU_ARG_BUFFER, 64, 0}, {"n", XRT_EMU_ARG_SCALAR, 4, 0}};

const xrt_emu_kernel kKernels[] = {
    {"vadd", 4, kVaddArgs, vadd},
    {"fill64", 3, kFill64Args, fill64},
    {"noop", 0, nullptr, noop},
    {"fail_with", 1, kFailArgs, fail_with},
    {"overrun", 2, kOverrunArgs, overrun},
    {"words", 2, kWordsArgs, words},
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const xrt_emu_kernel* xrt_emu_kernels(int* count) {
  *count = static_cast<int>(sizeof kKernels / sizeof kKernels[0]);
  return kKernels;
}
