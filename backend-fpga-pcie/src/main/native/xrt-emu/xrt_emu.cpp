// Host-emulation XRT library: libxrt_coreutil.so.2 exporting the XRT C API subset of xrt_emu.h and
// running an emulated xclbin's kernels (xrt_emu_kernel.h) on the CPU.
//
// Model (see backend-fpga-pcie/README.md, "Host-emulation library"):
// - one emulated card, device index 0, BDF 0000:65:00.1; every open gets its own device state;
// - each buffer has a HOST copy (xrtBOMap/Write/Read) and a separate DEVICE copy (what kernels see);
//   only xrtBOSync copies between them, so a forgotten sync gives wrong results. Host copies start
//   zeroed, device copies start filled with 0xCD;
// - each device has one compute-unit thread running started runs in order (QUEUED -> RUNNING ->
//   COMPLETED), so xrtRunStart returns before the kernel ran, as on hardware;
// - as strict as real XRT where real XRT is unforgiving (README "Strict rules"): the kernel's return
//   value is ignored; a hung run occupies the compute unit until the device closes; closing a run in
//   flight, freeing a buffer an in-flight run uses and a kernel writing past a buffer's end are fatal
//   errors (counted, printed, the call fails); each buffer argument has a memory group from the
//   xclbin's connectivity table and a buffer from another group is rejected, as is a buffer that is not a
//   whole number of its port's words (64 bytes for a 512-bit port); device-only buffers have no host copy;
// - faults and latency come from SHIFTFORMER_XRT_EMU (read at load) or xrtEmuConfigure().
// Every failure sets errno and a thread-local message (xrtEmuLastError) naming the call.
#include "xrt_emu.h"
#include "xrt_emu_kernel.h"

#include <dlfcn.h>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#define XRT_EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr const char* kBdf = "0000:65:00.1";
constexpr unsigned kMemoryGroups = 8;  // DDR[0..3] of a U200/U250, and four banks for the weight stripes
constexpr unsigned char kDevicePoison = 0xCD;
// Every device copy is followed by kGuardBytes of kGuardByte; a run whose kernel changed one of them
// wrote past the end of a buffer (on a card: into the neighbouring buffer).
constexpr size_t kGuardBytes = 256;
constexpr unsigned char kGuardByte = 0xFD;
constexpr uint64_t kDevOnly = XRT_BO_FLAGS_DEV_ONLY;

struct Config {
  bool failOpen = false;
  bool failXclbin = false;
  uint64_t runError = 0;    // 1-based index of the start that ends in ERROR (0: none)
  uint64_t runTimeout = 0;  // ... that never completes
  uint64_t runAbort = 0;    // ... that ends in ABORT
  uint64_t runFlip = 0;     // ... that completes normally with one bit of a buffer flipped: silent corruption
  std::string flipArg = "out";  // the buffer argument whose device copy gets the flipped bit
  uint64_t flipByte = 64;       // its byte offset (64: the shiftformer kernel's out[16], the first logit)
  uint64_t flipBit = 4;         // the bit of that byte, 0..7
  uint64_t launchUs = 0;
  double gbps = 0;          // 0: transfers cost nothing
};

struct Xclbin {
  void* dl = nullptr;
  const xrt_emu_kernel* kernels = nullptr;
  int count = 0;
  unsigned char uuid[16] = {};
  std::string path;
  ~Xclbin() {
    if (dl != nullptr) dlclose(dl);
  }
};

struct Run;

struct Device {
  unsigned index = 0;
  std::shared_ptr<Xclbin> xclbin;
  std::deque<std::shared_ptr<Run>> queue;
  std::condition_variable work;
  bool stopping = false;
  std::thread worker;
};

struct Kernel {
  std::shared_ptr<Device> device;
  std::shared_ptr<Xclbin> xclbin;  // keeps the kernel code loaded while the kernel is open
  const xrt_emu_kernel* desc = nullptr;
};

struct Bo {
  std::shared_ptr<Device> device;
  size_t size = 0;
  uint32_t group = 0;
  bool devOnly = false;
  int inFlight = 0;                 // runs started with this buffer and not yet in a final state
  unsigned char* host = nullptr;    // null for a device-only buffer
  unsigned char* dev = nullptr;
  ~Bo() {
    std::free(host);
    std::free(dev);
  }
};

struct Arg {
  bool set = false;
  std::shared_ptr<Bo> bo;  // buffers: keeps the device copy alive while a run uses it
  uint64_t scalar = 0;     // scalars: little-endian value; a 4-byte scalar sits in the low bytes
};

enum class Fault {
  NONE, ERROR, ABORT,
  HANG, /* occupies the compute unit until the device closes */
  FLIP  /* completes normally, with one bit of an output buffer flipped: what a marginal bitstream does */
};

struct Run {
  std::shared_ptr<Kernel> kernel;
  std::vector<Arg> args;      // as set by xrtRunSetArg
  std::vector<Arg> launched;  // snapshot taken by xrtRunStart (later set_arg calls do not race the kernel)
  int state = ERT_CMD_STATE_NEW;
  Fault fault = Fault::NONE;
};

