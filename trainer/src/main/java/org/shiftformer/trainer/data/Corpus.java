package org.shiftformer.trainer.data;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Deterministic, disjoint train/validation/test splits of a list of pairs.
 *
 * <p>The rule: pairs with the same source text are collapsed to the first one (so a source has exactly
 * one reference); every remaining pair gets the 64-bit key {@link #hash(long, String) hash(seed, source)};
 * pairs are ordered by key (ties, which need a 64-bit collision, by source text). The first
 * {@code testSize} go to test, the next {@code validationSize} to validation and the rest, up to
 * {@code maxTrain}, to training. So a split depends only on the set of sources and the seed, not on the
 * input order, and a source's split does not change when other pairs are added or removed except at the
 * boundaries of the size cut. Because each source appears once, the splits are disjoint by construction.
 */
public final class Corpus {
    private Corpus() {
    }

    /** Splits {@code pairs} (see the class comment); {@code name} labels the result. */
    public static Dataset split(String name, List<Pair> pairs, SplitConfig config) {
        Map<String, Pair> unique = new LinkedHashMap<>();
        for (Pair p : pairs) {
            unique.putIfAbsent(p.source(), p);
        }
        Pair[] all = unique.values().toArray(Pair[]::new);
        long[] keys = new long[all.length];
        Integer[] order = new Integer[all.length];
        for (int i = 0; i < all.length; i++) {
            keys[i] = hash(config.seed(), all[i].source());
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int c = Long.compareUnsigned(keys[a], keys[b]);
            return c != 0 ? c : all[a].source().compareTo(all[b].source());
        });
        int n = all.length;
        int test = Math.min(config.testSize(), n);
        int validation = Math.min(config.validationSize(), n - test);
        int trainEnd = config.maxTrain() == 0 ? n : Math.min(n, test + validation + config.maxTrain());
        List<Pair> testPairs = new ArrayList<>(test);
        List<Pair> validationPairs = new ArrayList<>(validation);
        List<Pair> trainPairs = new ArrayList<>(Math.max(0, trainEnd - test - validation));
        for (int i = 0; i < trainEnd; i++) {
            Pair p = all[order[i]];
            if (i < test) {
                testPairs.add(p);
            } else if (i < test + validation) {
                validationPairs.add(p);
            } else {
                trainPairs.add(p);
            }
        }
        return new Dataset(name, trainPairs, validationPairs, testPairs);
    }

    /**
     * The split key of a source text: FNV-1a over its UTF-8 bytes, started from a seed-derived basis,
     * then the SplitMix64 finaliser so that every output bit depends on every input bit. Stable across
     * JVMs and platforms (unlike {@code String.hashCode} it is also 64 bits wide and seeded).
     */
    public static long hash(long seed, String source) {
        long h = 0xcbf29ce484222325L ^ mix(seed);
        for (byte b : source.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return mix(h);
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
