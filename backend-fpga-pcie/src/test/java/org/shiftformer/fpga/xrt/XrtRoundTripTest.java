package org.shiftformer.fpga.xrt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** The binding against the host emulation: real kernel runs on buffers moved by xrtBOSync. */
class XrtRoundTripTest extends EmulatedXrtTest {
    private static final int N = 1000;

    @Test
    void loadsTheEmulation() throws Exception {
        XrtLibrary lib = XrtLibrary.load();
        assertTrue(lib.isEmulation());
        assertEquals(lib, emu.library());
        assertEquals(XrtTestSupport.emulationLibrary().toRealPath().toString(), lib.path().toString());
        assertTrue(XrtLibrary.locate().isPresent());
    }

    @Test
    @SuppressWarnings("try") // closes inside the try on purpose: the close is what is tested
    void openAndCloseCountDevices() {
        try (XrtDevice a = XrtDevice.open(0); XrtDevice b = XrtDevice.openByBdf("0000:65:00.1")) {
            assertEquals(2, emu.liveDevices());
            assertEquals("device 0", a.name());
            assertEquals("device 0000:65:00.1", b.name());
            b.close();
            assertTrue(b.isClosed());
            assertEquals(1, emu.liveDevices());
            b.close(); // idempotent
            assertEquals(1, emu.liveDevices());
        }
        assertEquals(0, emu.liveDevices());
    }

    @Test
    void vectorAddRoundTripsThroughTheDevice() {
        int[] a = random(1, N);
        int[] b = random(2, N);
        try (XrtDevice dev = XrtDevice.open(0)) {
            byte[] uuid = dev.loadXclbin(xclbin);
            assertEquals(XrtDevice.UUID_BYTES, uuid.length);
            assertArrayEquals(uuid, dev.xclbinUuid());
            try (XrtKernel k = dev.openKernel("vadd");
                    XrtBuffer ba = dev.alloc(4L * N, k.groupId(0));
                    XrtBuffer bb = dev.alloc(4L * N, k.groupId(1));
                    XrtBuffer out = dev.alloc(4L * N, k.groupId(2));
                    XrtRun run = k.newRun()) {
                assertEquals("vadd", k.name());
                // one input through the mapped host memory, one through xrtBOWrite from a heap array
                MemorySegment.copy(a, 0, ba.map(), ValueLayout.JAVA_INT, 0, N);
                bb.write(MemorySegment.ofArray(b), 0);
                ba.syncToDevice();
                bb.syncToDevice(4L * N, 0);
                assertEquals(RunState.NEW, run.state());
                run.arg(0, ba).arg(1, bb).arg(2, out).arg(3, N);
                run.start();
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
                assertEquals(RunState.COMPLETED, run.state());
                out.syncFromDevice();
                int[] got = new int[N];
                out.read(MemorySegment.ofArray(got), 0);
                assertArrayEquals(sum(a, b), got);
                assertArrayEquals(sum(a, b), out.map().toArray(ValueLayout.JAVA_INT));
            }
        }
    }