// Process-wide state. Allocated once and never destroyed: a device left open at exit keeps its worker
// thread, which must not see the mutex or the registries destructed under it.
struct Globals {
  std::mutex mu;  // one lock for all registries and run states; kernels and modelled sleeps run outside it
  std::condition_variable done;  // a run reached a final state
  Config cfg;
  std::string envError;  // a bad SHIFTFORMER_XRT_EMU: every xrtDeviceOpen fails with it
  uint64_t startsSinceConfigure = 0;
  uint64_t runsStarted = 0;
  uint64_t bytesSynced[2] = {0, 0};
  uint64_t modelledNanos = 0;
  uint64_t hostCopyBytes = 0;
  uint64_t fatalErrors = 0;
  std::string lastFatal;
  std::unordered_map<void*, std::shared_ptr<Device>> devices;
  std::unordered_map<void*, std::shared_ptr<Kernel>> kernels;
  std::unordered_map<void*, std::shared_ptr<Bo>> bos;
  std::unordered_map<void*, std::shared_ptr<Run>> runs;
  Globals();
};

Globals& G = *new Globals();

thread_local std::string t_lastError;

std::string vformat(const char* fmt, va_list ap) __attribute__((format(printf, 1, 0)));
std::string vformat(const char* fmt, va_list ap) {
  char buf[768];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  return buf;
}

// Records the message and sets errno last (nothing after it may clobber errno).
void failWith(int err, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void failWith(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  t_lastError = vformat(fmt, ap);
  va_end(ap);
  errno = err;
}

// A misuse real XRT punishes with std::abort() or silent corruption: counted, printed, and the calling
// function fails with it (the caller holds G.mu).
void fatal(int err, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void fatal(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  G.lastFatal = vformat(fmt, ap);
  va_end(ap);
  G.fatalErrors++;
  std::fprintf(stderr, "xrt-emu: FATAL (real XRT would abort or corrupt memory here): %s\n", G.lastFatal.c_str());
  t_lastError = "FATAL: " + G.lastFatal;
  errno = err;
}

bool isFinal(int state) {
  return state == ERT_CMD_STATE_COMPLETED || state == ERT_CMD_STATE_ERROR || state == ERT_CMD_STATE_ABORT;
}

template <typename T>
std::shared_ptr<T> find(std::unordered_map<void*, std::shared_ptr<T>>& map, void* handle) {
  auto it = map.find(handle);
  return it == map.end() ? nullptr : it->second;
}

// Parses "fail-open,run-error=3,gbps=12.5". Returns "" or a message naming the bad item.
std::string parseConfig(const char* spec, Config& out) {
  Config cfg;
  std::string s = spec == nullptr ? "" : spec;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(pos, comma - pos);
    pos = comma + 1;
    size_t b = item.find_first_not_of(" \t");
    size_t e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : item.substr(eq + 1);
    bool hasValue = eq != std::string::npos;
    auto count = [&](uint64_t& dst) -> std::string {
      char* end = nullptr;
      errno = 0;
      unsigned long long v = value.empty() || value[0] == '-' ? 0 : std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || value[0] == '-' || *end != '\0' || errno != 0 || v == 0) {
        return "'" + item + "': " + key + " needs a whole number >= 1";
      }
      dst = v;
      return "";
    };
    std::string err;
    if (key == "fail-open" && !hasValue) {
      cfg.failOpen = true;
    } else if (key == "fail-xclbin" && !hasValue) {
      cfg.failXclbin = true;
    } else if (key == "run-error") {
      err = count(cfg.runError);
    } else if (key == "run-timeout") {
      err = count(cfg.runTimeout);
    } else if (key == "run-abort") {
      err = count(cfg.runAbort);
    } else if (key == "run-flip") {
      err = count(cfg.runFlip);
    } else if (key == "flip-arg" && hasValue && !value.empty()) {
      cfg.flipArg = value;
    } else if (key == "flip-byte") {
      char* end = nullptr;
      errno = 0;
      unsigned long long v = value.empty() || value[0] == '-' ? 0 : std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || value[0] == '-' || *end != '\0' || errno != 0) {
        err = "'" + item + "': flip-byte needs a whole number >= 0";
      } else {
        cfg.flipByte = v;
      }
    } else if (key == "flip-bit") {
      char* end = nullptr;
      unsigned long v = value.empty() ? 8 : std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || v > 7) {
        err = "'" + item + "': flip-bit needs a bit number 0..7";
      } else {
        cfg.flipBit = v;
      }
    } else if (key == "launch-us") {
      err = count(cfg.launchUs);
    } else if (key == "gbps") {
      char* end = nullptr;
      double g = value.empty() ? 0 : std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(g > 0) || g > 1e6) {
        err = "'" + item + "': gbps needs a number of GB/s in (0, 1e6]";
      } else {
        cfg.gbps = g;
      }
    } else {
      err = "unknown item '" + item +
            "' (known: fail-open, fail-xclbin, run-error=N, run-timeout=N, run-abort=N, run-flip=N, flip-arg=NAME, "
            "flip-byte=B, flip-bit=b, launch-us=U, gbps=G)";
    }
    if (!err.empty()) return err;
  }
  out = cfg;
  return "";
}

Globals::Globals() {
  const char* spec = std::getenv("SHIFTFORMER_XRT_EMU");
  if (spec == nullptr) return;
  std::string err = parseConfig(spec, cfg);
  if (!err.empty()) {
    envError = "SHIFTFORMER_XRT_EMU=\"" + std::string(spec) + "\": " + err;
    std::fprintf(stderr, "xrt-emu: %s; every xrtDeviceOpen will fail\n", envError.c_str());
  }
}

void sleepNanos(uint64_t ns) {
  if (ns == 0) return;
  std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
  std::lock_guard<std::mutex> lock(G.mu);
  G.modelledNanos += ns;
}

