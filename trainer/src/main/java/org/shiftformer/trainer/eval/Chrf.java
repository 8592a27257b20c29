package org.shiftformer.trainer.eval;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Corpus chrF computed exactly as sacreBLEU 2.x does; {@link #DEFAULT} is sacreBLEU's default chrF2
 * ({@code nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no}).
 *
 * <p>Per segment and order {@code n = 1..charOrder}: remove all whitespace (unless {@code whitespace}),
 * count character n-grams (code points) of hypothesis and reference; the statistics are
 * {@code [hyp, ref, match]} with {@code match = Σ min(hypCount, refCount)}, and {@code hyp} is 0 when the
 * reference has no n-gram of that order. With several references the segment takes the statistics of
 * the reference with the best segment F-score. Sums over the corpus give the final score: with the
 * default (effective order) smoothing, precision and recall are averaged over the orders where both
 * hyp and ref counts are positive and {@code F_β = (1+β²)·P·R / (β²·P + R)}; with {@code epsSmoothing}
 * (chrF++.py, Moses, NLTK) every order contributes its own F-score, with 1e-16 for a missing side, and the
 * F-scores are averaged. Scores are in [0, 100].
 *
 * @param charOrder    maximum character n-gram order (6)
 * @param beta         recall weight (2)
 * @param lowercase    lowercase first
 * @param whitespace   keep whitespace in the n-grams
 * @param epsSmoothing chrF++.py-style smoothing instead of effective order
 */
public record Chrf(int charOrder, int beta, boolean lowercase, boolean whitespace, boolean epsSmoothing) {
    /** sacreBLEU's default chrF2. */
    public static final Chrf DEFAULT = new Chrf(6, 2, false, false, false);

    public Chrf {
        if (charOrder < 1) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "chrF char order must be >= 1, got " + charOrder);
        }
        if (beta < 1) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "chrF beta must be >= 1, got " + beta);
        }
    }

    /**
     * A chrF result.
     *
     * @param score      chrF in [0, 100]
     * @param beta       the beta it was computed with (the 2 of chrF2)
     * @param statistics summed {@code [hyp, ref, match]} per order, flattened (a copy)
     * @param signature  the sacreBLEU-style signature
     */
    public record Score(double score, int beta, long[] statistics, String signature) {
        public Score {
            statistics = statistics.clone();
        }

        @Override
        public long[] statistics() {
            return statistics.clone();
        }

        /** sacreBLEU's form: {@code chrF2 = 64.13}. */
        public String format() {
            return String.format(Locale.ROOT, "chrF%d = %.2f", beta, score);
        }
    }

    /** Scores hypotheses against one reference each. */
    public Score corpusScore(List<String> hypotheses, List<String> references) {
        return corpusScoreMulti(hypotheses, List.of(references));
    }

    /** Scores hypotheses against one or more reference streams (see {@link Bleu#corpusScoreMulti}). */
    public Score corpusScoreMulti(List<String> hypotheses, List<List<String>> referenceStreams) {
        if (referenceStreams.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "chrF needs at least one reference stream");
        }
        for (int r = 0; r < referenceStreams.size(); r++) {
            if (referenceStreams.get(r).size() != hypotheses.size()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "chrF: " + hypotheses.size()
                    + " hypotheses but reference stream " + r + " has " + referenceStreams.get(r).size() + " segments");
            }
        }
        long[] sum = new long[3 * charOrder];
        for (int i = 0; i < hypotheses.size(); i++) {
            List<Map<String, Integer>> hyp = ngrams(hypotheses.get(i));
            long[] best = null;
            double bestF = -1;
            for (List<String> stream : referenceStreams) {
                long[] stats = statistics(hyp, ngrams(stream.get(i)));
                double f = fScore(stats);
                if (f > bestF) {
                    bestF = f;
                    best = stats;
                }
            }
            for (int k = 0; k < sum.length; k++) {
                sum[k] += best[k];
            }
        }
        return new Score(fScore(sum), beta, sum, signature(referenceStreams.size()));
    }

    /** The final F-score in [0, 100] from flattened {@code [hyp, ref, match]} statistics. */
    public double fScore(long[] statistics) {
        double eps = 1e-16;
        double factor = (double) beta * beta;
        double score = 0;
        double avgPrec = 0;
        double avgRec = 0;
        int effective = 0;
        for (int i = 0; i < charOrder; i++) {
            long nHyp = statistics[3 * i];
            long nRef = statistics[3 * i + 1];
            long nMatch = statistics[3 * i + 2];
            double prec = nHyp > 0 ? (double) nMatch / nHyp : eps;
            double rec = nRef > 0 ? (double) nMatch / nRef : eps;
            double denom = factor * prec + rec;
            score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
            if (nHyp > 0 && nRef > 0) {
                avgPrec += prec;
                avgRec += rec;
                effective++;
            }
        }
        if (epsSmoothing) {
            return 100 * score / charOrder;
        }
        if (effective == 0) {
            return 0.0;
        }
        avgPrec /= effective;
        avgRec /= effective;
        if (avgPrec + avgRec == 0) {
            return 0.0;
        }
        return 100 * (1 + factor) * avgPrec * avgRec / (factor * avgPrec + avgRec);
    }

    /** sacreBLEU's signature, e.g. {@code nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.4.2-compat}. */
    public String signature(int nrefs) {
        return "nrefs:" + nrefs + "|case:" + (lowercase ? "lc" : "mixed") + "|eff:" + (epsSmoothing ? "no" : "yes")
            + "|nc:" + charOrder + "|nw:0|space:" + (whitespace ? "yes" : "no") + "|version:" + Metrics.SACREBLEU_VERSION;
    }

    private List<Map<String, Integer>> ngrams(String segment) {
        String s = lowercase ? segment.toLowerCase(Locale.ROOT) : segment;
        int[] cps = whitespace ? s.codePoints().toArray() : PyText.withoutSpaces(s);
        Map<String, Integer>[] out = newMaps(charOrder);
        for (int n = 1; n <= charOrder; n++) {
            Map<String, Integer> m = new HashMap<>();
            for (int i = 0; i + n <= cps.length; i++) {
                m.merge(new String(cps, i, n), 1, Integer::sum);
            }
            out[n - 1] = m;
        }
        return List.of(out);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Integer>[] newMaps(int n) {
        return (Map<String, Integer>[]) new Map[n];
    }

    private static long[] statistics(List<Map<String, Integer>> hyp, List<Map<String, Integer>> ref) {
        long[] stats = new long[3 * hyp.size()];
        for (int n = 0; n < hyp.size(); n++) {
            Map<String, Integer> h = hyp.get(n);
            Map<String, Integer> r = ref.get(n);
            long hypCount = 0;
            long match = 0;
            for (Map.Entry<String, Integer> e : h.entrySet()) {
                hypCount += e.getValue();
                Integer rc = r.get(e.getKey());
                if (rc != null) {
                    match += Math.min(e.getValue(), rc);
                }
            }
            long refCount = 0;
            for (int c : r.values()) {
                refCount += c;
            }
            stats[3 * n] = r.isEmpty() ? 0 : hypCount;
            stats[3 * n + 1] = refCount;
            stats[3 * n + 2] = match;
        }
        return stats;
    }
}
