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
 * source occurs twice within a split, so a test score never rewards memorised training sources.
 *
 * @param name        where the pairs came from (the data spec), for reports
 * @param train       training pairs
 * @param validation  pairs evaluated during training
 * @param test        pairs held out for the final evaluation
 */
public record Dataset(String name, List<Pair> train, List<Pair> validation, List<Pair> test) {
    public Dataset {
        Objects.requireNonNull(name, "name");
        train = List.copyOf(train);
        validation = List.copyOf(validation);
        test = List.copyOf(test);
        Map<String, String> seen = new HashMap<>();
        check(seen, train, "train");
        check(seen, validation, "validation");
        check(seen, test, "test");
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