void finish(Run& run, int state) {
  run.state = state;
  for (Arg& a : run.launched) {
    if (a.bo != nullptr) a.bo->inFlight--;
  }
  run.launched.clear();
  G.done.notify_all();
}

// "" when every buffer argument's guard zone is intact, else names the first overrun (and restores it).
std::string checkGuards(Run& run) {
  static const std::vector<unsigned char> pattern(kGuardBytes, kGuardByte);
  const xrt_emu_kernel* k = run.kernel->desc;
  for (int i = 0; i < k->nargs; i++) {
    const Bo* bo = run.launched[i].bo.get();
    if (bo == nullptr || std::memcmp(bo->dev + bo->size, pattern.data(), kGuardBytes) == 0) continue;
    size_t at = 0;
    while (bo->dev[bo->size + at] == kGuardByte) at++;
    std::memset(bo->dev + bo->size, kGuardByte, kGuardBytes);
    return std::string("kernel ") + k->name + " wrote past the end of argument " + k->args[i].name + " (a " +
           std::to_string(bo->size) + "-byte buffer): byte " + std::to_string(bo->size + at) +
           " changed; on a card that corrupts the neighbouring buffer";
  }
  return "";
}

// The compute unit: runs started runs one at a time, in start order.
void workerLoop(Device* dev) {
  std::unique_lock<std::mutex> lock(G.mu);
  for (;;) {
    dev->work.wait(lock, [dev] { return dev->stopping || !dev->queue.empty(); });
    if (dev->stopping) {
      for (auto& run : dev->queue) finish(*run, ERT_CMD_STATE_ABORT);
      dev->queue.clear();
      return;
    }
    std::shared_ptr<Run> run = dev->queue.front();
    dev->queue.pop_front();
    run->state = ERT_CMD_STATE_RUNNING;
    if (run->fault == Fault::HANG) {
      // The compute unit never reports completion: every later run on this device queues behind it
      // until the device closes (then it ends in ABORT with the queue).
      dev->work.wait(lock, [dev] { return dev->stopping; });
      finish(*run, ERT_CMD_STATE_ABORT);
      continue;
    }
    uint64_t launchNs = G.cfg.launchUs * 1000;
    lock.unlock();

    sleepNanos(launchNs);
    int state;
    std::string overrun;
    if (run->fault == Fault::ERROR) {
      state = ERT_CMD_STATE_ERROR;
    } else if (run->fault == Fault::ABORT) {
      state = ERT_CMD_STATE_ABORT;
    } else {
      const xrt_emu_kernel* k = run->kernel->desc;
      std::vector<void*> argv(static_cast<size_t>(k->nargs) + 1, nullptr);
      for (int i = 0; i < k->nargs; i++) {
        Arg& a = run->launched[i];
        argv[i] = k->args[i].kind == XRT_EMU_ARG_BUFFER ? static_cast<void*>(a.bo->dev)
                                                        : static_cast<void*>(&a.scalar);
      }
      try {
        (void)k->invoke(argv.data());  // XRT ignores a kernel's return value (ap_return)
      } catch (...) {
        overrun = std::string("kernel ") + k->name + " threw a C++ exception";
      }
      state = ERT_CMD_STATE_COMPLETED;
      overrun += checkGuards(*run);
      if (run->fault == Fault::FLIP) {
        // Silent corruption: the run completes as if nothing happened; only a comparison can tell.
        for (int i = 0; i < k->nargs; i++) {
          if (k->args[i].kind == XRT_EMU_ARG_BUFFER && G.cfg.flipArg == k->args[i].name &&
              G.cfg.flipByte < run->launched[i].bo->size) {
            static_cast<unsigned char*>(run->launched[i].bo->dev)[G.cfg.flipByte] ^=
                static_cast<unsigned char>(1u << G.cfg.flipBit);
          }
        }
      }
    }

    lock.lock();
    if (!overrun.empty()) {
      fatal(EFAULT, "%s", overrun.c_str());
      state = ERT_CMD_STATE_ERROR;
    }
    finish(*run, state);
  }
}

void stopWorker(const std::shared_ptr<Device>& dev) {
  {
    std::lock_guard<std::mutex> lock(G.mu);
    dev->stopping = true;
    dev->work.notify_all();
  }
  if (dev->worker.joinable()) dev->worker.join();
}

xrtDeviceHandle openDevice(unsigned index, const char* call, const char* what) {
  std::shared_ptr<Device> dev;
  {
    std::lock_guard<std::mutex> lock(G.mu);
    if (!G.envError.empty()) {
      failWith(EINVAL, "%s(%s): %s", call, what, G.envError.c_str());
      return nullptr;
    }
    if (G.cfg.failOpen) {
      failWith(ENODEV, "%s(%s): injected failure (fail-open)", call, what);
      return nullptr;
    }
    if (index != 0) {
      failWith(ENODEV, "%s(%s): no such device (the emulation has one device: index 0, BDF %s)", call,
               what, kBdf);
      return nullptr;
    }
    dev = std::make_shared<Device>();
    dev->index = index;
    G.devices[dev.get()] = dev;
  }
  dev->worker = std::thread(workerLoop, dev.get());
  return dev.get();
}

