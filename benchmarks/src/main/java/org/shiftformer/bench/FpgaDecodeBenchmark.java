package org.shiftformer.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.spec.IntOps;

/**
 * Greedy decoding on the {@code fpga} backend running against the host-emulation XRT library (the HLS
 * kernel source compiled for the CPU, one kernel run per decoder step, with the host-device syncs the
 * card would do), side by side with backend-sim on one thread, in the same JMH run: same model
 * ({@code small} preset, vocabulary 1000) and workload as {@link DecodeBenchmark} (24-token sources, 24
 * decoded tokens per sequence). The {@code tokens} secondary result is decoded tokens per second.
 *
 * <p>What it measures for {@code fpga}: the emulated kernel's CPU time (scalar C++, no SIMD intrinsics:
 * it is written for HLS, not for a CPU) plus the Java side's cost per step (FFM calls, syncs, slot
 * bookkeeping). It says nothing about a real card's speed. Needs the emulation library and xclbin:
 * pass {@code -jvmArgsAppend "-Dshiftformer.xrt.lib=... -Dshiftformer.fpga.xclbin=..."} (benchmarks/README.md).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 3)
@State(Scope.Thread)
public class FpgaDecodeBenchmark {
    static final int LENGTH = 24;

    @Param({"1", "16"})
    public int batch;

    @Param({"fpga-emu", "sim-1t"})
    public String backend;

    private Backend opened;
    private LoadedModel model;
    private List<int[]> sources;
    private int[] tokens;
    private int[] logits;

    /** Decoded tokens, reported per second. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Tokens {
        public long tokens;
    }

    @Setup(Level.Trial)
    public void setUp() {
        ModelConfig cfg = RandomModels.preset("small", 1000);
        opened = switch (backend) {
            case "fpga-emu" -> Backends.select("fpga").open(Map.of("kv-slots", "16", "source-slots", "16"));
            case "sim-1t" -> Backends.select("sim").open(Map.of("threads", "1"));
            default -> throw new IllegalArgumentException("backend " + backend + ": fpga-emu or sim-1t");
        };
        model = opened.load(RandomModels.generate(cfg, 1));
        SplittableRandom rnd = new SplittableRandom(2);
        sources = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] src = new int[LENGTH];
            for (int i = 0; i < LENGTH; i++) {
                src[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            src[LENGTH - 1] = cfg.eosId();
            sources.add(src);
        }
        tokens = new int[batch];
        logits = new int[batch * cfg.vocabSize()];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        model.close();
        opened.close();
    }

    @Benchmark
    public int greedy24(Tokens counter) {
        ModelConfig cfg = model.config();
        int v = cfg.vocabSize();
        EncodeResult enc = model.encode(sources, null);
        List<DecoderState> states = new ArrayList<>(batch);
        for (EncodedSource src : enc.sources()) {
            states.add(model.newDecoder(src, LENGTH));
        }
        Arrays.fill(tokens, cfg.bosId());
        int checksum = 0;
        for (int step = 0; step < LENGTH; step++) {
            model.decodeStep(states, tokens, logits, null);
            for (int s = 0; s < batch; s++) {
                int t = IntOps.argmax(logits, s * v, v, cfg.padId(), cfg.bosId());
                tokens[s] = t == cfg.eosId() ? 3 : t;
                checksum += t;
            }
        }
        for (DecoderState st : states) {
            st.close();
        }
        for (EncodedSource src : enc.sources()) {
            src.close();
        }
        counter.tokens += (long) batch * LENGTH;
        return checksum;
    }
}
