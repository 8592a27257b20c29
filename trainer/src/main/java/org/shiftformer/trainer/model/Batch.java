package org.shiftformer.trainer.model;

import java.util.List;
import org.shiftformer.api.ModelConfig;

/**
 * One padded training or evaluation batch in the layout the runtime uses (SPEC.md 5 and 7, runtime-core's
 * {@code Translator}): each source is its token ids followed by {@code eos_id}; the decoder input is
 * {@code bos_id, y_0 .. y_{n-1}} and the target is {@code y_0 .. y_{n-1}, eos_id} (row {@code t} predicts
 * token {@code t + 1}). Rows are padded with {@code pad_id} to the longest source ({@code srcLen}) and the
 * longest target plus one ({@code tgtLen}); padded target positions are ignored by the loss.
 *
 * @param size         number of sentence pairs B
 * @param srcLen       padded source length S
 * @param src          {@code B * S} source ids (with EOS), row {@code b} at {@code [b*S, (b+1)*S)}
 * @param srcLengths   real source length of each row (with EOS): the key-padding mask
 * @param tgtLen       padded decoder length T
 * @param decoderInput {@code B * T} ids, BOS first
 * @param targets      {@code B * T} ids, EOS last, pad elsewhere
 * @param targetTokens number of non-pad targets (the tokens a training step learns from)
 */
public record Batch(int size, int srcLen, int[] src, int[] srcLengths, int tgtLen, int[] decoderInput,
                    int[] targets, int targetTokens) {

    /**
     * Pads {@code sources} (each already ending in EOS, as {@link Seq2SeqModel#sourceIds} builds them) and
     * {@code targets} (token ids without BOS/EOS) into one batch.
     *
     * @throws IllegalArgumentException if the lists differ in size or are empty, a source is empty, an id is
     *     outside the vocabulary, or a sequence needs more than {@code max_positions} positions
     */
    public static Batch of(List<int[]> sources, List<int[]> targets, ModelConfig cfg) {
        if (sources.size() != targets.size() || sources.isEmpty()) {
            throw new IllegalArgumentException("batch needs as many sources as targets, and at least one: "
                    + sources.size() + " sources, " + targets.size() + " targets");
        }
        int b = sources.size();
        int s = 0;
        int t = 0;
        for (int i = 0; i < b; i++) {
            if (sources.get(i).length == 0) {
                throw new IllegalArgumentException("source " + i + " is empty (it must end with eos_id)");
            }
            s = Math.max(s, sources.get(i).length);
            t = Math.max(t, targets.get(i).length + 1);
        }
        if (s > cfg.maxPositions() || t > cfg.maxPositions()) {
            throw new IllegalArgumentException("batch needs " + Math.max(s, t) + " positions but the model has "
                    + cfg.maxPositions() + " (source " + s + ", decoder " + t + ")");
        }
        int[] src = new int[b * s];
        int[] lens = new int[b];
        int[] in = new int[b * t];
        int[] out = new int[b * t];
        java.util.Arrays.fill(src, cfg.padId());
        java.util.Arrays.fill(in, cfg.padId());
        java.util.Arrays.fill(out, cfg.padId());
        int count = 0;
        for (int i = 0; i < b; i++) {
            int[] x = sources.get(i);
            int[] y = targets.get(i);
            for (int j = 0; j < x.length; j++) {
                src[i * s + j] = checkId(x[j], cfg, "source", i);
            }
            lens[i] = x.length;
            in[i * t] = cfg.bosId();
            for (int j = 0; j < y.length; j++) {
                in[i * t + j + 1] = checkId(y[j], cfg, "target", i);
                out[i * t + j] = y[j];
            }
            out[i * t + y.length] = cfg.eosId();
            count += y.length + 1;
        }
        return new Batch(b, s, src, lens, t, in, out, count);
    }

    private static int checkId(int id, ModelConfig cfg, String what, int row) {
        if (id < 0 || id >= cfg.vocabSize() || id == cfg.padId()) {
            throw new IllegalArgumentException(what + " " + row + " holds id " + id
                    + ", outside [0, " + cfg.vocabSize() + ") or the pad id");
        }
        return id;
    }
}