// FNV-1a over the file, twice with different bases: a stable 16-byte id of the file's contents.
void contentUuid(const std::string& path, unsigned char out[16]) {
  uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
  std::ifstream in(path, std::ios::binary);
  char buf[65536];
  while (in) {
    in.read(buf, sizeof buf);
    std::streamsize n = in.gcount();
    for (std::streamsize i = 0; i < n; i++) {
      for (uint64_t& x : h) {
        x ^= static_cast<unsigned char>(buf[i]);
        x *= 0x100000001b3ULL;
      }
    }
  }
  std::memcpy(out, &h[0], 8);
  std::memcpy(out + 8, &h[1], 8);
  out[6] = static_cast<unsigned char>((out[6] & 0x0f) | 0x40);  // RFC 4122 version 4 / variant bits
  out[8] = static_cast<unsigned char>((out[8] & 0x3f) | 0x80);
}

std::string validateTable(const xrt_emu_kernel* ks, int count) {
  if (ks == nullptr || count < 0) return "xrt_emu_kernels() returned no table";
  for (int i = 0; i < count; i++) {
    const xrt_emu_kernel& k = ks[i];
    if (k.name == nullptr || k.invoke == nullptr || k.nargs < 0 || (k.nargs > 0 && k.args == nullptr)) {
      return "kernel #" + std::to_string(i) + " has no name, no invoke function or no argument table";
    }
    for (int a = 0; a < k.nargs; a++) {
      const xrt_emu_arg& arg = k.args[a];
      bool ok = (arg.kind == XRT_EMU_ARG_BUFFER && (arg.size == 0 || arg.size == 4 || arg.size == 64)) ||
                (arg.kind == XRT_EMU_ARG_SCALAR && (arg.size == 4 || arg.size == 8));
      if (!ok) {
        return std::string("kernel ") + k.name + " argument " + std::to_string(a) +
               ": kind must be buffer (size 0, 4 or 64: its port's word) or scalar (size 4 or 8)";
      }
      if (arg.group < 0 || static_cast<unsigned>(arg.group) >= kMemoryGroups ||
          (arg.kind == XRT_EMU_ARG_SCALAR && arg.group != 0)) {
        return std::string("kernel ") + k.name + " argument " + std::to_string(a) + ": memory group " +
               std::to_string(arg.group) + " is not one of the card's groups 0.." + std::to_string(kMemoryGroups - 1) +
               " (scalars: 0)";
      }
    }
  }
  return "";
}

int setArgFromVaList(Run& run, int index, va_list* ap, const char* call) {
  const xrt_emu_kernel* k = run.kernel->desc;
  if (index < 0 || index >= k->nargs) {
    failWith(EINVAL, "%s(index %d): kernel %s has %d arguments", call, index, k->name, k->nargs);
    return -1;
  }
  const xrt_emu_arg& desc = k->args[index];
  Arg arg;
  if (desc.kind == XRT_EMU_ARG_BUFFER) {
    void* handle = va_arg(*ap, void*);
    arg.bo = find(G.bos, handle);
    if (arg.bo == nullptr) {
      failWith(EINVAL, "%s(index %d): kernel %s argument %s: %p is not an open buffer", call, index, k->name,
               desc.name, handle);
      return -1;
    }
    if (arg.bo->device != run.kernel->device) {
      failWith(EINVAL, "%s(index %d): kernel %s argument %s: the buffer belongs to another device", call,
               index, k->name, desc.name);
      return -1;
    }
    if (arg.bo->group != static_cast<uint32_t>(desc.group)) {
      // Real XRT's C API passes the address unchecked: the port would address another bank (AXI decode
      // error or another buffer's bytes).
      failWith(EINVAL,
               "%s(index %d): kernel %s argument %s is connected to memory group %d, but the buffer was "
               "allocated in group %u (allocate it in xrtKernelArgGroupId(kernel, %d))",
               call, index, k->name, desc.name, desc.group, arg.bo->group, index);
      return -1;
    }
    if (desc.size > 0 && arg.bo->size % static_cast<size_t>(desc.size) != 0) {
      // The port moves whole words (a 512-bit port: 64-byte beats); a buffer that ends inside one has its last
      // beat partly outside it. Real XRT does not check: the kernel reads, and read-modify-writes, bytes past
      // the buffer's end, whatever the allocator put there.
      failWith(EINVAL,
               "%s(index %d): kernel %s argument %s is a port of %d-byte words, but the buffer holds %zu bytes, "
               "not a whole number of words (round its size up to a multiple of %d)",
               call, index, k->name, desc.name, desc.size, arg.bo->size, desc.size);
      return -1;
    }
  } else if (desc.size == 4) {
    arg.scalar = static_cast<uint32_t>(va_arg(*ap, int));  // XRT reads a 4-byte scalar as an int
  } else {
    arg.scalar = va_arg(*ap, uint64_t);
  }
  arg.set = true;
  run.args[index] = std::move(arg);
  return 0;
}

xrtRunHandle openRun(xrtKernelHandle khdl, const char* call) {
  auto kernel = find(G.kernels, khdl);
  if (kernel == nullptr) {
    failWith(EINVAL, "%s: %p is not an open kernel", call, khdl);
    return nullptr;
  }
  auto run = std::make_shared<Run>();
  run->kernel = kernel;
  run->args.resize(static_cast<size_t>(kernel->desc->nargs));
  G.runs[run.get()] = run;
  return run.get();
}

