package org.shiftformer.trainer.data;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A corpus split into training, validation and test pairs. The three lists are immutable and
 * <b>disjoint by source text</b>: no source string occurs in two splits (checked on construction), and no
 * source occurs twice within validation or test, so a test score never rewards memorised training sources.
 * The training list may repeat a pair (the default task samples small numbers many times,
 * {@link NumberTask}), but never a source with two different targets.
 *
 * @param name        where the pairs came from (the data spec), for reports
 * @param train       training pairs
 * @param validation  pairs evaluated during training
 * @param test        pairs held out for the final evaluation
 * @param breakdown   how scores break down into groups (the default task's digit counts), or {@code null}
 */
public record Dataset(String name, List<Pair> train, List<Pair> validation, List<Pair> test, Breakdown breakdown) {
    public Dataset {
        Objects.requireNonNull(name, "name");
        train = List.copyOf(train);
        validation = List.copyOf(validation);
        test = List.copyOf(test);
        Map<String, String> seen = new HashMap<>();
        Map<String, String> trainTargets = new HashMap<>();
        for (Pair p : train) {
            String before = trainTargets.putIfAbsent(p.source(), p.target());
            if (before != null && !before.equals(p.target())) {
                throw new ShiftformerException(ErrorCode.INTERNAL, "source \"" + p.source() + "\" occurs in train "
                    + "with two targets");
            }
            seen.put(p.source(), "train");
        }
        check(seen, validation, "validation");
        check(seen, test, "test");
        if (breakdown != null) {
            for (Pair p : breakdown.seen()) {
                if (!p.target().equals(trainTargets.get(p.source()))) {
                    throw new ShiftformerException(ErrorCode.INTERNAL, "seen pair " + p + " is not a training pair");
                }
            }
        }
    }

    /** A data set without a breakdown (the scores are one group). */
    public Dataset(String name, List<Pair> train, List<Pair> validation, List<Pair> test) {
        this(name, train, validation, test, null);
    }

    private static void check(Map<String, String> seen, List<Pair> pairs, String split) {
        for (Pair p : pairs) {
            String before = seen.putIfAbsent(p.source(), split);
            if (before != null) {
                throw new ShiftformerException(ErrorCode.INTERNAL, "source \"" + p.source() + "\" occurs in "
                    + before + (before.equals(split) ? " twice" : " and in " + split));
            }
        }
    }

    /** Total number of pairs over the three splits. */
    public int size() {
        return train.size() + validation.size() + test.size();
    }

    @Override
    public String toString() {
        return name + " (train " + train.size() + ", validation " + validation.size() + ", test " + test.size() + ")";
    }
}
