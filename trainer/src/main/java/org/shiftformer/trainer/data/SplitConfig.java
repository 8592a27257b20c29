package org.shiftformer.trainer.data;

import java.util.Objects;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * How a corpus is split: the number of validation and test pairs, an optional cap on training pairs,
 * the seed of the hash that decides which pair lands where, and what the hash is of: each source text
 * ({@link SplitBy#TEXT}, the default) or each catalog's file name ({@link SplitBy#CATALOG}, whole programs
 * held out; only for data made of catalogs, {@code gettext:}).
 *
 * @param validationSize pairs in the validation split (clipped to what the corpus has after the test split)
 * @param testSize       pairs in the test split (clipped to the corpus size)
 * @param maxTrain       cap on training pairs, or {@code 0} for all remaining pairs; for the generated
 *                       default task it is the exact training size
 * @param seed           seed of the split hash (and of the default task's sampling)
 * @param splitBy        what is held out: source texts or whole catalogs
 */
public record SplitConfig(int validationSize, int testSize, int maxTrain, long seed, SplitBy splitBy) {
    /** Default validation size: enough for a stable exact-match figure during training. */
    public static final int DEFAULT_VALIDATION = 1_000;
    /** Default test size: PERF.md asks for at least 5,000 unseen numbers on the default task. */
    public static final int DEFAULT_TEST = 5_000;
    /** Default seed. */
    public static final long DEFAULT_SEED = 20_260_101L;

    public SplitConfig {
        if (validationSize < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "validation size must be >= 0, got " + validationSize);
        }
        if (testSize < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "test size must be >= 0, got " + testSize);
        }
        if (maxTrain < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "max train size must be >= 0 (0 = all), got " + maxTrain);
        }
        Objects.requireNonNull(splitBy, "splitBy");
    }

    /** A split by source text. */
    public SplitConfig(int validationSize, int testSize, int maxTrain, long seed) {
        this(validationSize, testSize, maxTrain, seed, SplitBy.TEXT);
    }

    /** Refuses a split by catalog for {@code data}, which has no catalogs. */
    void requireTextSplit(String data) {
        if (splitBy == SplitBy.CATALOG) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "split by catalog needs data made of catalogs "
                + "(gettext:PATH with one or more .mo/.po files); " + data + " has none: split it by text");
        }
    }

    /** The defaults: 1,000 validation, 5,000 test, all remaining pairs for training. */
    public static SplitConfig defaults() {
        return new SplitConfig(DEFAULT_VALIDATION, DEFAULT_TEST, 0, DEFAULT_SEED);
    }
}
