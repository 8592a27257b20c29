package org.shiftformer.core.decode;

import java.util.List;

/**
 * Sees every decoder step of a search with its int32 logits and what the step chose, for inspection
 * tools ({@code ./shiftformer translate --trace-logits}, comparing a device with the simulator number by
 * number). Called on the decoding thread once per step of a sequence, after the search consumed the step;
 * must not keep {@code logits} or block.
 */
@FunctionalInterface
public interface StepObserver {
    /**
     * @param sequence index of the sequence in the batch
     * @param step     0-based decoder step: step {@code t} fed position {@code t} and chose the token for {@code t + 1}
     * @param logits   the int32 logits of live hypothesis {@code h} at {@code logits[offset + h * vocab ..]}
     * @param offset   where hypothesis 0's row starts
     * @param scores   each live hypothesis' score before this step (SPEC.md 5.1, Q16; greedy: one 0), in the
     *                 order of the rows, which is the order of SPEC.md 5.2's {@code live} list
     * @param chosen   what the step selected, in rank order: greedy one choice; beam search the candidates
     *                 that became the next step's hypotheses and the EOS candidates that finished one
     */
    void onStep(int sequence, int step, int[] logits, int offset, long[] scores, List<Choice> chosen);

    /**
     * One selected candidate.
     *
     * @param beam  the hypothesis (row) it extends
     * @param token the token it appends (EOS included)
     * @param score the extended hypothesis' score (Q16; greedy: 0)
     * @param next  its index among the next step's hypotheses, or -1 when it is finished (EOS, or the
     *              max_new_tokens limit)
     */
    record Choice(int beam, int token, long score, int next) {
    }
}
