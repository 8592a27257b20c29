package org.shiftformer.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.spec.IntOps;

/**
 * The greedy-decoding workload of {@link DecodeBenchmark} and {@link FpgaDecodeBenchmark}, which differ only
 * in the backends they open ({@link #openBackend()}) and in their JMH run lengths: the {@code small} preset
 * (vocabulary 1000, seed 1); one invocation encodes a batch of {@link #LENGTH}-token random sources and
 * decodes exactly {@link #LENGTH} tokens per sequence with a KV cache (an EOS is replaced so every step
 * runs). The {@code tokens} secondary result is decoded tokens per second.
 */
@State(Scope.Thread)
public abstract class GreedyDecodeBenchmark {
    static final int LENGTH = 24;

    @Param({"1", "16"})
    public int batch;

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

    /** Opens the backend this trial measures (named by the subclass's {@code backend} parameter). */
    protected abstract Backend openBackend();

    @Setup(Level.Trial)
    public void setUp() {
        ModelConfig cfg = RandomModels.preset("small", 1000);
        opened = openBackend();
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