int startRun(xrtRunHandle rhdl, const char* call) {
  auto run = find(G.runs, rhdl);
  if (run == nullptr) {
    failWith(EINVAL, "%s: %p is not an open run", call, rhdl);
    return -1;
  }
  const xrt_emu_kernel* k = run->kernel->desc;
  if (run->state == ERT_CMD_STATE_QUEUED || run->state == ERT_CMD_STATE_RUNNING) {
    failWith(EBUSY, "%s: the run of kernel %s is still in flight (state %d)", call, k->name, run->state);
    return -1;
  }
  std::shared_ptr<Device> dev = run->kernel->device;
  if (G.devices.find(dev.get()) == G.devices.end()) {
    failWith(ENODEV, "%s: kernel %s: its device is closed", call, k->name);
    return -1;
  }
  for (int i = 0; i < k->nargs; i++) {
    if (!run->args[i].set) {
      failWith(EINVAL, "%s: kernel %s argument %d (%s) was never set", call, k->name, i, k->args[i].name);
      return -1;
    }
  }
  uint64_t n = ++G.startsSinceConfigure;
  G.runsStarted++;
  run->launched = run->args;
  for (Arg& a : run->launched) {
    if (a.bo != nullptr) a.bo->inFlight++;
  }
  run->fault = n == G.cfg.runError     ? Fault::ERROR
               : n == G.cfg.runAbort   ? Fault::ABORT
               : n == G.cfg.runTimeout ? Fault::HANG
               : n == G.cfg.runFlip    ? Fault::FLIP
                                       : Fault::NONE;
  run->state = ERT_CMD_STATE_QUEUED;
  dev->queue.push_back(run);
  dev->work.notify_one();
  return 0;
}

}  // namespace

// ---- xrt_device.h ----

XRT_EMU_EXPORT xrtDeviceHandle xrtDeviceOpen(unsigned int index) {
  std::string what = std::to_string(index);
  return openDevice(index, "xrtDeviceOpen", what.c_str());
}

XRT_EMU_EXPORT xrtDeviceHandle xrtDeviceOpenByBDF(const char* bdf) {
  if (bdf == nullptr) {
    failWith(EINVAL, "xrtDeviceOpenByBDF(NULL): no BDF");
    return nullptr;
  }
  bool match = strcasecmp(bdf, kBdf) == 0 || strcasecmp(bdf, kBdf + 5) == 0;  // with or without domain
  return openDevice(match ? 0 : ~0u, "xrtDeviceOpenByBDF", bdf);
}

XRT_EMU_EXPORT int xrtDeviceClose(xrtDeviceHandle dhdl) {
  std::shared_ptr<Device> dev;
  {
    std::lock_guard<std::mutex> lock(G.mu);
    dev = find(G.devices, dhdl);
    if (dev == nullptr) {
      failWith(EINVAL, "xrtDeviceClose: %p is not an open device", dhdl);
      return -1;
    }
    G.devices.erase(dhdl);  // buffers, kernels and runs still open stay counted as live
  }
  stopWorker(dev);
  return 0;
}

XRT_EMU_EXPORT int xrtDeviceLoadXclbinFile(xrtDeviceHandle dhdl, const char* fnm) {
  std::shared_ptr<Device> dev;
  {
    std::lock_guard<std::mutex> lock(G.mu);
    dev = find(G.devices, dhdl);
    if (dev == nullptr) {
      failWith(EINVAL, "xrtDeviceLoadXclbinFile: %p is not an open device", dhdl);
      return -1;
    }
    if (fnm == nullptr) {
      failWith(EINVAL, "xrtDeviceLoadXclbinFile(NULL): no file name");
      return -1;
    }
    if (G.cfg.failXclbin) {
      failWith(EIO, "xrtDeviceLoadXclbinFile(%s): injected failure (fail-xclbin)", fnm);
      return -1;
    }
  }
  auto xclbin = std::make_shared<Xclbin>();
  xclbin->path = fnm;
  xclbin->dl = dlopen(fnm, RTLD_NOW | RTLD_LOCAL);
  if (xclbin->dl == nullptr) {
    const char* why = dlerror();
    failWith(ENOENT, "xrtDeviceLoadXclbinFile(%s): cannot load the emulated xclbin: %s", fnm,
             why != nullptr ? why : "unknown dlopen error");
    return -1;
  }
  auto table = reinterpret_cast<const xrt_emu_kernel* (*)(int*)>(dlsym(xclbin->dl, "xrt_emu_kernels"));
  if (table == nullptr) {
    failWith(EINVAL, "xrtDeviceLoadXclbinFile(%s): not an emulated xclbin (no xrt_emu_kernels symbol)", fnm);
    return -1;
  }
  xclbin->kernels = table(&xclbin->count);
  std::string bad = validateTable(xclbin->kernels, xclbin->count);
  if (!bad.empty()) {
    failWith(EINVAL, "xrtDeviceLoadXclbinFile(%s): %s", fnm, bad.c_str());
    return -1;
  }
  contentUuid(fnm, xclbin->uuid);
  std::lock_guard<std::mutex> lock(G.mu);
  if (G.devices.find(dhdl) == G.devices.end()) {
    failWith(EINVAL, "xrtDeviceLoadXclbinFile(%s): the device was closed meanwhile", fnm);
    return -1;
  }
  dev->xclbin = xclbin;
  return 0;
}

XRT_EMU_EXPORT int xrtDeviceGetXclbinUUID(xrtDeviceHandle dhdl, xuid_t out) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto dev = find(G.devices, dhdl);
  if (dev == nullptr) {
    failWith(EINVAL, "xrtDeviceGetXclbinUUID: %p is not an open device", dhdl);
    return -1;
  }
  if (dev->xclbin == nullptr) {
    failWith(ENOENT, "xrtDeviceGetXclbinUUID: no xclbin loaded on device %u", dev->index);
    return -1;
  }
  std::memcpy(out, dev->xclbin->uuid, 16);
  return 0;
}

