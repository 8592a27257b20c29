// The same calls XrtCallBenchmark makes through FFM, made directly from C++ against the host-emulation
// library: the native side of each call, so (JMH figure - this figure) is what the Java binding adds.
// Build and run from the repository root (after the Maven build made target/native/):
//   n=backend-fpga-pcie/target/native
//   g++ -std=c++17 -O2 -I backend-fpga-pcie/src/main/native/xrt-emu
//     backend-fpga-pcie/src/test/native/bench/xrt_emu_call_bench.cpp -L$n -l:libxrt_coreutil.so.2
//     -Wl,-rpath,$PWD/$n -o /tmp/xrt_emu_call_bench && /tmp/xrt_emu_call_bench $n/xrt-test-kernels.xclbin
// (one command line)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "xrt_emu.h"

namespace {

volatile int g_sink;

template <typename F>
double nsPerCall(long iterations, F&& body) {
  std::vector<double> reps;
  for (int rep = 0; rep < 7; rep++) {
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < iterations; i++) body();
    auto t1 = std::chrono::steady_clock::now();
    reps.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(iterations));
  }
  std::sort(reps.begin(), reps.end());
  return reps[reps.size() / 2];
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "%s failed: %s\n", what, xrtEmuLastError());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  check(argc == 2, "usage: xrt_emu_call_bench <xrt-test-kernels.xclbin>");
  xrtDeviceHandle dev = xrtDeviceOpen(0);
  check(dev != nullptr, "xrtDeviceOpen");
  check(xrtDeviceLoadXclbinFile(dev, argv[1]) == 0, "xrtDeviceLoadXclbinFile");
  xuid_t uuid;
  check(xrtDeviceGetXclbinUUID(dev, uuid) == 0, "xrtDeviceGetXclbinUUID");
  xrtKernelHandle vadd = xrtPLKernelOpen(dev, uuid, "vadd");
  xrtKernelHandle noop = xrtPLKernelOpen(dev, uuid, "noop");
  check(vadd != nullptr && noop != nullptr, "xrtPLKernelOpen");
  xrtBufferHandle bo = xrtBOAlloc(dev, 4096, 0, 0);
  check(bo != nullptr, "xrtBOAlloc");
  xrtRunHandle vaddRun = xrtRunOpen(vadd);
  xrtRunHandle noopRun = xrtRunOpen(noop);
  std::vector<unsigned char> src(4096, 1);
  check(xrtRunStart(noopRun) == 0 && xrtRunWaitFor(noopRun, 30000) == ERT_CMD_STATE_COMPLETED, "noop run");

  std::printf("native side of each call (median of 7 repetitions), ns/call\n");
  std::printf("xrtRunState          %8.1f\n", nsPerCall(2000000, [&] { g_sink = xrtRunState(noopRun); }));
  std::printf("xrtKernelArgGroupId  %8.1f\n", nsPerCall(2000000, [&] { g_sink = xrtKernelArgGroupId(vadd, 1); }));
  std::printf("xrtRunSetArg(int)    %8.1f\n", nsPerCall(2000000, [&] { g_sink = xrtRunSetArg(vaddRun, 3, 1024); }));
  std::printf("xrtBOWrite 4 KiB     %8.1f\n", nsPerCall(500000, [&] { g_sink = xrtBOWrite(bo, src.data(), 4096, 0); }));
  std::printf("start+wait noop      %8.1f\n", nsPerCall(20000, [&] {
                check(xrtRunStart(noopRun) == 0, "xrtRunStart");
                g_sink = xrtRunWaitFor(noopRun, 30000);
              }));

  xrtRunClose(vaddRun);
  xrtRunClose(noopRun);
  xrtBOFree(bo);
  xrtKernelClose(vadd);
  xrtKernelClose(noop);
  xrtDeviceClose(dev);
  return 0;
}
