package org.shiftformer.trainer.eval;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Placeholder accuracy: does a translation keep exactly the placeholders of its source? Software messages
 * are format strings, and a translation that drops, adds or garbles one breaks the program (or prints
 * nonsense) however good its words are: what a localizer checks first ({@code msgfmt -c}).
 *
 * <p><b>Placeholders</b> (found left to right, each character in at most one):
 * <ul>
 * <li>{@code %%}, a literal percent sign (printf would consume a lone {@code %});</li>
 * <li>printf conversions: {@code %s}, {@code %d}, {@code %-10.3f}, {@code %lu}, {@code %zu}, {@code %'d},
 *     {@code %*d}, numbered {@code %1$s}: flags {@code -+#0'}, width, precision, length
 *     {@code hh h ll l L q j z Z t}, conversion {@code diouxXeEfFgGaAcspnCSm}. The space flag is left out on
 *     purpose: {@code "50 % der Dateien"} and {@code "100% of"} are prose, not {@code "% d"} and
 *     {@code "% o"};</li>
 * <li>Python's named conversions {@code %(name)s}, {@code %(count)d};</li>
 * <li>braces: {@code {0}}, {@code {name}}, {@code {0:>10}}, {@code {name!r}}, {@code {}}
 *     ({@code {{} and {@code }}} are escaped braces, not placeholders);</li>
 * <li>shell and Perl variables: {@code $VAR}, {@code ${VAR}}.</li>
 * </ul>
 *
 * <p><b>Same placeholders</b> means the same multiset after numbering: an unnumbered printf conversion
 * takes the next argument number ({@code %s %d} is {@code %1$s %2$d}) and an empty brace field the next
 * index ({@code {} {}} is {@code {0} {1}}), as printf and {@code str.format} do. So a translation may
 * reorder numbered placeholders ({@code %2$s ... %1$s}, {@code {1} ... {0}}) or number unnumbered ones,
 * which is correct; but swapping {@code %s} and {@code %d} changes which argument each prints and is
 * wrong, as is dropping, adding or repeating one. Formatting inside a placeholder counts ({@code %5d} is
 * not {@code %d}).
 */
public final class Placeholders {
    private static final String PRINTF_TAIL = "[-+#0']*(?:\\d+|\\*(?:\\d+\\$)?)?(?:\\.(?:\\d+|\\*(?:\\d+\\$)?)?)?"
        + "(?:hh|h|ll|l|L|q|j|z|Z|t)?[diouxXeEfFgGaAcspnCSm]";
    private static final Pattern PLACEHOLDER = Pattern.compile(
        "(?<percent>%%)"
            + "|(?<named>%\\([A-Za-z_][A-Za-z0-9_]*\\)[-+#0]*(?:\\d+|\\*)?(?:\\.\\d+)?[diouxXeEfFgGcrsa])"
            + "|%(?:(?<number>[1-9][0-9]*)\\$)?(?<printf>" + PRINTF_TAIL + ")"
            + "|(?<escaped>\\{\\{|\\}\\})"
            + "|\\{(?<field>[0-9]+|[A-Za-z_][A-Za-z0-9_]*(?:\\.[A-Za-z_][A-Za-z0-9_]*|\\[[^\\]{}]*\\])*)?"
            + "(?<spec>(?:![rsa])?(?::[^{}]*)?)\\}"
            + "|(?<shell>\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}|\\$[A-Za-z_][A-Za-z0-9_]*)");

    private Placeholders() {
    }

    /**
     * Placeholder accuracy over a set of pairs.
     *
     * @param segments  hypotheses scored
     * @param inSources how many of their sources have at least one placeholder (the others score by not
     *                  inventing one)
     * @param accuracy  percentage of hypotheses with exactly their source's placeholders, in [0, 100]; 0 when
     *                  there are no segments
     */
    public record Score(int segments, int inSources, double accuracy) {
        /**
         * Whether the score says anything: some source has a placeholder or some hypothesis invented one. On
         * data without placeholders (number words) it is a trivial 100% and reports leave it out.
         */
        public boolean informative() {
            return inSources > 0 || accuracy < 100.0;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "placeholders %.2f%% (%d sources with some)", accuracy, inSources);
        }
    }

    /** The placeholders of {@code text}, numbered (see the class comment) and sorted: a multiset. */
    public static List<String> of(String text) {
        List<String> found = new ArrayList<>();
        Matcher m = PLACEHOLDER.matcher(text);
        int nextArgument = 1;
        int nextField = 0;
        while (m.find()) {
            if (m.group("escaped") != null) {
                continue;
            }
            if (m.group("printf") != null) {
                String n = m.group("number") != null ? m.group("number") : Integer.toString(nextArgument++);
                found.add("%" + n + "$" + m.group("printf"));
            } else if (m.group("spec") != null) {
                String field = m.group("field") != null ? m.group("field") : Integer.toString(nextField++);
                found.add("{" + field + m.group("spec") + "}");
            } else {
                found.add(m.group());
            }
        }
        Collections.sort(found);
        return found;
    }

    /** The placeholders of {@code text} as written, in order (not numbered; the {@code {{ }}} escapes left out). */
    public static List<String> spans(String text) {
        List<String> found = new ArrayList<>();
        Matcher m = PLACEHOLDER.matcher(text);
        while (m.find()) {
            if (m.group("escaped") == null) {
                found.add(m.group());
            }
        }
        return found;
    }

    /** Whether {@code hypothesis} has exactly the placeholders of {@code source}. */
    public static boolean same(String source, String hypothesis) {
        return of(source).equals(of(hypothesis));
    }

    /** The share of {@code hypotheses} with exactly their source's placeholders. */
    public static Score score(List<String> sources, List<String> hypotheses) {
        if (sources.size() != hypotheses.size()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "placeholders: " + sources.size() + " sources but "
                + hypotheses.size() + " hypotheses");
        }
        int same = 0;
        int inSources = 0;
        for (int i = 0; i < sources.size(); i++) {
            List<String> expected = of(sources.get(i));
            if (!expected.isEmpty()) {
                inSources++;
            }
            if (expected.equals(of(hypotheses.get(i)))) {
                same++;
            }
        }
        return new Score(sources.size(), inSources, sources.isEmpty() ? 0.0 : 100.0 * same / sources.size());
    }
}