// ---- xrt_kernel.h ----

XRT_EMU_EXPORT xrtKernelHandle xrtPLKernelOpen(xrtDeviceHandle dhdl, const xuid_t uuid, const char* name) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto dev = find(G.devices, dhdl);
  if (dev == nullptr) {
    failWith(EINVAL, "xrtPLKernelOpen: %p is not an open device", dhdl);
    return nullptr;
  }
  if (name == nullptr) {
    failWith(EINVAL, "xrtPLKernelOpen(NULL): no kernel name");
    return nullptr;
  }
  if (dev->xclbin == nullptr) {
    failWith(ENOENT, "xrtPLKernelOpen(%s): no xclbin loaded on device %u", name, dev->index);
    return nullptr;
  }
  if (std::memcmp(uuid, dev->xclbin->uuid, 16) != 0) {
    failWith(EINVAL, "xrtPLKernelOpen(%s): the xclbin UUID is not the one loaded on device %u (%s)", name,
             dev->index, dev->xclbin->path.c_str());
    return nullptr;
  }
  std::string base = name;
  base = base.substr(0, base.find(':'));  // "kernel:{cu1,cu2}" selects compute units: one CU here
  for (int i = 0; i < dev->xclbin->count; i++) {
    if (base == dev->xclbin->kernels[i].name) {
      auto kernel = std::make_shared<Kernel>();
      kernel->device = dev;
      kernel->xclbin = dev->xclbin;
      kernel->desc = &dev->xclbin->kernels[i];
      G.kernels[kernel.get()] = kernel;
      return kernel.get();
    }
  }
  std::string names;
  for (int i = 0; i < dev->xclbin->count; i++) {
    names += (i == 0 ? "" : ", ") + std::string(dev->xclbin->kernels[i].name);
  }
  failWith(ENOENT, "xrtPLKernelOpen(%s): no such kernel in %s (it has: %s)", name, dev->xclbin->path.c_str(),
           names.c_str());
  return nullptr;
}

XRT_EMU_EXPORT int xrtKernelClose(xrtKernelHandle khdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  if (G.kernels.erase(khdl) == 0) {
    failWith(EINVAL, "xrtKernelClose: %p is not an open kernel", khdl);
    return -1;
  }
  return 0;
}

XRT_EMU_EXPORT int xrtKernelArgGroupId(xrtKernelHandle khdl, int argno) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto kernel = find(G.kernels, khdl);
  if (kernel == nullptr) {
    failWith(EINVAL, "xrtKernelArgGroupId: %p is not an open kernel", khdl);
    return -EINVAL;
  }
  const xrt_emu_kernel* k = kernel->desc;
  if (argno < 0 || argno >= k->nargs) {
    failWith(EINVAL, "xrtKernelArgGroupId(%d): kernel %s has %d arguments", argno, k->name, k->nargs);
    return -EINVAL;
  }
  if (k->args[argno].kind != XRT_EMU_ARG_BUFFER) {
    failWith(EINVAL, "xrtKernelArgGroupId(%d): kernel %s argument %s is a scalar, not a buffer", argno,
             k->name, k->args[argno].name);
    return -EINVAL;
  }
  return k->args[argno].group;  // the emulated xclbin's connectivity table
}

XRT_EMU_EXPORT xrtRunHandle xrtRunOpen(xrtKernelHandle khdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  return openRun(khdl, "xrtRunOpen");
}

XRT_EMU_EXPORT int xrtRunSetArg(xrtRunHandle rhdl, int index, ...) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto run = find(G.runs, rhdl);
  if (run == nullptr) {
    failWith(EINVAL, "xrtRunSetArg(index %d): %p is not an open run", index, rhdl);
    return -1;
  }
  va_list ap;
  va_start(ap, index);
  int rc = setArgFromVaList(*run, index, &ap, "xrtRunSetArg");
  va_end(ap);
  return rc;
}

XRT_EMU_EXPORT xrtRunHandle xrtKernelRun(xrtKernelHandle khdl, ...) {
  std::lock_guard<std::mutex> lock(G.mu);
  xrtRunHandle rhdl = openRun(khdl, "xrtKernelRun");
  if (rhdl == nullptr) return nullptr;
  auto run = G.runs[rhdl];
  va_list ap;
  va_start(ap, khdl);
  int rc = 0;
  for (int i = 0; i < run->kernel->desc->nargs && rc == 0; i++) {
    rc = setArgFromVaList(*run, i, &ap, "xrtKernelRun");
  }
  va_end(ap);
  if (rc == 0) rc = startRun(rhdl, "xrtKernelRun");
  if (rc != 0) {
    int err = errno;
    G.runs.erase(rhdl);
    errno = err;
    return nullptr;
  }
  return rhdl;
}

XRT_EMU_EXPORT int xrtRunStart(xrtRunHandle rhdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  return startRun(rhdl, "xrtRunStart");
}

