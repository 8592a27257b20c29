package org.shiftformer.trainer.data;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

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
 * That is the split by text; {@link #splitByCatalog} holds out whole catalogs instead.
 */
public final class Corpus {
    private Corpus() {
    }

    /** Splits {@code pairs} (see the class comment); {@code name} labels the result. */
    public static Dataset split(String name, List<Pair> pairs, SplitConfig config) {
        config.requireTextSplit(name);
        Map<String, Pair> unique = new LinkedHashMap<>();
        for (Pair p : pairs) {
            unique.putIfAbsent(p.source(), p);
        }
        List<Pair> all = byHash(config.seed(), unique.values(), Pair::source);
        int n = all.size();
        int test = Math.min(config.testSize(), n);
        int validation = Math.min(config.validationSize(), n - test);
        int trainEnd = config.maxTrain() == 0 ? n : Math.min(n, test + validation + config.maxTrain());
        return new Dataset(name, all.subList(test + validation, Math.max(test + validation, trainEnd)),
            all.subList(test, test + validation), all.subList(0, test));
    }

    /**
     * Splits whole catalogs ({@link SplitBy#CATALOG}): the honest test of a translation model is a program it
     * has never seen. Catalogs are ordered by {@link #hash(long, String) hash(seed, file name)} (ties by
     * name); the first ones go to test until the test pairs number at least {@code testSize} (none when it
     * is 0), the next to validation likewise, the rest to training. A source that occurs in several
     * catalogs belongs to one split only, so nothing leaks: if any of its catalogs is a training catalog it
     * is a training pair and is <b>removed from the held-out side</b> (training keeps all its data, and a
     * held-out score is on messages the model never saw); otherwise it is a test pair if a test catalog has
     * it, else a validation pair. The held-out sizes count only the pairs that stay, so they are at least
     * the requested ones unless that would take every catalog, which is an error, as is data without a
     * catalog. A source keeps the translation of its first catalog in name order within its split; each
     * split is in source-hash order like {@link #split}, and {@code maxTrain} caps training. The result has a
     * {@link Breakdown} by catalog: every test and validation pair's catalog, all held out, so that reports
     * score each held-out program and name the worst.
     */
    public static Dataset splitByCatalog(String name, List<Catalog> catalogs, SplitConfig config) {
        if (catalogs.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, name + ": split by catalog needs at least one catalog");
        }
        List<Catalog> ordered = byHash(config.seed(), catalogs, Catalog::name);
        Map<String, List<Integer>> where = new HashMap<>(); // source -> indices into ordered, each once
        for (int i = 0; i < ordered.size(); i++) {
            for (Pair p : ordered.get(i).pairs()) {
                List<Integer> at = where.computeIfAbsent(p.source(), s -> new ArrayList<>());
                if (at.isEmpty() || at.get(at.size() - 1) != i) {
                    at.add(i);
                }
            }
        }
        int[] role = new int[ordered.size()]; // TRAIN (0), TEST or VALIDATION
        int next = 0;
        for (int r : new int[] {TEST, VALIDATION}) {
            int wanted = r == TEST ? config.testSize() : config.validationSize();
            while (wanted > 0 && heldOut(ordered, where, role, r) < wanted) {
                if (next == ordered.size()) {
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, name + ": split by catalog: "
                        + config.testSize() + " test and " + config.validationSize() + " validation pairs from whole "
                        + "catalogs would leave no training catalog (" + ordered.size() + " catalogs); ask for fewer");
                }
                role[next++] = r;
            }
        }
        List<Map<String, Pair>> splits = List.of(new LinkedHashMap<>(), new LinkedHashMap<>(), new LinkedHashMap<>());
        Map<String, String> catalogOf = new HashMap<>();
        List<Integer> byName = new ArrayList<>();
        for (int i = 0; i < ordered.size(); i++) {
            byName.add(i);
        }
        byName.sort((a, b) -> ordered.get(a).name().compareTo(ordered.get(b).name()));
        for (int i : byName) {
            for (Pair p : ordered.get(i).pairs()) {
                int r = roleOf(where.get(p.source()), role);
                if (r == role[i] && splits.get(r).putIfAbsent(p.source(), p) == null && r != TRAIN) {
                    catalogOf.put(p.source(), ordered.get(i).name());
                }
            }
        }
        List<Pair> train = byHash(config.seed(), splits.get(TRAIN).values(), Pair::source);
        if (config.maxTrain() > 0 && train.size() > config.maxTrain()) {
            train = train.subList(0, config.maxTrain());
        }
        List<String> groups = new ArrayList<>();
        for (int i : byName) {
            if (role[i] != TRAIN) {
                groups.add(ordered.get(i).name());
            }
        }
        Breakdown breakdown = new Breakdown("catalog", groups, catalogOf, Set.copyOf(groups), List.of());
        return new Dataset(name, train, byHash(config.seed(), splits.get(VALIDATION).values(), Pair::source),
            byHash(config.seed(), splits.get(TEST).values(), Pair::source), breakdown);
    }

    private static final int TRAIN = 0;
    private static final int TEST = 1;
    private static final int VALIDATION = 2;

    /** The split of a source found in catalogs {@code at}: training if any is, else test if any is, else validation. */
    private static int roleOf(List<Integer> at, int[] role) {
        boolean test = false;
        for (int i : at) {
            if (role[i] == TRAIN) {
                return TRAIN;
            }
            test |= role[i] == TEST;
        }
        return test ? TEST : VALIDATION;
    }

    /** The number of sources the catalogs assigned {@code r} so far would hold out, with the others training. */
    private static int heldOut(List<Catalog> ordered, Map<String, List<Integer>> where, int[] role, int r) {
        Set<String> counted = new HashSet<>();
        for (int i = 0; i < ordered.size(); i++) {
            if (role[i] == r) {
                for (Pair p : ordered.get(i).pairs()) {
                    if (roleOf(where.get(p.source()), role) == r) {
                        counted.add(p.source());
                    }
                }
            }
        }
        return counted.size();
    }

    /** {@code items} ordered by the split hash of their key (ties, which need a 64-bit collision, by key). */
    private static <T> List<T> byHash(long seed, Collection<T> items, Function<T, String> key) {
        List<T> all = new ArrayList<>(items);
        long[] keys = new long[all.size()];
        Integer[] order = new Integer[all.size()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = hash(seed, key.apply(all.get(i)));
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int c = Long.compareUnsigned(keys[a], keys[b]);
            return c != 0 ? c : key.apply(all.get(a)).compareTo(key.apply(all.get(b)));
        });
        List<T> out = new ArrayList<>(keys.length);
        for (Integer i : order) {
            out.add(all.get(i));
        }
        return out;
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
