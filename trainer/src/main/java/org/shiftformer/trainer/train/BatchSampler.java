package org.shiftformer.trainer.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.trainer.model.Batch;

/**
 * The training data order: epochs of length-bucketed batches, a pure function of {@code (seed, epoch)}.
 *
 * <p>Epoch {@code e}: the pairs are shuffled with a generator seeded from {@code (seed, e)}; each window of
 * {@value #WINDOW} batches' worth of pairs is sorted by (source length, target length) (stable), so a batch
 * holds pairs of similar length and little padding; the window is cut into batches of
 * {@code batchSentences} and the batches of the whole epoch are shuffled again. The position in the data
 * is {@code (epoch, cursor)}, which is all a checkpoint stores to continue the same order.
 */
public final class BatchSampler {

    /** Batches per sorting window. */
    static final int WINDOW = 50;

    private final List<int[]> sources;
    private final List<int[]> targets;
    private final int batchSentences;
    private final long seed;
    private final ModelConfig cfg;
    private long epoch;
    private int cursor;
    private int[][] order;

    /**
     * @param sources encoder inputs (ids + EOS)
     * @param targets target ids (without BOS/EOS)
     */
    public BatchSampler(List<int[]> sources, List<int[]> targets, int batchSentences, long seed, ModelConfig cfg) {
        if (sources.isEmpty() || sources.size() != targets.size()) {
            throw new IllegalArgumentException("need a non-empty training set with as many sources as targets: "
                    + sources.size() + " sources, " + targets.size() + " targets");
        }
        this.sources = List.copyOf(sources);
        this.targets = List.copyOf(targets);
        this.batchSentences = batchSentences;
        this.seed = seed;
        this.cfg = cfg;
    }

    /** The next batch (starting the next epoch when this one is used up). */
    public Batch next() {
        if (order == null || cursor >= order.length) {
            if (order != null) {
                epoch++;
                cursor = 0;
            }
            order = epochOrder(epoch);
        }
        int[] idx = order[cursor++];
        List<int[]> s = new ArrayList<>(idx.length);
        List<int[]> t = new ArrayList<>(idx.length);
        for (int i : idx) {
            s.add(sources.get(i));
            t.add(targets.get(i));
        }
        return Batch.of(s, t, cfg);
    }

    /** The current epoch. */
    public long epoch() {
        return epoch;
    }

    /** Batches of the current epoch already taken. */
    public int cursor() {
        return cursor;
    }

    /** Continues at batch {@code cursor} of epoch {@code epoch}. */
    public void seek(long e, int c) {
        int[][] o = epochOrder(e);
        if (e < 0 || c < 0 || c > o.length) {
            throw new IllegalArgumentException("data position (epoch " + e + ", batch " + c + ") is outside the "
                    + o.length + " batches of an epoch");
        }
        epoch = e;
        cursor = c;
        order = o;
    }

    /** Batches per epoch. */
    public int batchesPerEpoch() {
        return (sources.size() + batchSentences - 1) / batchSentences;
    }

    private int[][] epochOrder(long e) {
        int n = sources.size();
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + e);
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        shuffle(idx, rnd);
        Comparator<Integer> byLength = Comparator.<Integer>comparingInt(i -> sources.get(i).length)
                .thenComparingInt(i -> targets.get(i).length);
        int window = batchSentences * WINDOW;
        for (int w = 0; w < n; w += window) {
            Arrays.sort(idx, w, Math.min(n, w + window), byLength);
        }
        int[][] batches = new int[batchesPerEpoch()][];
        for (int b = 0; b < batches.length; b++) {
            int from = b * batchSentences;
            int to = Math.min(n, from + batchSentences);
            batches[b] = new int[to - from];
            for (int i = from; i < to; i++) {
                batches[b][i - from] = idx[i];
            }
        }
        shuffle(batches, rnd);
        return batches;
    }

    private static <T> void shuffle(T[] a, SplittableRandom rnd) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            T x = a[i];
            a[i] = a[j];
            a[j] = x;
        }
    }
}