XRT_EMU_EXPORT enum ert_cmd_state xrtRunWaitFor(xrtRunHandle rhdl, unsigned int timeout_ms) {
  std::unique_lock<std::mutex> lock(G.mu);
  auto run = find(G.runs, rhdl);
  if (run == nullptr) {
    failWith(EINVAL, "xrtRunWaitFor: %p is not an open run", rhdl);
    return ERT_CMD_STATE_ABORT;
  }
  auto done = [&run] { return run->state == ERT_CMD_STATE_NEW || isFinal(run->state); };
  if (timeout_ms == 0) {
    G.done.wait(lock, done);  // XRT: 0 blocks until the run completes
  } else if (!G.done.wait_for(lock, std::chrono::milliseconds(timeout_ms), done)) {
    return ERT_CMD_STATE_TIMEOUT;
  }
  return static_cast<ert_cmd_state>(run->state);
}

XRT_EMU_EXPORT enum ert_cmd_state xrtRunWait(xrtRunHandle rhdl) {
  return xrtRunWaitFor(rhdl, 0);
}

XRT_EMU_EXPORT enum ert_cmd_state xrtRunState(xrtRunHandle rhdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto run = find(G.runs, rhdl);
  if (run == nullptr) {
    failWith(EINVAL, "xrtRunState: %p is not an open run", rhdl);
    return ERT_CMD_STATE_ABORT;
  }
  return static_cast<ert_cmd_state>(run->state);
}

XRT_EMU_EXPORT int xrtRunClose(xrtRunHandle rhdl) {
  std::unique_lock<std::mutex> lock(G.mu);
  auto run = find(G.runs, rhdl);
  if (run == nullptr) {
    failWith(EINVAL, "xrtRunClose: %p is not an open run", rhdl);
    return -1;
  }
  if (run->state == ERT_CMD_STATE_QUEUED || run->state == ERT_CMD_STATE_RUNNING) {
    // XRT master's ~run_impl calls std::abort() here; 2022.2-2025.2 recycle the command's exec buffer
    // under the live compute unit. The run stays open.
    fatal(EBUSY,
          "xrtRunClose: the run of kernel %s is still in flight (state %s): closing it aborts the process "
          "on XRT master and recycles its command under the live compute unit on XRT 2022.2-2025.2; "
          "wait until it reaches a final state, or keep it open",
          run->kernel->desc->name, run->state == ERT_CMD_STATE_QUEUED ? "QUEUED" : "RUNNING");
    return -1;
  }
  G.runs.erase(rhdl);
  return 0;
}

// ---- xrt_bo.h ----

XRT_EMU_EXPORT xrtBufferHandle xrtBOAlloc(xrtDeviceHandle dhdl, size_t size, xrtBufferFlags flags,
                                          xrtMemoryGroup grp) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto dev = find(G.devices, dhdl);
  if (dev == nullptr) {
    failWith(EINVAL, "xrtBOAlloc(%zu bytes): %p is not an open device", size, dhdl);
    return nullptr;
  }
  if (size == 0) {
    failWith(EINVAL, "xrtBOAlloc(0 bytes): a buffer needs at least one byte");
    return nullptr;
  }
  if (grp >= kMemoryGroups) {
    failWith(EINVAL, "xrtBOAlloc(%zu bytes, group %u): the emulated card has memory groups 0..%u", size, grp,
             kMemoryGroups - 1);
    return nullptr;
  }
  auto bo = std::make_shared<Bo>();
  bo->device = dev;
  bo->size = size;
  bo->group = grp;
  bo->devOnly = (flags & kDevOnly) != 0;  // other flags make no difference to the emulation
  size_t rounded = (size + 4095) & ~static_cast<size_t>(4095);
  size_t devBytes = (size + kGuardBytes + 4095) & ~static_cast<size_t>(4095);
  if (rounded < size || devBytes < size ||
      (!bo->devOnly && posix_memalign(reinterpret_cast<void**>(&bo->host), 4096, rounded) != 0) ||
      posix_memalign(reinterpret_cast<void**>(&bo->dev), 4096, devBytes) != 0) {
    failWith(ENOMEM, "xrtBOAlloc(%zu bytes): out of host memory for the emulated buffer", size);
    return nullptr;
  }
  if (bo->host != nullptr) {
    std::memset(bo->host, 0, rounded);
    G.hostCopyBytes += size;
  }
  std::memset(bo->dev, kDevicePoison, size);
  std::memset(bo->dev + size, kGuardByte, devBytes - size);
  G.bos[bo.get()] = bo;
  return bo.get();
}

XRT_EMU_EXPORT int xrtBOFree(xrtBufferHandle bhdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto bo = find(G.bos, bhdl);
  if (bo == nullptr) {
    failWith(EINVAL, "xrtBOFree: %p is not an open buffer", bhdl);
    return -1;
  }
  if (bo->inFlight > 0) {
    // Real XRT frees it: the compute unit then reads and writes memory that belongs to someone else.
    fatal(EBUSY,
          "xrtBOFree(%zu-byte buffer in group %u): %d run(s) still in flight use it; on a card the compute "
          "unit would keep reading and writing the freed memory (the buffer stays allocated)",
          bo->size, bo->group, bo->inFlight);
    return -1;
  }
  if (!bo->devOnly) G.hostCopyBytes -= bo->size;
  G.bos.erase(bhdl);
  return 0;
}

XRT_EMU_EXPORT size_t xrtBOSize(xrtBufferHandle bhdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto bo = find(G.bos, bhdl);
  if (bo == nullptr) {
    failWith(EINVAL, "xrtBOSize: %p is not an open buffer", bhdl);
    return 0;
  }
  return bo->size;
}

