package org.shiftformer.testcontainers;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;

/**
 * A random-weight artifact written to a file (what the container serves) and the same file loaded in this
 * JVM on backend-sim: the expected tokens of every request come from local decoding of the same bytes.
 */
final class TestModel implements AutoCloseable {
    final Path file;
    final Artifact artifact;
    private final Backend backend;
    private final LoadedModel local;

    private TestModel(Path file) {
        this.file = file;
        this.artifact = ArtifactReader.read(file);
        this.backend = Backends.select("sim").open(Map.of());
        this.local = backend.load(artifact.model());
    }

    /** Writes a random model of {@code preset} (vocabulary 1000) to {@code dir} and loads it locally. */
    static TestModel random(Path dir, String preset, long seed) {
        ModelConfig cfg = RandomModels.preset(preset, 1000);
        Path f = dir.resolve("shiftformer-" + preset + "-" + seed + ".itm");
        RandomArtifacts.write(cfg, seed, f, "testcontainers " + preset);
        return new TestModel(f);
    }

    /** A second load of the same artifact on the same backend (e.g. for an in-process server). */
    LoadedModel loadAgain() {
        return backend.load(artifact.model());
    }

    org.shiftformer.api.backend.BackendIdentity identity() {
        return backend.identity();
    }

    ModelConfig config() {
        return local.config();
    }

    /** {@code n} random sources of {@code minLen..maxLen} ids (no EOS: the server appends it), ids 3..vocab-1. */
    List<int[]> sources(int n, int minLen, int maxLen, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(rnd.ints(rnd.nextInt(minLen, maxLen + 1), 3, config().vocabSize()).toArray());
        }
        return out;
    }

    /** Greedy local decoding of every source (without its EOS), in batches: the tokens the server must stream. */
    List<int[]> expected(List<int[]> sources, int maxNewTokens) {
        List<int[]> out = new ArrayList<>(sources.size());
        int eos = config().eosId();
        for (int from = 0; from < sources.size(); from += 64) {
            List<int[]> batch = new ArrayList<>();
            for (int[] s : sources.subList(from, Math.min(sources.size(), from + 64))) {
                int[] withEos = Arrays.copyOf(s, s.length + 1);
                withEos[s.length] = eos;
                batch.add(withEos);
            }
            for (DecodeResult r : Decoding.decode(local, batch, DecodeParams.greedy(maxNewTokens), TokenListener.NONE)) {
                out.add(r.tokens());
            }
        }
        return out;
    }

    @Override
    public void close() {
        local.close();
        backend.close();
    }
}
