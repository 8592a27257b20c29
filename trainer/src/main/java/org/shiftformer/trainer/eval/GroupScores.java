package org.shiftformer.trainer.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.ToDoubleFunction;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.data.Breakdown;
import org.shiftformer.trainer.data.Pair;

/**
 * Exact match and placeholder accuracy ({@link Placeholders}) per group of a {@link Breakdown} (the default
 * task's digit counts). The headline is the <b>worst</b> group, not the mean: a model that is perfect on
 * 6-digit numbers and wrong on "zwölf" is wrong where people look first.
 *
 * @param dimension what a group is ({@code "digits"})
 * @param rows      the scored groups in the breakdown's order (groups without a scored pair are left out)
 */
public record GroupScores(String dimension, List<Row> rows) {

    /**
     * One group's score.
     *
     * @param group      the group's name ({@code "3"})
     * @param heldOut    true if its pairs were never trained on, false if they are all training pairs
     * @param segments     pairs scored
     * @param exactMatch   exact match, percent
     * @param placeholders placeholder accuracy against the group's sources
     */
    public record Row(String group, boolean heldOut, int segments, double exactMatch, Placeholders.Score placeholders) {
        public Row {
            Objects.requireNonNull(placeholders, "placeholders");
        }
    }

    public GroupScores {
        Objects.requireNonNull(dimension, "dimension");
        rows = List.copyOf(rows);
        if (rows.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "no group has a scored pair");
        }
    }

    /** Scores {@code hypotheses[i]} against {@code pairs[i]}'s target, grouped by {@code breakdown}. */
    public static GroupScores score(Breakdown breakdown, List<Pair> pairs, List<String> hypotheses) {
        if (pairs.size() != hypotheses.size()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "group scores: " + pairs.size() + " pairs, "
                + hypotheses.size() + " hypotheses");
        }
        Map<String, List<Integer>> byGroup = new LinkedHashMap<>();
        breakdown.groups().forEach(g -> byGroup.put(g, new ArrayList<>()));
        for (int i = 0; i < pairs.size(); i++) {
            byGroup.get(breakdown.groupOf(pairs.get(i))).add(i);
        }
        List<Row> rows = new ArrayList<>();
        for (Map.Entry<String, List<Integer>> e : byGroup.entrySet()) {
            List<Integer> idx = e.getValue();
            if (idx.isEmpty()) {
                continue;
            }
            List<String> hyps = idx.stream().map(hypotheses::get).toList();
            double exact = Metrics.exactMatch(hyps, idx.stream().map(i -> pairs.get(i).target()).toList());
            Placeholders.Score placeholders = Placeholders.score(idx.stream().map(i -> pairs.get(i).source()).toList(), hyps);
            rows.add(new Row(e.getKey(), breakdown.heldOut().contains(e.getKey()), idx.size(), exact, placeholders));
        }
        return new GroupScores(breakdown.dimension(), rows);
    }

    /** The group with the lowest exact match (the first of equals). */
    public Row worst() {
        return worst(Row::exactMatch);
    }

    /** The group with the lowest {@code value} (the first of equals). */
    public Row worst(ToDoubleFunction<Row> value) {
        Row w = rows.get(0);
        for (Row r : rows) {
            if (value.applyAsDouble(r) < value.applyAsDouble(w)) {
                w = r;
            }
        }
        return w;
    }

    /** Whether any group's placeholder accuracy is {@linkplain Placeholders.Score#informative() informative}. */
    public boolean placeholdersInformative() {
        return rows.stream().anyMatch(r -> r.placeholders().informative());
    }

    /** {@code "3 digits 99.80%"}: the worst group, for one-line summaries. */
    public String worstLine() {
        Row w = worst();
        return String.format(Locale.ROOT, "worst %s %s %.2f%% (%d %s)", dimension, w.group(), w.exactMatch(),
            w.segments(), w.heldOut() ? "held out" : "seen");
    }

    /**
     * A table with one column per model (all scored on the same pairs), one row per group and the worst
     * group last; then the same for placeholder accuracy when it is informative for some model (some source
     * has a placeholder, or some hypothesis invented one):
     * <pre>
     * exact match % by digits
     * digits  pairs              float  int8 artifact
     * 1          10 seen        100.00         100.00
     * 3         500 held out     99.80          99.80
     * worst                      99.80          99.80
     * </pre>
     */
    public static String table(List<String> models, List<GroupScores> scores) {
        if (models.size() != scores.size() || models.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "group table: " + models.size() + " models, "
                + scores.size() + " score sets");
        }
        GroupScores first = scores.get(0);
        for (GroupScores s : scores) {
            if (s.rows().size() != first.rows().size()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "group table: models scored on different pairs");
            }
            for (int i = 0; i < s.rows().size(); i++) {
                Row a = first.rows().get(i);
                Row b = s.rows().get(i);
                if (!a.group().equals(b.group()) || a.segments() != b.segments()) {
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "group table: models scored on different pairs");
                }
            }
        }
        StringBuilder sb = new StringBuilder();
        block(sb, "exact match % by " + first.dimension()
            + " (held out: never trained on; seen: every number of the group, all trained on)", models, scores, Row::exactMatch);
        if (scores.stream().anyMatch(GroupScores::placeholdersInformative)) {
            block(sb, "placeholder accuracy % by " + first.dimension() + " (hypotheses with exactly their source's "
                + "placeholders)", models, scores, r -> r.placeholders().accuracy());
        }
        return sb.toString();
    }

    private static void block(StringBuilder sb, String title, List<String> models, List<GroupScores> scores,
                              ToDoubleFunction<Row> value) {
        GroupScores first = scores.get(0);
        sb.append(title).append('\n');
        sb.append(String.format(Locale.ROOT, "%-8s %-15s", first.dimension(), "pairs"));
        models.forEach(m -> sb.append(String.format(Locale.ROOT, " %15s", m)));
        sb.append('\n');
        for (int i = 0; i < first.rows().size(); i++) {
            Row r = first.rows().get(i);
            sb.append(String.format(Locale.ROOT, "%-8s %6d %-8s", r.group(), r.segments(), r.heldOut() ? "held out" : "seen"));
            for (GroupScores s : scores) {
                sb.append(String.format(Locale.ROOT, " %15.2f", value.applyAsDouble(s.rows().get(i))));
            }
            sb.append('\n');
        }
        sb.append(String.format(Locale.ROOT, "%-24s", "worst"));
        for (GroupScores s : scores) {
            Row w = s.worst(value);
            sb.append(String.format(Locale.ROOT, " %15s",
                String.format(Locale.ROOT, "%.2f (%s)", value.applyAsDouble(w), w.group())));
        }
        sb.append('\n');
    }
}
