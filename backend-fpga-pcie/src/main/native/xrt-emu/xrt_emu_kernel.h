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
/* group: for a buffer, the memory group (bank) the argument is connected to, as the v++ connectivity
   (sp=kernel.arg:DDR[n]) of a real xclbin fixes it: xrtKernelArgGroupId returns it and xrtRunSetArg
   rejects a buffer allocated in another group. 0 for scalars (and for buffers when left out). */
typedef struct {
  const char* name;
  int kind;
  int size; /* scalar size in bytes: 4 or 8; for a buffer, its port's word in bytes (4, or 64 for a 512-bit
               port: xrtRunSetArg rejects a buffer that is not a whole number of words) or 0 (any size) */
  int group;
} xrt_emu_arg;
typedef struct {
  const char* name;            /* kernel name given to xrtPLKernelOpen */
  int nargs;
  const xrt_emu_arg* args;
  /* args[i]: for a buffer, the DEVICE copy's address; for a scalar, the address of its value.
     The return value is IGNORED, as XRT ignores a kernel's ap_return: a run that was not aborted ends in
     ERT_CMD_STATE_COMPLETED, and a kernel reports failures through its output buffers. */
  int (*invoke)(void* const* args);
} xrt_emu_kernel;
const xrt_emu_kernel* xrt_emu_kernels(int* count);
#ifdef __cplusplus
}
#endif
#endif
