package org.shiftformer.trainer.eval;

import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Corpus BLEU computed exactly as sacreBLEU 2.x does; {@link #DEFAULT} is sacreBLEU's default
 * ({@code nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp}).
 *
 * <p>Per segment: lowercase if asked, {@code rstrip}, tokenize ({@link Tokenizer13a} or none), split on
 * whitespace; count hypothesis 1..4-grams and clip each by its largest count in any reference; the
 * reference length is the closest one to the hypothesis length (the shorter on a tie). Sums over the
 * corpus give {@code correct[n]}, {@code total[n]}, {@code sysLen}, {@code refLen}. Then
 * {@code BP = exp(1 - refLen/sysLen)} if {@code sysLen < refLen} (0 if {@code sysLen == 0}), else 1;
 * with no match at all the score is 0; otherwise {@code p_n = 100·correct/total}, where a zero count is
 * smoothed: {@code exp} (mteval's NIST smoothing) uses {@code 100 / (2^k · total)} for the k-th zero,
 * {@code floor} uses {@code 100·value/total}, {@code add-k} adds the value to correct and total for
 * n >= 2; a zero total stops the loop. {@code BLEU = BP · exp(mean(log p_n))} over the 4 orders (or, with
 * effective order, over the orders up to the last one with a non-zero total), where {@code log 0} is
 * taken as -9999999999 as in sacreBLEU.
 *
 * @param lowercase      lowercase hypotheses and references first
 * @param tokenize13a    use the 13a tokenizer ({@code false}: none)
 * @param smoothing      the smoothing method
 * @param smoothValue    the value for {@code floor} (default 0.1) and {@code add-k} (default 1); ignored otherwise
 * @param effectiveOrder average only over the orders that exist (sentence-level use)
 */
public record Bleu(boolean lowercase, boolean tokenize13a, Smoothing smoothing, double smoothValue, boolean effectiveOrder) {
    /** The maximum n-gram order. */
    public static final int MAX_ORDER = 4;
    /** sacreBLEU's default BLEU. */
    public static final Bleu DEFAULT = new Bleu(false, true, Smoothing.EXP, Double.NaN, false);

    /** sacreBLEU's smoothing methods (Chen and Cherry 2014). */
    public enum Smoothing {
        NONE("none"), FLOOR("floor"), ADD_K("add-k"), EXP("exp");

        private final String label;

        Smoothing(String label) {
            this.label = label;
        }

        /** The name sacreBLEU uses in its signature. */
        public String label() {
            return label;
        }
    }

    public Bleu {
        Objects.requireNonNull(smoothing, "smoothing");
        if (Double.isNaN(smoothValue)) {
            smoothValue = switch (smoothing) {
                case FLOOR -> 0.1;
                case ADD_K -> 1.0;
                default -> Double.NaN;
            };
        }
    }

    /**
     * A BLEU result with sacreBLEU's sufficient statistics.
     *
     * @param score      BLEU in [0, 100]
     * @param correct    clipped matches per order
     * @param total      hypothesis n-grams per order
     * @param precisions the (smoothed) precisions in percent
     * @param bp         brevity penalty
     * @param sysLen     hypothesis tokens
     * @param refLen     reference tokens (closest reference per segment)
     * @param signature  the sacreBLEU-style signature of the settings
     */
    public record Score(double score, long[] correct, long[] total, double[] precisions, double bp, long sysLen,
                        long refLen, String signature) {
        public Score {
            correct = correct.clone();
            total = total.clone();
            precisions = precisions.clone();
        }

        /** Clipped matches per order (a copy). */
        @Override
        public long[] correct() {
            return correct.clone();
        }

        /** Hypothesis n-grams per order (a copy). */
        @Override
        public long[] total() {
            return total.clone();
        }

        /** The (smoothed) precisions in percent (a copy). */
        @Override
        public double[] precisions() {
            return precisions.clone();
        }

        /** sacreBLEU's one-line form: {@code BLEU = 48.53 82.4/50.0/... (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)}. */
        public String format() {
            StringBuilder p = new StringBuilder();
            for (int i = 0; i < precisions.length; i++) {
                p.append(i == 0 ? "" : "/").append(String.format(Locale.ROOT, "%.1f", precisions[i]));
            }
            double ratio = refLen == 0 ? 0 : (double) sysLen / refLen;
            return String.format(Locale.ROOT, "BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)",
                score, p, bp, ratio, sysLen, refLen);
        }
    }

    /** Scores hypotheses against one reference each. */
    public Score corpusScore(List<String> hypotheses, List<String> references) {
        return corpusScoreMulti(hypotheses, List.of(references));
    }

    /**
     * Scores hypotheses against one or more reference streams: {@code referenceStreams.get(r).get(i)} is
     * reference {@code r} of segment {@code i}, as sacreBLEU's {@code corpus_score(hyps, [refs1, refs2])}.
     */
    public Score corpusScoreMulti(List<String> hypotheses, List<List<String>> referenceStreams) {
        if (referenceStreams.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "BLEU needs at least one reference stream");
        }
        for (int r = 0; r < referenceStreams.size(); r++) {
            if (referenceStreams.get(r).size() != hypotheses.size()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "BLEU: " + hypotheses.size()
                    + " hypotheses but reference stream " + r + " has " + referenceStreams.get(r).size() + " segments");
            }
        }
        long[] correct = new long[MAX_ORDER];
        long[] total = new long[MAX_ORDER];
        long sysLen = 0;
        long refLen = 0;
        for (int i = 0; i < hypotheses.size(); i++) {
            List<String> hyp = tokens(hypotheses.get(i));
            Map<List<String>, Integer> refMax = new HashMap<>();
            int closest = -1;
            int closestDiff = -1;
            for (List<String> stream : referenceStreams) {
                List<String> ref = tokens(stream.get(i));
                int diff = Math.abs(hyp.size() - ref.size());
                if (closestDiff == -1 || diff < closestDiff || (diff == closestDiff && ref.size() < closest)) {
                    closestDiff = diff;
                    closest = ref.size();
                }
                for (Map.Entry<List<String>, Integer> e : ngrams(ref).entrySet()) {
                    refMax.merge(e.getKey(), e.getValue(), Math::max);
                }
            }
            sysLen += hyp.size();
            refLen += closest;
            for (Map.Entry<List<String>, Integer> e : ngrams(hyp).entrySet()) {
                int n = e.getKey().size() - 1;
                total[n] += e.getValue();
                correct[n] += Math.min(e.getValue(), refMax.getOrDefault(e.getKey(), 0));
            }
        }
        return compute(correct, total, sysLen, refLen, referenceStreams.size());
    }

    /** The score from sufficient statistics (sacreBLEU's {@code compute_bleu}); the arrays are not modified. */
    public Score compute(long[] correctIn, long[] totalIn, long sysLen, long refLen, int nrefs) {
        double[] correct = new double[MAX_ORDER];
        double[] total = new double[MAX_ORDER];
        boolean anyMatch = false;
        for (int n = 0; n < MAX_ORDER; n++) {
            correct[n] = correctIn[n];
            total[n] = totalIn[n];
            anyMatch |= correctIn[n] != 0;
        }
        double bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - (double) refLen / sysLen) : 0.0) : 1.0;
        double[] precisions = new double[MAX_ORDER];
        String signature = signature(nrefs);
        if (!anyMatch) {
            return new Score(0.0, correctIn, totalIn, precisions, bp, sysLen, refLen, signature);
        }
        double smoothMteval = 1.0;
        int effOrder = MAX_ORDER;
        for (int n = 1; n <= MAX_ORDER; n++) {
            if (smoothing == Smoothing.ADD_K && n > 1) {
                correct[n - 1] += smoothValue;
                total[n - 1] += smoothValue;
            }
            if (total[n - 1] == 0) {
                break;
            }
            if (effectiveOrder) {
                effOrder = n;
            }
            if (correct[n - 1] == 0) {
                if (smoothing == Smoothing.EXP) {
                    smoothMteval *= 2;
                    precisions[n - 1] = 100.0 / (smoothMteval * total[n - 1]);
                } else if (smoothing == Smoothing.FLOOR) {
                    precisions[n - 1] = 100.0 * smoothValue / total[n - 1];
                }
            } else {
                precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
            }
        }
        double logSum = 0;
        for (int n = 0; n < effOrder; n++) {
            logSum += precisions[n] == 0 ? -9999999999.0 : Math.log(precisions[n]);
        }
        double score = bp * Math.exp(logSum / effOrder);
        return new Score(score, correctIn, totalIn, precisions, bp, sysLen, refLen, signature);
    }

    /** sacreBLEU's signature, e.g. {@code nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.2-compat}. */
    public String signature(int nrefs) {
        String smooth = smoothing.label();
        if (smoothing == Smoothing.FLOOR || smoothing == Smoothing.ADD_K) {
            smooth += String.format(Locale.ROOT, "[%.2f]", smoothValue);
        }
        return "nrefs:" + nrefs + "|case:" + (lowercase ? "lc" : "mixed") + "|eff:" + (effectiveOrder ? "yes" : "no")
            + "|tok:" + (tokenize13a ? "13a" : "none") + "|smooth:" + smooth + "|version:" + Metrics.SACREBLEU_VERSION;
    }

    private List<String> tokens(String segment) {
        String s = lowercase ? segment.toLowerCase(Locale.ROOT) : segment;
        s = PyText.rstrip(s);
        return PyText.split(tokenize13a ? Tokenizer13a.tokenize(s) : s);
    }

    private static Map<List<String>, Integer> ngrams(List<String> tokens) {
        Map<List<String>, Integer> counts = new HashMap<>();
        for (int n = 1; n <= MAX_ORDER; n++) {
            for (int i = 0; i + n <= tokens.size(); i++) {
                counts.merge(tokens.subList(i, i + n), 1, Integer::sum);
            }
        }
        return counts;
    }
}
