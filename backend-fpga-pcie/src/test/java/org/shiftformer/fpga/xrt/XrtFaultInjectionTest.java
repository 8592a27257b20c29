package org.shiftformer.fpga.xrt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** Every failure the emulation can inject or detect surfaces as a ShiftformerException naming the call. */
class XrtFaultInjectionTest extends EmulatedXrtTest {
    @Test
    void injectedOpenFailureNamesTheCallAndErrno() {
        emu.configure("fail-open");
        ShiftformerException e = fails(ErrorCode.BACKEND_UNAVAILABLE, () -> XrtDevice.open(0), "xrtDeviceOpen(0) failed: NULL",
                "errno 19 (No such device)", "fail-open");
        assertTrue(e.getMessage().contains("injected"), e.getMessage());
        fails(ErrorCode.BACKEND_UNAVAILABLE, () -> XrtDevice.openByBdf("0000:65:00.1"), "xrtDeviceOpenByBDF(0000:65:00.1)");
        emu.configure("");
        XrtDevice.open(0).close();
    }

    @Test
    void missingDevicesAndBadAddresses() {
        fails(ErrorCode.BACKEND_UNAVAILABLE, () -> XrtDevice.open(1), "xrtDeviceOpen(1)", "No such device");
        fails(ErrorCode.BACKEND_UNAVAILABLE, () -> XrtDevice.openByBdf("0000:17:00.1"), "xrtDeviceOpenByBDF(0000:17:00.1)");
        fails(ErrorCode.INVALID_ARGUMENT, () -> XrtDevice.openByBdf("card0"), "'card0' is not a PCIe BDF");
        fails(ErrorCode.INVALID_ARGUMENT, () -> XrtDevice.open(-1), "index must be >= 0");
    }

    @Test
    void injectedXclbinFailure() {
        emu.configure("fail-xclbin");
        try (XrtDevice dev = XrtDevice.open(0)) {
            fails(ErrorCode.BACKEND_UNAVAILABLE, () -> dev.loadXclbin(xclbin), "xrtDeviceLoadXclbinFile(device 0, " + xclbin,
                    "errno 5 (Input/output error)", "fail-xclbin");
            emu.configure("");
            dev.loadXclbin(xclbin);
        }
    }

    @Test
    void xclbinProblems(@TempDir Path tmp) throws IOException {
        Path text = Files.writeString(tmp.resolve("not-elf.xclbin"), "hello");
        try (XrtDevice dev = XrtDevice.open(0)) {
            fails(ErrorCode.INVALID_ARGUMENT, () -> dev.loadXclbin(tmp.resolve("missing.xclbin")), "missing.xclbin does not exist");
            fails(ErrorCode.BACKEND_UNAVAILABLE, () -> dev.loadXclbin(text), "xrtDeviceLoadXclbinFile", "not-elf.xclbin",
                    "cannot load the emulated xclbin");
            fails(ErrorCode.BACKEND_UNAVAILABLE, () -> dev.openKernel("vadd"), "xrtDeviceGetXclbinUUID(device 0)", "no xclbin loaded");
            dev.loadXclbin(xclbin);
            fails(ErrorCode.BACKEND_UNAVAILABLE, () -> dev.openKernel("matmul"), "xrtPLKernelOpen(device 0, xclbin ",
                    "\"matmul\")", "No such file or directory", "it has: vadd, fill64, noop, fail_with, overrun, words");
        }
    }

