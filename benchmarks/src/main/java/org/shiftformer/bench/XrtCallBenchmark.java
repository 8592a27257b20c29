package org.shiftformer.bench;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.shiftformer.fpga.xrt.RunState;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtDevice;
import org.shiftformer.fpga.xrt.XrtEmulation;
import org.shiftformer.fpga.xrt.XrtKernel;
import org.shiftformer.fpga.xrt.XrtLibrary;
import org.shiftformer.fpga.xrt.XrtRun;

/**
 * What one XRT call costs through the FFM binding, against backend-fpga-pcie's host-emulation library
 * (nanoseconds per call; the emulation's own work is a mutex and a hash lookup, plus a memcpy or a
 * thread hand-off where the call implies one):
 * <ul>
 *   <li>{@code ffmFloor}: libc's {@code abs(int)} through a plain downcall handle, the least a native call
 *       costs (the Java-to-native transition and back);</li>
 *   <li>{@code runState}: {@code xrtRunState} ({@link XrtRun#state()}, no errno capture);</li>
 *   <li>{@code argGroupId}: {@code xrtKernelArgGroupId} ({@link XrtKernel#groupId}: errno captured into a
 *       per-call confined arena);</li>
 *   <li>{@code setArgInt}: {@code xrtRunSetArg} with an int (variadic, errno into the run's own segment);</li>
 *   <li>{@code boWrite4KiBNative} / {@code boWrite4KiBHeap}: {@code xrtBOWrite} of 4 KiB from off-heap
 *       memory (errno captured) and from a {@code byte[]} (a critical call that reads the array in place);</li>
 *   <li>{@code startWaitNoop}: {@code xrtRunStart} + {@code xrtRunWaitFor} of a kernel that does nothing:
 *       the round trip to the emulation's compute-unit thread.</li>
 * </ul>
 * Needs the emulation and its test xclbin, built by {@code mvn -pl backend-fpga-pcie -am package} into
 * {@code backend-fpga-pcie/target/native/}; run from the repository root, or pass
 * {@code -Dshiftformer.xrt.lib=...} and {@code -Dshiftformer.xrt.test.xclbin=...}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 2, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
public class XrtCallBenchmark {
    private static final String NATIVE_DIR = "backend-fpga-pcie/target/native";
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private XrtDevice device;
    private XrtKernel vadd;
    private XrtKernel noop;
    private XrtRun vaddRun;
    private XrtRun noopRun;
    private XrtBuffer buffer;
    private Arena arena;
    private MemorySegment native4k;
    private MemorySegment heap4k;
    private MethodHandle abs;

    @Setup(Level.Trial)
    @SuppressWarnings("restricted") // links abs() for the floor
    public void setUp() {
        Path lib = Path.of(System.getProperty(XrtLibrary.PATH_PROPERTY, NATIVE_DIR + "/libxrt_coreutil.so.2"));
        Path xclbin = Path.of(System.getProperty("shiftformer.xrt.test.xclbin", NATIVE_DIR + "/xrt-test-kernels.xclbin"));
        if (!Files.isRegularFile(lib) || !Files.isRegularFile(xclbin)) {
            throw new IllegalStateException("XrtCallBenchmark needs " + lib.toAbsolutePath() + " and " + xclbin.toAbsolutePath()
                    + ": build them with 'mvn -pl backend-fpga-pcie -am package -DskipTests' (needs g++) and run from the"
                    + " repository root, or pass -D" + XrtLibrary.PATH_PROPERTY + "= and -Dshiftformer.xrt.test.xclbin=");
        }
        System.setProperty(XrtLibrary.PATH_PROPERTY, lib.toAbsolutePath().toString());
        XrtLibrary library = XrtLibrary.load();
        XrtEmulation.of(library).orElseThrow(() -> new IllegalStateException(library + " is not the host emulation"))
                .configure("");
        device = XrtDevice.open(0);
        device.loadXclbin(xclbin);
        vadd = device.openKernel("vadd");
        noop = device.openKernel("noop");
        buffer = device.alloc(4096, vadd.groupId(0));
        vaddRun = vadd.newRun();
        noopRun = noop.newRun();
        arena = Arena.ofConfined();
        native4k = arena.allocate(4096, 64);
        heap4k = MemorySegment.ofArray(new byte[4096]);
        Linker linker = Linker.nativeLinker();
        abs = linker.downcallHandle(linker.defaultLookup().find("abs").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        noopRun.start();
        if (noopRun.waitFor(TIMEOUT) != RunState.COMPLETED) {
            throw new IllegalStateException("noop did not complete");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        noopRun.close();
        vaddRun.close();
        buffer.close();
        noop.close();
        vadd.close();
        device.close();
        arena.close();
    }

    @Benchmark
    public int ffmFloor() throws Throwable {
        return (int) abs.invokeExact(-42);
    }

    @Benchmark
    public RunState runState() {
        return noopRun.state();
    }

    @Benchmark
    public int argGroupId() {
        return vadd.groupId(1);
    }

    @Benchmark
    public XrtRun setArgInt() {
        return vaddRun.arg(3, 1024);
    }

    @Benchmark
    public void boWrite4KiBNative() {
        buffer.write(native4k, 0);
    }

    @Benchmark
    public void boWrite4KiBHeap() {
        buffer.write(heap4k, 0);
    }

    @Benchmark
    public RunState startWaitNoop() {
        noopRun.start();
        return noopRun.waitFor(TIMEOUT);
    }
}
