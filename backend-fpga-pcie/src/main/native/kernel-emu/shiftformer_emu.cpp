// Registers the shiftformer HLS kernel (src/main/hls) with the host-emulation XRT library: the emulated
// "xclbin" is a shared object built from the kernel source and this file, and xrtDeviceLoadXclbinFile
// finds its kernels through xrt_emu_kernels() (contract in xrt-emu/xrt_emu_kernel.h).
#include <stdint.h>

#include "shiftformer_kernel.h"
#include "xrt_emu_kernel.h"

namespace {

// Argument order and kinds: shiftformer_kernel.h, enum sfk::Arg. Every buffer argument is a 512-bit port
// (word512_t): size 64, so a buffer bound to it must hold whole 64-byte words. Memory groups: the connectivity of
// src/main/vitis/connectivity-u250.cfg for the first seven (weights DDR[0], kv DDR[1], src DDR[2], the rest
// DDR[3]) and, for the four weight stripes, a bank each (groups 4-7), as connectivity-u55c.cfg gives them
// pseudo-channels of their own: a buffer allocated in the wrong group, a stripe in another stripe's bank
// included, is rejected as a card would misroute it.
const xrt_emu_arg kArgs[sfk::ARG_COUNT] = {
    {"op", XRT_EMU_ARG_SCALAR, 4, 0},        {"batch", XRT_EMU_ARG_SCALAR, 4, 0},
    {"flags", XRT_EMU_ARG_SCALAR, 4, 0},     {"weights", XRT_EMU_ARG_BUFFER, 64, 0},
    {"kv", XRT_EMU_ARG_BUFFER, 64, 1},       {"src", XRT_EMU_ARG_BUFFER, 64, 2},
    {"in", XRT_EMU_ARG_BUFFER, 64, 3},       {"out", XRT_EMU_ARG_BUFFER, 64, 3},
    {"scratch", XRT_EMU_ARG_BUFFER, 64, 3},  {"taps", XRT_EMU_ARG_BUFFER, 64, 3},
    {"wstripe0", XRT_EMU_ARG_BUFFER, 64, 4}, {"wstripe1", XRT_EMU_ARG_BUFFER, 64, 5},
    {"wstripe2", XRT_EMU_ARG_BUFFER, 64, 6}, {"wstripe3", XRT_EMU_ARG_BUFFER, 64, 7},
};

int32_t scalar(void* const* args, int i) {
  return *static_cast<const int32_t*>(args[i]);
}

// Runs the kernel on the device copies. The kernel returns nothing, as on a card: the host learns the status
// from out[0] (and the emulation ignores invoke's return value anyway).
int invoke(void* const* args) {
  shiftformer_step(scalar(args, sfk::ARG_OP), scalar(args, sfk::ARG_BATCH), scalar(args, sfk::ARG_FLAGS),
                   static_cast<const word512_t*>(args[sfk::ARG_WEIGHTS]), static_cast<word512_t*>(args[sfk::ARG_KV]),
                   static_cast<word512_t*>(args[sfk::ARG_SRC]), static_cast<const word512_t*>(args[sfk::ARG_IN]),
                   static_cast<word512_t*>(args[sfk::ARG_OUT]), static_cast<word512_t*>(args[sfk::ARG_SCRATCH]),
                   static_cast<word512_t*>(args[sfk::ARG_TAPS]), static_cast<const word512_t*>(args[sfk::ARG_WSTRIPE0]),
                   static_cast<const word512_t*>(args[sfk::ARG_WSTRIPE0 + 1]),
                   static_cast<const word512_t*>(args[sfk::ARG_WSTRIPE0 + 2]),
                   static_cast<const word512_t*>(args[sfk::ARG_WSTRIPE0 + 3]));
  return 0;
}

const xrt_emu_kernel kKernels[] = {
    {"shiftformer_step", sfk::ARG_COUNT, kArgs, invoke},
};

}  // namespace

// Exported explicitly: the native build compiles with -fvisibility=hidden.
extern "C" __attribute__((visibility("default"))) const xrt_emu_kernel* xrt_emu_kernels(int* count) {
  *count = static_cast<int>(sizeof(kKernels) / sizeof(kKernels[0]));
  return kKernels;
}
