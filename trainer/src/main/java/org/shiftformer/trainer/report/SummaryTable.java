package org.shiftformer.trainer.report;

import java.util.Locale;
import java.util.Objects;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.eval.Metrics;
import org.shiftformer.trainer.eval.Placeholders;

/**
 * The final plain-text comparison of the float model, the fake-quantized (QAT) model and the int8
 * artifact decoded by runtime-core, on the same test set, with the int8 artifact as a percentage of the
 * float model for each metric, and a placeholder accuracy column when all three rows have one
 * ({@link Metrics#placeholders()}) and one of them is {@linkplain Placeholders.Score#informative() informative}
 * (not on number words, say):
 * <pre>
 * model                exact %     chrF2      BLEU  placeh. %
 * float                  31.20     60.81     40.40      97.50
 * fake-quantized         31.10     60.79     40.31      97.50
 * int8 artifact          31.10     60.79     40.31      97.00
 * int8 / float           99.7%    100.0%     99.8%      99.5%
 * </pre>
 */
public final class SummaryTable {
    private SummaryTable() {
    }

    /** The table; the three rows must have the same number of segments (the same test set). */
    public static String format(Metrics floatModel, Metrics fakeQuantized, Metrics int8) {
        Objects.requireNonNull(floatModel, "floatModel");
        Objects.requireNonNull(fakeQuantized, "fakeQuantized");
        Objects.requireNonNull(int8, "int8");
        if (floatModel.segments() != fakeQuantized.segments() || floatModel.segments() != int8.segments()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                "summary: rows scored on different test sets (" + floatModel.segments() + ", " + fakeQuantized.segments()
                    + ", " + int8.segments() + " segments)");
        }
        boolean placeholders = floatModel.placeholders() != null && fakeQuantized.placeholders() != null
            && int8.placeholders() != null && (floatModel.placeholders().informative()
            || fakeQuantized.placeholders().informative() || int8.placeholders().informative());
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-16s %9s %9s %9s", "model", "exact %", "chrF2", "BLEU"));
        sb.append(placeholders ? String.format(Locale.ROOT, " %10s%n", "placeh. %") : System.lineSeparator());
        row(sb, "float", floatModel, placeholders);
        row(sb, "fake-quantized", fakeQuantized, placeholders);
        row(sb, "int8 artifact", int8, placeholders);
        sb.append(String.format(Locale.ROOT, "%-16s %9s %9s %9s", "int8 / float",
            ratio(int8.exactMatch(), floatModel.exactMatch()), ratio(int8.chrf(), floatModel.chrf()),
            ratio(int8.bleu(), floatModel.bleu())));
        sb.append(placeholders ? String.format(Locale.ROOT, " %10s%n", ratio(int8.placeholders().accuracy(),
            floatModel.placeholders().accuracy())) : System.lineSeparator());
        sb.append(String.format(Locale.ROOT, "(%d test segments; chrF2 and BLEU are sacreBLEU-default corpus scores%s)%n",
            floatModel.segments(), placeholders ? "; placeh.: hypotheses with exactly their source's placeholders, "
                + floatModel.placeholders().inSources() + " sources have some" : ""));
        return sb.toString();
    }

    private static void row(StringBuilder sb, String name, Metrics m, boolean placeholders) {
        sb.append(String.format(Locale.ROOT, "%-16s %9.2f %9.2f %9.2f", name, m.exactMatch(), m.chrf(), m.bleu()));
        sb.append(placeholders ? String.format(Locale.ROOT, " %10.2f%n", m.placeholders().accuracy()) : System.lineSeparator());
    }

    /** {@code 100·part/whole} with one decimal and a percent sign, or {@code n/a} when whole is 0. */
    static String ratio(double part, double whole) {
        return whole == 0 ? "n/a" : String.format(Locale.ROOT, "%.1f%%", 100.0 * part / whole);
    }
}
