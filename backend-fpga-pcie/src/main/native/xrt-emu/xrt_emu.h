/* The XRT C API subset shiftformer binds (signatures as in XRT's xrt_device.h, xrt_kernel.h, xrt_bo.h and
   ert.h), plus the emulation-only control functions (xrtEmu*). The host-emulation library implements
   exactly these; the Java binding (org.shiftformer.fpga.xrt.XrtLibrary) calls exactly these. */
#ifndef XRT_EMU_H
#define XRT_EMU_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef void* xrtDeviceHandle;
typedef void* xrtKernelHandle;
typedef void* xrtRunHandle;
typedef void* xrtBufferHandle;
typedef uint64_t xrtBufferFlags; /* XRT_BO_FLAGS_NONE = 0 (xrt_mem.h) */
#define XRT_BO_FLAGS_NONE 0
#define XRT_BO_FLAGS_DEV_ONLY (1U << 28) /* xrt_mem.h: device memory only, no host copy */
typedef uint32_t xrtMemoryGroup;
typedef unsigned char xuid_t[16];

enum xclBOSyncDirection { XCL_BO_SYNC_BO_TO_DEVICE = 0, XCL_BO_SYNC_BO_FROM_DEVICE = 1 };

enum ert_cmd_state {
  ERT_CMD_STATE_NEW = 1,
  ERT_CMD_STATE_QUEUED = 2,
  ERT_CMD_STATE_RUNNING = 3,
  ERT_CMD_STATE_COMPLETED = 4,
  ERT_CMD_STATE_ERROR = 5,
  ERT_CMD_STATE_ABORT = 6,
  ERT_CMD_STATE_SUBMITTED = 7,
  ERT_CMD_STATE_TIMEOUT = 8,
  ERT_CMD_STATE_NORESPONSE = 9,
  ERT_CMD_STATE_SKERROR = 10,
  ERT_CMD_STATE_SKCRASHED = 11
};

/* xrt_device.h */
xrtDeviceHandle xrtDeviceOpen(unsigned int index);
xrtDeviceHandle xrtDeviceOpenByBDF(const char* bdf);
int xrtDeviceClose(xrtDeviceHandle dhdl);
int xrtDeviceLoadXclbinFile(xrtDeviceHandle dhdl, const char* xclbin_fnm);
int xrtDeviceGetXclbinUUID(xrtDeviceHandle dhdl, xuid_t out);

/* xrt_kernel.h */
xrtKernelHandle xrtPLKernelOpen(xrtDeviceHandle deviceHandle, const xuid_t xclbinId, const char* name);
int xrtKernelClose(xrtKernelHandle kernelHandle);
int xrtKernelArgGroupId(xrtKernelHandle kernelHandle, int argno);
xrtRunHandle xrtKernelRun(xrtKernelHandle kernelHandle, ...);
xrtRunHandle xrtRunOpen(xrtKernelHandle kernelHandle);
int xrtRunSetArg(xrtRunHandle rhdl, int index, ...);
int xrtRunStart(xrtRunHandle rhdl);
enum ert_cmd_state xrtRunWait(xrtRunHandle rhdl);
enum ert_cmd_state xrtRunWaitFor(xrtRunHandle rhdl, unsigned int timeout_ms);
enum ert_cmd_state xrtRunState(xrtRunHandle rhdl);
int xrtRunClose(xrtRunHandle rhdl);

/* xrt_bo.h */
xrtBufferHandle xrtBOAlloc(xrtDeviceHandle dhdl, size_t size, xrtBufferFlags flags, xrtMemoryGroup grp);
int xrtBOFree(xrtBufferHandle bhdl);
size_t xrtBOSize(xrtBufferHandle bhdl);
int xrtBOSync(xrtBufferHandle bhdl, enum xclBOSyncDirection dir, size_t size, size_t offset);
void* xrtBOMap(xrtBufferHandle bhdl);
int xrtBOWrite(xrtBufferHandle bhdl, const void* src, size_t size, size_t seek);
int xrtBORead(xrtBufferHandle bhdl, void* dst, size_t size, size_t skip);

/* Emulation only. Their presence is how the binding recognises the emulation. */
/* Replaces the fault/latency configuration (syntax of SHIFTFORMER_XRT_EMU) and resets the run counter.
   Returns 0, or -1 (errno EINVAL, xrtEmuLastError() names the bad item) leaving the old configuration. */
int xrtEmuConfigure(const char* spec);
/* The message of this thread's last failed call ("" if none). */
const char* xrtEmuLastError(void);
/* Open handles of each kind. */
uint64_t xrtEmuLiveDevices(void);
uint64_t xrtEmuLiveKernels(void);
uint64_t xrtEmuLiveBuffers(void);
uint64_t xrtEmuLiveRuns(void);
/* Totals since load: runs started, bytes synced to / from the device, nanoseconds of modelled latency. */
uint64_t xrtEmuRunsStarted(void);
uint64_t xrtEmuBytesSynced(int dir);
uint64_t xrtEmuModelledNanos(void);
/* Bytes of host copies of buffers alive now (a XRT_BO_FLAGS_DEV_ONLY buffer has none). */
uint64_t xrtEmuHostCopyBytes(void);
/* Misuse that real XRT punishes with std::abort() or silent corruption (closing a run in flight, freeing
   a buffer an in-flight run uses, a kernel writing past a buffer's end): counted since load; the call
   fails, and the message is kept (xrtEmuLastFatal) and printed to stderr. */
uint64_t xrtEmuFatalErrors(void);
const char* xrtEmuLastFatal(void);

#ifdef __cplusplus
}
#endif
#endif