    @Test
    void badKernelArguments() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("vadd"); XrtRun run = k.newRun(); XrtBuffer bo = dev.alloc(16, 0)) {
                fails(ErrorCode.INVALID_ARGUMENT, () -> k.groupId(3), "xrtKernelArgGroupId(kernel vadd, argument 3)",
                        "argument n is a scalar");
                fails(ErrorCode.INVALID_ARGUMENT, () -> k.groupId(9), "kernel vadd has 4 arguments");
                fails(ErrorCode.INVALID_ARGUMENT, () -> run.arg(4, 1), "xrtRunSetArg(run of kernel vadd, index 4, int 1)",
                        "Invalid argument", "kernel vadd has 4 arguments");
                run.arg(0, bo).arg(1, bo);
                fails(ErrorCode.BACKEND_FAILURE, run::start, "xrtRunStart(run of kernel vadd)", "argument 2 (out) was never set");
                fails(ErrorCode.BACKEND_FAILURE, () -> dev.alloc(16, 8), "xrtBOAlloc(device 0, 16 bytes, flags 0x0, group 8)",
                        "memory groups 0..7");
                fails(ErrorCode.INVALID_ARGUMENT, () -> run.waitFor(Duration.ofMillis(10)), "never started");
                fails(ErrorCode.INVALID_ARGUMENT, () -> run.waitFor(Duration.ZERO), "timeout must be positive");
            }
        }
    }

    @Test
    void kernelReturnValueIsIgnoredAsOnACard() {
        // XRT never reads a kernel's ap_return: a kernel reports failures through its output buffers
        withRun("fail_with", run -> {
            run.arg(0, 7).start();
            assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
            assertEquals(RunState.COMPLETED, run.state());
        });
    }

    @Test
    void injectedRunErrorHitsTheNthStartOnly() {
        emu.configure("run-error=2");
        withRun("noop", run -> {
            run.start();
            assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
            run.start();
            assertEquals(RunState.ERROR, run.waitForState(TIMEOUT));
            fails(ErrorCode.BACKEND_FAILURE, () -> run.waitFor(TIMEOUT), "kernel noop", "state ERROR");
            run.start();
            assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
        });
    }

    @Test
    void injectedAbort() {
        emu.configure("run-abort=1");
        withRun("noop", run -> {
            run.start();
            fails(ErrorCode.BACKEND_FAILURE, () -> run.waitFor(TIMEOUT), "xrtRunWaitFor(run of kernel noop", "state ABORT",
                    "aborted");
            assertEquals(RunState.ABORT, run.state());
        });
    }

    /**
     * {@code run-flip=N}: the N-th run completes like any other, and one bit of its output buffer's device
     * copy is wrong: nothing in the run's state or the status says so (what shadow execution must catch).
     */
    @Test
    void injectedBitFlipCompletesNormallyWithOneWrongBit() {
        int n = 64;
        long fatal = emu.fatalErrors();
        emu.configure("run-flip=2,flip-arg=out,flip-byte=9,flip-bit=3");
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("vadd");
                 XrtBuffer a = dev.alloc(4L * n, k.groupId(0));
                 XrtBuffer b = dev.alloc(4L * n, k.groupId(1));
                 XrtBuffer out = dev.alloc(4L * n, k.groupId(2));
                 XrtRun run = k.newRun()) {
                int[] x = new int[n];
                int[] y = new int[n];
                for (int i = 0; i < n; i++) {
                    x[i] = i * 3;
                    y[i] = 1000 - i;
                }
                a.write(MemorySegment.ofArray(x), 0);
                b.write(MemorySegment.ofArray(y), 0);
                a.syncToDevice();
                b.syncToDevice();
                run.arg(0, a).arg(1, b).arg(2, out).arg(3, n);
                int[][] results = new int[3][n];
                for (int r = 0; r < 3; r++) {
                    run.start();
                    assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT), "run " + (r + 1) + " completes");
                    out.syncFromDevice();
                    out.read(MemorySegment.ofArray(results[r]), 0);
                }
                int[] want = new int[n];
                for (int i = 0; i < n; i++) {
                    want[i] = x[i] + y[i];
                }
                assertArrayEquals(want, results[0]);
                assertArrayEquals(want, results[2], "only the configured run is corrupted");
                int[] flipped = want.clone();
                flipped[2] ^= 1 << (8 + 3); // byte 9 = bits 8..15 of the little-endian int at index 2
                assertArrayEquals(flipped, results[1], "run 2: one bit of out, byte 9 bit 3");
            }
        }
        assertEquals(fatal, emu.fatalErrors(), "a flipped bit is not a misuse the emulation reports");
        fails(ErrorCode.INVALID_ARGUMENT, () -> emu.configure("run-flip=1,flip-bit=8"), "flip-bit needs a bit number 0..7");
    }

    @Test
    void injectedTimeoutNeverCompletesAndOccupiesTheComputeUnit() {
        emu.configure("run-timeout=1");
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("noop"); XrtRun hung = k.newRun(); XrtRun next = k.newRun()) {
                hung.start();
                assertEquals(RunState.TIMEOUT, hung.waitForState(Duration.ofMillis(20)));
                awaitRunning(hung);
                fails(ErrorCode.BACKEND_FAILURE, () -> hung.waitFor(Duration.ofMillis(20)), "xrtRunWaitFor(run of kernel noop, 20 ms)",
                        "state TIMEOUT", "did not complete within 20 ms");
                fails(ErrorCode.BACKEND_FAILURE, () -> hung.waitFor(Duration.ofNanos(1_000_001)), "noop, 2 ms)", "within 2 ms");
                fails(ErrorCode.INVALID_ARGUMENT, () -> hung.waitFor(Duration.ofDays(30)), "at most 2147483647 ms");
                fails(ErrorCode.BACKEND_FAILURE, hung::start, "xrtRunStart(run of kernel noop)", "still in flight",
                        "Device or resource busy");
                // the hung run holds the one compute unit: the next run of the device queues behind it
                next.start();
                assertEquals(RunState.TIMEOUT, next.waitForState(Duration.ofMillis(50)));
                assertEquals(RunState.QUEUED, next.state());
                // the binding refuses to close a run in flight (real XRT would abort the process) and keeps it open
                fails(ErrorCode.BACKEND_FAILURE, hung::close, "xrtRunClose(run of kernel noop)", "still in flight (RUNNING)");
                fails(ErrorCode.BACKEND_FAILURE, next::close, "still in flight (QUEUED)");
                assertEquals(2, emu.liveRuns());
                dev.close(); // the device goes: the emulated compute unit aborts what it holds
                assertEquals(RunState.ABORT, hung.state());
                assertEquals(RunState.ABORT, next.state());
            }
        }
        // another device's compute unit is free
        emu.configure("");
        withRun("noop", run -> {
            run.start();
            assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
        });
    }

    @Test
    void closingARunInFlightIsFatal() throws Throwable {
        onAHungVaddRun((run, out, callState) -> {
            // what the binding never does: xrtRunClose on a run still in flight
            assertEquals(-1, (int) XrtApi.RUN_CLOSE.invokeExact(callState, run.handle()));
            assertEquals(16, XrtApi.errno(callState), "EBUSY");
            assertTrue(emu.lastFatal().contains("xrtRunClose: the run of kernel vadd is still in flight (state RUNNING)"),
                    emu.lastFatal());
            assertEquals(1, emu.liveRuns(), "the run stays open");
        });
    }

    @Test
    void freeingABufferAnInFlightRunUsesIsFatal() throws Throwable {
        onAHungVaddRun((run, out, callState) -> {
            assertEquals(-1, (int) XrtApi.BO_FREE.invokeExact(callState, out.handle()));
            assertEquals(16, XrtApi.errno(callState), "EBUSY");
            assertTrue(emu.lastFatal().contains("xrtBOFree(64-byte buffer in group 0): 1 run(s) still in flight use it"),
                    emu.lastFatal());
            assertEquals(2, emu.liveBuffers(), "the buffer stays allocated");
        });
    }

    /**
     * Starts a vadd run that never completes (run-timeout=1), lets {@code misuse} do one thing real XRT
     * punishes to it, requires exactly that one fatal error, then closes the device (the emulated compute unit
     * aborts the run) so the run and buffers can go.
     */
    private void onAHungVaddRun(HungRunMisuse misuse) throws Throwable {
        emu.configure("run-timeout=1");
        long fatal = emu.fatalErrors();
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("vadd"); XrtBuffer a = dev.alloc(64, 0); XrtBuffer out = dev.alloc(64, 0);
                 XrtRun run = k.newRun(); Arena arena = Arena.ofConfined()) {
                run.arg(0, a).arg(1, a).arg(2, out).arg(3, 16).start();
                awaitRunning(run);
                misuse.apply(run, out, XrtApi.newCallState(arena));
                expectedFatal = 1;
                assertEquals(fatal + 1, emu.fatalErrors());
                dev.close();
                assertEquals(RunState.ABORT, run.state());
            }
        }
    }

    @FunctionalInterface
    private interface HungRunMisuse {
        void apply(XrtRun run, XrtBuffer out, MemorySegment callState) throws Throwable;
    }

    @Test
    void bufferInAnotherMemoryGroupThanItsArgumentIsRejected() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("overrun"); XrtRun run = k.newRun(); XrtBuffer wrong = dev.alloc(16, 0);
                 XrtBuffer right = dev.alloc(16, k.groupId(0))) {
                assertEquals(2, k.groupId(0), "from the xclbin's connectivity table");
                fails(ErrorCode.INVALID_ARGUMENT, () -> run.arg(0, wrong), "xrtRunSetArg(run of kernel overrun, index 0",
                        "argument out is connected to memory group 2, but the buffer was allocated in group 0");
                run.arg(0, right).arg(1, 16).start();
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
            }
        }
    }

    @Test
    void bufferThatIsNotAWholeNumberOfItsPortsWordsIsRejected() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("words"); XrtRun run = k.newRun(); XrtBuffer ragged = dev.alloc(100, 0);
                 XrtBuffer whole = dev.alloc(128, 0)) {
                fails(ErrorCode.INVALID_ARGUMENT, () -> run.arg(0, ragged), "xrtRunSetArg(run of kernel words, index 0",
                        "argument w is a port of 64-byte words, but the buffer holds 100 bytes, not a whole number of words");
                run.arg(0, whole).arg(1, 2).start();
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT), "two whole words");
            }
        }
    }

    @Test
    void aKernelWritingPastTheEndOfABufferIsCaughtByTheGuardZone() {
        long fatal = emu.fatalErrors();
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("overrun"); XrtRun run = k.newRun(); XrtBuffer out = dev.alloc(100, 2)) {
                run.arg(0, out).arg(1, 100).start();
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT), "exactly the buffer: fine");
                assertEquals(fatal, emu.fatalErrors());
                run.arg(1, 103).start();
                fails(ErrorCode.BACKEND_FAILURE, () -> run.waitFor(TIMEOUT), "state ERROR");
                expectedFatal = 1;
                assertEquals(fatal + 1, emu.fatalErrors());
                assertTrue(emu.lastFatal().contains("kernel overrun wrote past the end of argument out (a 100-byte buffer): byte 100 changed"),
                        emu.lastFatal());
                run.arg(1, 100).start();
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT), "the guard zone was restored");
            }
        }
    }

    @Test
    void deviceOnlyBuffersHaveNoHostCopy() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            long host = emu.hostCopyBytes();
            try (XrtKernel k = dev.openKernel("fill64"); XrtBuffer devOnly = dev.alloc(4096, XrtDevice.BO_FLAGS_DEV_ONLY, 0);
                 XrtBuffer normal = dev.alloc(1000, 0); XrtRun run = k.newRun()) {
                assertEquals(host + 1000, emu.hostCopyBytes(), "only the normal buffer has a host copy");
                fails(ErrorCode.BACKEND_FAILURE, devOnly::map, "xrtBOMap", "device-only buffer (XRT_BO_FLAGS_DEV_ONLY) has no host copy");
                fails(ErrorCode.BACKEND_FAILURE, devOnly::syncToDevice, "xrtBOSync", "has no host copy");
                run.arg(0, devOnly).arg(1, 5L).arg(2, 512).start(); // kernels use it as usual
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
            }
            assertEquals(host, emu.hostCopyBytes());
        }
    }

    @Test
    void launchLatencyIsModelled() {
        emu.configure("launch-us=300");
        withRun("noop", run -> {
            long before = emu.modelledNanos();
            long started = emu.runsStarted();
            for (int i = 0; i < 3; i++) {
                run.start();
                run.waitFor(TIMEOUT);
            }
            assertEquals(started + 3, emu.runsStarted());
            assertEquals(before + 3 * 300_000, emu.modelledNanos());
        });
    }

    @Test
    void badSpecIsRejectedAndTheOldOneStays() {
        emu.configure("run-error=1");
        fails(ErrorCode.INVALID_ARGUMENT, () -> emu.configure("fail-open,teleport"), "unknown item 'teleport'", "known: fail-open");
        fails(ErrorCode.INVALID_ARGUMENT, () -> emu.configure("run-error=0"), "run-error needs a whole number >= 1");
        fails(ErrorCode.INVALID_ARGUMENT, () -> emu.configure("gbps=-3"), "gbps needs");
        withRun("noop", run -> {
            run.start();
            assertEquals(RunState.ERROR, run.waitForState(TIMEOUT), "run-error=1 still applies");
        });
    }

    @Test
    void environmentVariableConfiguresTheLibraryAtLoad() throws Exception {
        XrtTestSupport.emulationLibrary();
        String failOpen = child("fail-open");
        assertTrue(failOpen.contains("failed BACKEND_UNAVAILABLE: xrtDeviceOpen(0) failed: NULL"), failOpen);
        assertTrue(failOpen.contains("injected failure (fail-open)"), failOpen);
        String bad = child("fail-open,warp=9");
        assertTrue(bad.contains("failed BACKEND_UNAVAILABLE: xrtDeviceOpen(0)"), bad);
        assertTrue(bad.contains("SHIFTFORMER_XRT_EMU=\"fail-open,warp=9\": unknown item 'warp=9'"), bad);
        String fine = child("launch-us=1");
        assertTrue(fine.contains("opened device 0"), fine);
    }

    @Test
    void libraryCannotBeSwitchedOnceLoaded(@TempDir Path tmp) throws IOException {
        Path copy = Files.copy(XrtTestSupport.emulationLibrary(), tmp.resolve("libxrt_coreutil.so.2"));
        fails(ErrorCode.BACKEND_UNAVAILABLE, () -> XrtLibrary.load(copy.toString(), null, null), "is already loaded in this process",
                "cannot be switched to " + copy.toRealPath());
        assertEquals(emu.library(), XrtLibrary.load());
    }

    /** Runs XrtEmuChild in a fresh JVM with SHIFTFORMER_XRT_EMU=spec; returns its output. */
    private static String child(String spec) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-D" + XrtLibrary.PATH_PROPERTY + "=" + XrtTestSupport.emulationLibrary(),
                "-cp", System.getProperty("java.class.path"), XrtEmuChild.class.getName()));
        pb.environment().put(XrtEmulation.ENV, spec);
        pb.redirectErrorStream(true);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM exits");
        assertEquals(0, p.exitValue(), new String(out, StandardCharsets.UTF_8));
        return new String(out, StandardCharsets.UTF_8);
    }

    /** Waits until the compute unit picked the run up (QUEUED until then). */
    private static void awaitRunning(XrtRun run) {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        while (run.state() == RunState.QUEUED && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(RunState.RUNNING, run.state());
    }

    private void withRun(String kernel, RunBody body) {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel(kernel); XrtRun run = k.newRun()) {
                body.accept(run);
            }
        }
    }

    private static ShiftformerException fails(ErrorCode code, Executable call, String... fragments) {
        ShiftformerException e = assertThrows(ShiftformerException.class, call);
        assertEquals(code, e.code(), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message contains '" + f + "': " + e.getMessage());
        }
        return e;
    }

    @FunctionalInterface
    private interface RunBody {
        void accept(XrtRun run);
    }
}