XRT_EMU_EXPORT void* xrtBOMap(xrtBufferHandle bhdl) {
  std::lock_guard<std::mutex> lock(G.mu);
  auto bo = find(G.bos, bhdl);
  if (bo == nullptr) {
    failWith(EINVAL, "xrtBOMap: %p is not an open buffer", bhdl);
    return nullptr;
  }
  if (bo->devOnly) {
    failWith(EINVAL, "xrtBOMap(%zu-byte buffer): a device-only buffer (XRT_BO_FLAGS_DEV_ONLY) has no host copy",
             bo->size);
    return nullptr;
  }
  return bo->host;
}

static std::shared_ptr<Bo> boRange(xrtBufferHandle bhdl, size_t size, size_t offset, const char* call) {
  auto bo = find(G.bos, bhdl);
  if (bo == nullptr) {
    failWith(EINVAL, "%s: %p is not an open buffer", call, bhdl);
    return nullptr;
  }
  if (offset > bo->size || size > bo->size - offset) {
    failWith(EINVAL, "%s(%zu bytes at offset %zu): outside the %zu-byte buffer", call, size, offset, bo->size);
    return nullptr;
  }
  if (bo->devOnly) {
    failWith(EINVAL, "%s(%zu-byte buffer): a device-only buffer (XRT_BO_FLAGS_DEV_ONLY) has no host copy", call,
             bo->size);
    return nullptr;
  }
  return bo;
}

XRT_EMU_EXPORT int xrtBOWrite(xrtBufferHandle bhdl, const void* src, size_t size, size_t seek) {
  std::shared_ptr<Bo> bo;
  {
    std::lock_guard<std::mutex> lock(G.mu);
    bo = boRange(bhdl, size, seek, "xrtBOWrite");
    if (bo == nullptr) return -1;
  }
  std::memcpy(bo->host + seek, src, size);
  return 0;
}

XRT_EMU_EXPORT int xrtBORead(xrtBufferHandle bhdl, void* dst, size_t size, size_t skip) {
  std::shared_ptr<Bo> bo;
  {
    std::lock_guard<std::mutex> lock(G.mu);
    bo = boRange(bhdl, size, skip, "xrtBORead");
    if (bo == nullptr) return -1;
  }
  std::memcpy(dst, bo->host + skip, size);
  return 0;
}

XRT_EMU_EXPORT int xrtBOSync(xrtBufferHandle bhdl, enum xclBOSyncDirection dir, size_t size, size_t offset) {
  std::shared_ptr<Bo> bo;
  double gbps;
  {
    std::lock_guard<std::mutex> lock(G.mu);
    if (dir != XCL_BO_SYNC_BO_TO_DEVICE && dir != XCL_BO_SYNC_BO_FROM_DEVICE) {
      failWith(EINVAL, "xrtBOSync(direction %d): neither XCL_BO_SYNC_BO_TO_DEVICE (0) nor FROM_DEVICE (1)",
               static_cast<int>(dir));
      return -1;
    }
    bo = boRange(bhdl, size, offset, "xrtBOSync");
    if (bo == nullptr) return -1;
    G.bytesSynced[dir] += size;
    gbps = G.cfg.gbps;
  }
  if (dir == XCL_BO_SYNC_BO_TO_DEVICE) {
    std::memcpy(bo->dev + offset, bo->host + offset, size);
  } else {
    std::memcpy(bo->host + offset, bo->dev + offset, size);
  }
  if (gbps > 0) sleepNanos(static_cast<uint64_t>(static_cast<double>(size) / gbps));
  return 0;
}

// ---- emulation control ----

XRT_EMU_EXPORT int xrtEmuConfigure(const char* spec) {
  std::lock_guard<std::mutex> lock(G.mu);
  Config cfg;
  std::string err = parseConfig(spec, cfg);
  if (!err.empty()) {
    failWith(EINVAL, "xrtEmuConfigure(\"%s\"): %s", spec == nullptr ? "" : spec, err.c_str());
    return -1;
  }
  G.cfg = cfg;
  G.envError.clear();
  G.startsSinceConfigure = 0;
  return 0;
}

XRT_EMU_EXPORT const char* xrtEmuLastError(void) { return t_lastError.c_str(); }

XRT_EMU_EXPORT uint64_t xrtEmuLiveDevices(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.devices.size();
}

XRT_EMU_EXPORT uint64_t xrtEmuLiveKernels(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.kernels.size();
}

XRT_EMU_EXPORT uint64_t xrtEmuLiveBuffers(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.bos.size();
}

XRT_EMU_EXPORT uint64_t xrtEmuLiveRuns(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.runs.size();
}

XRT_EMU_EXPORT uint64_t xrtEmuRunsStarted(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.runsStarted;
}

XRT_EMU_EXPORT uint64_t xrtEmuBytesSynced(int dir) {
  std::lock_guard<std::mutex> lock(G.mu);
  return dir == 0 || dir == 1 ? G.bytesSynced[dir] : 0;
}

XRT_EMU_EXPORT uint64_t xrtEmuModelledNanos(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.modelledNanos;
}

XRT_EMU_EXPORT uint64_t xrtEmuHostCopyBytes(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.hostCopyBytes;
}

XRT_EMU_EXPORT uint64_t xrtEmuFatalErrors(void) {
  std::lock_guard<std::mutex> lock(G.mu);
  return G.fatalErrors;
}

XRT_EMU_EXPORT const char* xrtEmuLastFatal(void) {
  // the string lives until the next fatal error: copy it into a thread-local buffer under the lock
  static thread_local std::string copy;
  std::lock_guard<std::mutex> lock(G.mu);
  copy = G.lastFatal;
  return copy.c_str();
}