    @Test
    void withoutSyncToDeviceTheKernelSeesStaleDeviceMemory() {
        int[] a = random(3, N);
        int[] b = random(4, N);
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("vadd");
                    XrtBuffer ba = dev.alloc(4L * N, 0);
                    XrtBuffer bb = dev.alloc(4L * N, 0);
                    XrtBuffer out = dev.alloc(4L * N, 0);
                    XrtRun run = k.newRun()) {
                ba.write(MemorySegment.ofArray(a), 0);
                bb.write(MemorySegment.ofArray(b), 0);
                bb.syncToDevice();
                // a's bytes are only in host memory: the kernel reads the device copy
                run.arg(0, ba).arg(1, bb).arg(2, out).arg(3, N).start();
                run.waitFor(TIMEOUT);
                out.syncFromDevice();
                int[] stale = out.map().toArray(ValueLayout.JAVA_INT);
                int wrong = 0;
                for (int i = 0; i < N; i++) {
                    wrong += stale[i] != a[i] + b[i] ? 1 : 0;
                }
                assertTrue(wrong > N * 9 / 10, "without the sync almost every sum is wrong, wrong: " + wrong);

                ba.syncToDevice();
                run.start();
                run.waitFor(TIMEOUT);
                out.syncFromDevice();
                assertArrayEquals(sum(a, b), out.map().toArray(ValueLayout.JAVA_INT));
            }
        }
    }

    @Test
    void withoutSyncFromDeviceTheHostKeepsItsOldBytes() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("fill64"); XrtBuffer out = dev.alloc(8 * 16, 0); XrtRun run = k.newRun()) {
                run.arg(0, out).arg(1, 5L).arg(2, 16).start();
                run.waitFor(TIMEOUT);
                assertArrayEquals(new long[16], out.map().toArray(ValueLayout.JAVA_LONG), "host copy untouched");
                out.syncFromDevice(8 * 4, 8 * 2); // only elements 2..5
                long[] got = out.map().toArray(ValueLayout.JAVA_LONG);
                assertArrayEquals(new long[] {0, 0, 7, 8, 9, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, got);
            }
        }
    }

    @Test
    void eightByteScalarArrivesWhole() {
        long base = 0x7654_3210_89AB_CDEFL;
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("fill64"); XrtBuffer out = dev.alloc(8 * 64, 0); XrtRun run = k.newRun()) {
                run.arg(0, out).arg(1, base).arg(2, 64).start();
                run.waitFor(TIMEOUT);
                out.syncFromDevice();
                long[] got = out.map().toArray(ValueLayout.JAVA_LONG);
                for (int i = 0; i < 64; i++) {
                    assertEquals(base + i, got[i], "element " + i);
                }
            }
        }
    }

    @Test
    void runIsReusableAndKeepsItsArguments() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("fill64"); XrtBuffer out = dev.alloc(8 * 4, 0); XrtRun run = k.newRun()) {
                run.arg(0, out).arg(1, 100L).arg(2, 4);
                for (long base = 0; base < 5; base++) {
                    run.arg(1, base).start();
                    run.waitFor(TIMEOUT);
                    out.syncFromDevice();
                    assertArrayEquals(new long[] {base, base + 1, base + 2, base + 3}, out.map().toArray(ValueLayout.JAVA_LONG));
                }
            }
        }
    }

    @Test
    void kernelRunSetsEveryArgumentAndStartsInOneCall() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel fill = dev.openKernel("fill64"); XrtBuffer out = dev.alloc(8 * 3, 0);
                    XrtRun run = fill.run(out, -(1L << 40), 3)) {
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
                out.syncFromDevice();
                long b = -(1L << 40);
                assertArrayEquals(new long[] {b, b + 1, b + 2}, out.map().toArray(ValueLayout.JAVA_LONG));
                ShiftformerException e = assertThrows(ShiftformerException.class, () -> fill.run(out, 1.5f, 3));
                assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
                assertTrue(e.getMessage().contains("argument 1: expected an XrtBuffer, an Integer or a Long, got java.lang.Float"),
                        e.getMessage());
            }
            try (XrtKernel noop = dev.openKernel("noop"); XrtRun run = noop.run()) {
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
            }
        }
    }

    @Test
    void computeUnitSuffixSelectsTheKernel() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("noop:{noop_1}"); XrtRun run = k.newRun()) {
                run.start();
                assertEquals(RunState.COMPLETED, run.waitFor(TIMEOUT));
            }
        }
    }

    @Test
    void syncsAreCountedInBytes() {
        try (XrtDevice dev = XrtDevice.open(0); XrtBuffer bo = dev.alloc(4096, 0)) {
            long to = emu.bytesSyncedToDevice();
            long from = emu.bytesSyncedFromDevice();
            bo.syncToDevice(1000, 96);
            bo.syncFromDevice();
            assertEquals(to + 1000, emu.bytesSyncedToDevice());
            assertEquals(from + 4096, emu.bytesSyncedFromDevice());
        }
    }

    @Test
    void modelledTransferTimeFollowsGbps() {
        emu.configure("gbps=2");
        try (XrtDevice dev = XrtDevice.open(0); XrtBuffer bo = dev.alloc(1 << 20, 0)) {
            long before = emu.modelledNanos();
            bo.syncToDevice();
            assertEquals(before + (1 << 20) / 2, emu.modelledNanos(), "1 MiB at 2 GB/s is 524288 ns");
        }
    }

    @Test
    void threadsRunTheirOwnRunsConcurrently() throws Exception {
        try (XrtDevice dev = XrtDevice.open(0); ExecutorService pool = Executors.newFixedThreadPool(4)) {
            dev.loadXclbin(xclbin);
            try (XrtKernel k = dev.openKernel("vadd")) {
                List<Future<Boolean>> results = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int seed = t;
                    results.add(pool.submit(() -> {
                        int n = 64;
                        try (XrtBuffer a = dev.alloc(4L * n, 0); XrtBuffer b = dev.alloc(4L * n, 0);
                                XrtBuffer out = dev.alloc(4L * n, 0); XrtRun run = k.newRun()) {
                            run.arg(0, a).arg(1, b).arg(2, out).arg(3, n);
                            for (int iter = 0; iter < 50; iter++) {
                                int[] x = random(seed * 1000 + iter, n);
                                int[] y = random(seed * 1000 + iter + 500, n);
                                a.write(MemorySegment.ofArray(x), 0);
                                b.write(MemorySegment.ofArray(y), 0);
                                a.syncToDevice();
                                b.syncToDevice();
                                run.start();
                                run.waitFor(TIMEOUT);
                                out.syncFromDevice();
                                if (!java.util.Arrays.equals(sum(x, y), out.map().toArray(ValueLayout.JAVA_INT))) {
                                    return false;
                                }
                            }
                        }
                        return true;
                    }));
                }
                for (Future<Boolean> f : results) {
                    assertTrue(f.get(120, TimeUnit.SECONDS));
                }
            }
        }
    }

    @Test
    void nativeSegmentsWriteAndReadAtOffsets() {
        try (XrtDevice dev = XrtDevice.open(0); XrtBuffer bo = dev.alloc(64, 0); Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(16);
            for (int i = 0; i < 16; i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) (i + 1));
            }
            bo.write(src, 48);
            MemorySegment dst = arena.allocate(20);
            bo.read(dst, 44);
            byte[] got = dst.toArray(ValueLayout.JAVA_BYTE);
            assertArrayEquals(new byte[] {0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, got);
        }
    }

    @Test
    void outOfRangeAccessIsRejectedBeforeXrt() {
        try (XrtDevice dev = XrtDevice.open(0); XrtBuffer bo = dev.alloc(64, 0)) {
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> bo.write(MemorySegment.ofArray(new byte[16]), 49));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("16 bytes at offset 49"), e.getMessage());
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    assertThrows(ShiftformerException.class, () -> bo.syncToDevice(65, 0)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    assertThrows(ShiftformerException.class, () -> bo.syncFromDevice(1, -1)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> bo.read(MemorySegment.ofArray(new byte[4]).asReadOnly(), 0)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class, () -> dev.alloc(0, 0)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class, () -> dev.alloc(8, -1)).code());
        }
    }

    @Test
    void closedResourcesRefuseUseAndTheirMemoryIsGone() {
        try (XrtDevice dev = XrtDevice.open(0)) {
            XrtBuffer bo = dev.alloc(64, 0);
            MemorySegment mapped = bo.map();
            mapped.set(ValueLayout.JAVA_INT, 0, 42);
            bo.close();
            bo.close();
            assertFalse(mapped.scope().isAlive());
            assertThrows(IllegalStateException.class, () -> mapped.get(ValueLayout.JAVA_INT, 0));
            ShiftformerException e = assertThrows(ShiftformerException.class, bo::syncToDevice);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("is closed"), e.getMessage());
            dev.loadXclbin(xclbin);
            XrtKernel k = dev.openKernel("noop");
            XrtRun run = k.newRun();
            run.close();
            assertThrows(ShiftformerException.class, run::start);
            k.close();
            assertThrows(ShiftformerException.class, k::newRun);
        }
    }

    @Test
    void closingTheDeviceFirstLeavesItsBuffersCountedUntilFreed() {
        XrtDevice dev = XrtDevice.open(0);
        XrtBuffer bo = dev.alloc(128, 0);
        bo.write(MemorySegment.ofArray(new byte[] {7}), 0);
        dev.close();
        assertEquals(0, emu.liveDevices());
        assertEquals(1, emu.liveBuffers());
        assertEquals(7, bo.map().get(ValueLayout.JAVA_BYTE, 0), "the buffer stays usable");
        bo.close();
        assertEquals(0, emu.liveBuffers());
    }

    @Test
    void sameXclbinGivesTheSameUuidAndAnotherFileAnother(@TempDir Path tmp) throws Exception {
        Path copy = Files.copy(xclbin, tmp.resolve("copy.xclbin"));
        try (XrtDevice d1 = XrtDevice.open(0); XrtDevice d2 = XrtDevice.open(0)) {
            byte[] u1 = d1.loadXclbin(xclbin);
            assertArrayEquals(u1, d2.loadXclbin(copy), "the UUID is the content's");
            Files.write(copy, new byte[] {1}, java.nio.file.StandardOpenOption.APPEND);
            try (XrtDevice d3 = XrtDevice.open(0)) {
                assertNotEquals(java.util.HexFormat.of().formatHex(u1), java.util.HexFormat.of().formatHex(d3.loadXclbin(copy)));
            }
        }
    }

    static int[] random(long seed, int n) {
        Random r = new Random(seed);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextInt();
        }
        return v;
    }

    static int[] sum(int[] a, int[] b) {
        int[] s = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            s[i] = a[i] + b[i];
        }
        return s;
    }
}
