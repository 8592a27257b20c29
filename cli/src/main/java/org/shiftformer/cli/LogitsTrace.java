package org.shiftformer.cli;

import java.io.PrintWriter;
import java.util.List;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.decode.StepObserver;
import org.shiftformer.core.engine.Translator;

/**
 * {@code translate --trace-logits K}: JSON lines, one object per line, nothing else on standard output
 * (SPEC.md, "Tracing the logits"). Per decoder step of greedy decoding:
 * {@code {"text":0,"step":0,"token":17,"top":[{"token":17,"logit":5123},...]}}; of beam search, one line per
 * live hypothesis: {@code {"text":0,"step":3,"beam":1,"score":-81234,"top":[...],"chosen":[{"token":17,
 * "score":-90000,"next_beam":0},{"token":2,"score":-95000,"finished":true}]}}; then per text a result line
 * {@code {"text":0,"input":"...","tokens":[...],"output":"...","finished_by_eos":true,"score":0}} or an
 * error line {@code {"text":1,"input":"...","error":{"code":"...","message":"..."}}}. {@code top} holds
 * the K largest logits of the row over every token except pad and bos, largest first, ties by the lower
 * token id, so its first entry is the greedy choice.
 */
final class LogitsTrace implements StepObserver {
    private final PrintWriter out;
    private final ModelConfig cfg;
    private final int k;
    private final int[] topTokens;
    private int text;
    private boolean beam;

    LogitsTrace(PrintWriter out, ModelConfig cfg, int k) {
        this.out = out;
        this.cfg = cfg;
        this.k = k;
        this.topTokens = new int[k];
    }

    /** Translates {@code input} (text number {@code index}) with every step traced, then its result line. */
    void translate(Translator tr, int index, String input, DecodeParams params) {
        this.text = index;
        this.beam = params.beamWidth() > 1;
        Translator.Translation t = tr.translate(List.of(input), params, null, this).get(0);
        StringBuilder sb = new StringBuilder();
        sb.append("{\"text\":").append(index).append(",\"input\":").append(quote(input)).append(",\"tokens\":[");
        for (int i = 0; i < t.tokens().length; i++) {
            sb.append(i == 0 ? "" : ",").append(t.tokens()[i]);
        }
        sb.append("],\"output\":").append(quote(t.text())).append(",\"finished_by_eos\":").append(t.result().finishedByEos())
                .append(",\"score\":").append(t.result().score()).append('}');
        out.println(sb);
        out.flush();
    }

    /** The error line of text number {@code index}. */
    void error(int index, String input, ShiftformerException e) {
        out.println("{\"text\":" + index + ",\"input\":" + quote(input) + ",\"error\":{\"code\":" + quote(e.code().name())
                + ",\"message\":" + quote(String.valueOf(e.getMessage())) + "}}");
    }

    @Override
    public void onStep(int sequence, int step, int[] logits, int offset, long[] scores, List<Choice> chosen) {
        int vocab = cfg.vocabSize();
        for (int h = 0; h < scores.length; h++) {
            StringBuilder sb = new StringBuilder(64 + 32 * k);
            sb.append("{\"text\":").append(text).append(",\"step\":").append(step);
            if (beam) {
                sb.append(",\"beam\":").append(h).append(",\"score\":").append(scores[h]);
            } else {
                sb.append(",\"token\":").append(chosen.get(0).token());
            }
            int n = top(logits, offset + h * vocab);
            sb.append(",\"top\":[");
            for (int i = 0; i < n; i++) {
                sb.append(i == 0 ? "" : ",").append("{\"token\":").append(topTokens[i]).append(",\"logit\":")
                        .append(logits[offset + h * vocab + topTokens[i]]).append('}');
            }
            sb.append(']');
            if (beam) {
                sb.append(",\"chosen\":[");
                boolean first = true;
                for (Choice c : chosen) {
                    if (c.beam() != h) {
                        continue;
                    }
                    sb.append(first ? "" : ",").append("{\"token\":").append(c.token()).append(",\"score\":").append(c.score());
                    sb.append(c.next() >= 0 ? ",\"next_beam\":" + c.next() : ",\"finished\":true").append('}');
                    first = false;
                }
                sb.append(']');
            }
            sb.append('}');
            out.println(sb);
        }
        out.flush();
    }

    /** The (at most) k largest logits of the row at {@code off} into {@link #topTokens}, skipping pad and bos. */
    private int top(int[] logits, int off) {
        int n = 0;
        for (int v = 0; v < cfg.vocabSize(); v++) {
            if (v == cfg.padId() || v == cfg.bosId()) {
                continue;
            }
            int x = logits[off + v];
            if (n == k && x <= logits[off + topTokens[n - 1]]) {
                continue; // not above the smallest kept (ties keep the lower id, seen first)
            }
            int pos = n == k ? n - 1 : n;
            while (pos > 0 && logits[off + topTokens[pos - 1]] < x) {
                topTokens[pos] = topTokens[pos - 1];
                pos--;
            }
            topTokens[pos] = v;
            if (n < k) {
                n++;
            }
        }
        return n;
    }

    /** A JSON string literal (RFC 8259). */
    static String quote(String s) {
        return org.shiftformer.api.JsonText.quote(s);
    }
}
