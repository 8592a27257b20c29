/* How an emulated "xclbin" (a shared object built from the HLS kernel source) tells the host-emulation
   XRT library which kernels it contains. xrtDeviceLoadXclbinFile dlopen()s the file and calls
   xrt_emu_kernels(). */
#ifndef XRT_EMU_KERNEL_H
#define XRT_EMU_KERNEL_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
enum xrt_emu_arg_kind { XRT_EMU_ARG_BUFFER = 0, XRT_EMU_ARG_SCALAR = 1 };
typedef struct { const char* name; int kind; int size; /* scalar size in bytes: 4 or 8; 0 for buffers */ } xrt_emu_arg;
typedef struct {
  const char* name;            /* kernel name given to xrtPLKernelOpen */
  int nargs;
  const xrt_emu_arg* args;
  /* args[i]: for a buffer, the DEVICE copy's address; for a scalar, the address of its value.
     Returns 0 on success, non-zero for a kernel error (the run ends in ERT_CMD_STATE_ERROR). */
  int (*invoke)(void* const* args);
} xrt_emu_kernel;
const xrt_emu_kernel* xrt_emu_kernels(int* count);
#ifdef __cplusplus
}
#endif
#endif
