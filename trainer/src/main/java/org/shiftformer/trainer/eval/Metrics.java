package org.shiftformer.trainer.eval;

import java.util.List;
import java.util.Locale;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The numbers every evaluation reports: exact match, chrF2 and BLEU (both sacreBLEU defaults), and, when
 * the sources are known, placeholder accuracy ({@link Placeholders}).
 *
 * @param segments     number of scored segments
 * @param exactMatch   percentage of hypotheses equal to their reference after trimming, in [0, 100]
 * @param chrf         corpus chrF2 in [0, 100]
 * @param bleu         corpus BLEU in [0, 100]
 * @param placeholders the share of hypotheses with exactly their source's placeholders, or {@code null} when
 *                     not measured (validation during training, curves read back)
 */
public record Metrics(int segments, double exactMatch, double chrf, double bleu, Placeholders.Score placeholders) {
    /** Without placeholder accuracy. */
    public Metrics(int segments, double exactMatch, double chrf, double bleu) {
        this(segments, exactMatch, chrf, bleu, null);
    }

    /**
     * The sacreBLEU release whose metric definitions {@link Bleu} and {@link Chrf} follow; signatures say
     * {@code version:2.4.2-compat} because the numbers come from this code, not from sacreBLEU itself.
     */
    public static final String SACREBLEU_VERSION = "2.4.2-compat";

    /** Scores {@code hypotheses} against {@code references} (same length) with the default metrics. */
    public static Metrics evaluate(List<String> hypotheses, List<String> references) {
        if (hypotheses.size() != references.size()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "evaluation: " + hypotheses.size()
                + " hypotheses but " + references.size() + " references");
        }
        return new Metrics(hypotheses.size(), exactMatch(hypotheses, references),
            Chrf.DEFAULT.corpusScore(hypotheses, references).score(),
            Bleu.DEFAULT.corpusScore(hypotheses, references).score());
    }

    /** {@link #evaluate(List, List)} and the placeholder accuracy of {@code hypotheses} against their {@code sources}. */
    public static Metrics evaluate(List<String> sources, List<String> hypotheses, List<String> references) {
        Metrics m = evaluate(hypotheses, references);
        return new Metrics(m.segments, m.exactMatch, m.chrf, m.bleu, Placeholders.score(sources, hypotheses));
    }

    /**
     * Percentage of hypotheses equal to their reference, comparing the texts with leading and trailing
     * whitespace removed and inner whitespace runs collapsed (a detokenizer's spacing is not an error).
     * An empty list scores 0.
     */
    public static double exactMatch(List<String> hypotheses, List<String> references) {
        if (hypotheses.size() != references.size()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "exact match: " + hypotheses.size()
                + " hypotheses but " + references.size() + " references");
        }
        if (hypotheses.isEmpty()) {
            return 0.0;
        }
        int same = 0;
        for (int i = 0; i < hypotheses.size(); i++) {
            if (normalize(hypotheses.get(i)).equals(normalize(references.get(i)))) {
                same++;
            }
        }
        return 100.0 * same / hypotheses.size();
    }

    private static String normalize(String s) {
        return String.join(" ", PyText.split(s));
    }

    /**
     * {@code exact 99.20%  chrF2 99.81  BLEU 99.40  (5000 segments)}, with placeholder accuracy when measured
     * and {@linkplain Placeholders.Score#informative() informative}:
     * {@code exact 31.40%  chrF2 60.12  BLEU 40.00  placeholders 97.50% (70 sources with some)  (200 segments)}.
     */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "exact %.2f%%  chrF2 %.2f  BLEU %.2f  %s(%d segments)", exactMatch, chrf, bleu,
            placeholders == null || !placeholders.informative() ? "" : placeholders + "  ", segments);
    }
}
