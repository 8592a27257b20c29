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
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.spec.IntOps;

/**
 * Greedy decoding with a KV cache on the {@code small} preset (d_model 256, 4 heads, d_ff 1024, 3+3
 * layers, vocabulary 1000: the shape of the PyTorch peer in PERF.md): one invocation encodes a batch of
 * 24-token sources and decodes exactly 24 tokens per sequence (an EOS is replaced so every step runs).
 * The {@code tokens} secondary result is decoded tokens per second. {@code backend} is {@code sim-1t}
 * or {@code sim-2t} (the sim backend with setting {@code threads} = 1 or 2; any {@code sim-<n>t} works
 * with {@code -p}) or {@code reference} (the scalar reference backend, single-threaded, run once per
 * batch in the same JMH run as the baseline).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@State(Scope.Thread)
public class DecodeBenchmark {
    static final int LENGTH = 24;

    @Param({"1", "16"})
    public int batch;

    @Param({"sim-1t", "sim-2t", "reference"})
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
        Map<String, String> settings = Map.of();
        String name = backend;
        if (backend.startsWith("sim-") && backend.endsWith("t")) {
            name = "sim";
            settings = Map.of("threads", backend.substring(4, backend.length() - 1));
        }
        BackendProvider provider = Backends.select(name);
        opened = provider.open(settings);
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
