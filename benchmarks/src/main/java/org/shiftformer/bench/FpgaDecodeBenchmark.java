package org.shiftformer.bench;

import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Warmup;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;

/**
 * Greedy decoding on the {@code fpga} backend running against the host-emulation XRT library (the HLS
 * kernel source compiled for the CPU, one kernel run per decoder step, with the host-device syncs the
 * card would do), side by side with backend-sim on one thread, in the same JMH run: same model
 * ({@code small} preset, vocabulary 1000) and workload as {@link DecodeBenchmark} (both are a
 * {@link GreedyDecodeBenchmark}: 24-token sources, 24 decoded tokens per sequence). The {@code tokens}
 * secondary result is decoded tokens per second.
 *
 * <p>What it measures for {@code fpga}: the emulated kernel's CPU time (plain C++, no SIMD intrinsics:
 * it is written for HLS, not for a CPU) plus the Java side's cost per step (FFM calls, syncs, slot
 * bookkeeping). It says nothing about a real card's speed. Needs the emulation library and xclbin:
 * pass {@code -jvmArgsAppend "-Dshiftformer.xrt.lib=... -Dshiftformer.fpga.xclbin=..."} (benchmarks/README.md).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 3)
public class FpgaDecodeBenchmark extends GreedyDecodeBenchmark {
    @Param({"fpga-emu", "sim-1t"})
    public String backend;

    @Override
    protected Backend openBackend() {
        return switch (backend) {
            case "fpga-emu" -> Backends.select("fpga").open(Map.of("kv-slots", "16", "source-slots", "16"));
            case "sim-1t" -> Backends.select("sim").open(Map.of("threads", "1"));
            default -> throw new IllegalArgumentException("backend " + backend + ": fpga-emu or sim-1t");
        };
    }
}
