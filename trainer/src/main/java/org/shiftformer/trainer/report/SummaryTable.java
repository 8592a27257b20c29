package org.shiftformer.trainer.report;

import java.util.Locale;
import java.util.Objects;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.eval.Metrics;

/**
 * The final plain-text comparison of the float model, the fake-quantized (QAT) model and the int8
 * artifact decoded by runtime-core, on the same test set, with the int8 artifact as a percentage of the
 * float model for each metric:
 * <pre>
 * model                exact %     chrF2      BLEU
 * float                  99.20     99.81     99.40
 * fake-quantized         99.10     99.79     99.31
 * int8 artifact          99.10     99.79     99.31
 * int8 / float           99.9%    100.0%     99.9%
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
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-16s %9s %9s %9s%n", "model", "exact %", "chrF2", "BLEU"));
        row(sb, "float", floatModel);
        row(sb, "fake-quantized", fakeQuantized);
        row(sb, "int8 artifact", int8);
        sb.append(String.format(Locale.ROOT, "%-16s %9s %9s %9s%n", "int8 / float",
            ratio(int8.exactMatch(), floatModel.exactMatch()), ratio(int8.chrf(), floatModel.chrf()),
            ratio(int8.bleu(), floatModel.bleu())));
        sb.append(String.format(Locale.ROOT, "(%d test segments; chrF2 and BLEU are sacreBLEU-default corpus scores)%n",
            floatModel.segments()));
        return sb.toString();
    }

    private static void row(StringBuilder sb, String name, Metrics m) {
        sb.append(String.format(Locale.ROOT, "%-16s %9.2f %9.2f %9.2f%n", name, m.exactMatch(), m.chrf(), m.bleu()));
    }

    /** {@code 100·part/whole} with one decimal and a percent sign, or {@code n/a} when whole is 0. */
    static String ratio(double part, double whole) {
        return whole == 0 ? "n/a" : String.format(Locale.ROOT, "%.1f%%", 100.0 * part / whole);
    }
}
