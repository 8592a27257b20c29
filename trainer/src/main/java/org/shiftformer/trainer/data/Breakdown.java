package org.shiftformer.trainer.data;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * How a data set's scores break down into groups, each scored on its own so that a weak group cannot hide
 * in the mean (the default task's digit counts, {@link NumberTask}). A group is either <b>held out</b>:
 * scored on its test (or validation) pairs, never trained on; or <b>seen</b>: too small to hold any number
 * out, so every one of its pairs is a training pair and all of them are scored ({@link #seen()}), labelled
 * as such.
 *
 * @param dimension what a group is, for table headers ({@code "digits"})
 * @param groups    the group names in report order ({@code "1"}, {@code "2"}, ...)
 * @param groupOf   the group of every test, validation and seen source
 * @param heldOut   the held-out groups; the others are seen
 * @param seen      every pair of the seen groups, once each (all of them are also training pairs)
 */
public record Breakdown(String dimension, List<String> groups, Map<String, String> groupOf, Set<String> heldOut,
                        List<Pair> seen) {
    public Breakdown {
        Objects.requireNonNull(dimension, "dimension");
        groups = List.copyOf(groups);
        groupOf = Map.copyOf(groupOf);
        heldOut = Set.copyOf(heldOut);
        seen = List.copyOf(seen);
        for (Pair p : seen) {
            if (heldOut.contains(group(p, groupOf))) {
                throw new ShiftformerException(ErrorCode.INTERNAL, "seen pair " + p + " is in a held-out group");
            }
        }
    }

    /** The group of {@code p}, which must be a test, validation or seen pair of the data set. */
    public String groupOf(Pair p) {
        return group(p, groupOf);
    }

    private static String group(Pair p, Map<String, String> groupOf) {
        String g = groupOf.get(p.source());
        if (g == null) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "no group for \"" + p.source() + "\"");
        }
        return g;
    }
}
