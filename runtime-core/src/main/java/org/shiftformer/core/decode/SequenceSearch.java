package org.shiftformer.core.decode;

import java.util.List;
import org.shiftformer.api.backend.DecoderState;

/**
 * The decoding of one source sentence as a step machine, so that a scheduler can put the live
 * hypotheses of many sequences into one batched decoder step (continuous batching): each step it asks
 * for {@link #states()} and {@link #tokens()}, runs them, and hands back the logits rows in the same
 * order to {@link #advance}. Strategies never look at other sequences, which is what makes decoding
 * batch-invariant.
 */
public interface SequenceSearch extends AutoCloseable {
    /** Decoder states to feed this step (empty when done). */
    List<DecoderState> states();

    /** The token to feed to each of {@link #states()}. */
    int[] tokens();

    /**
     * Consumes this step's logits: row {@code i} of {@link #states()} is at
     * {@code logits[offset + i * vocab]}.
     *
     * @param deviceCycles this sequence's share of the step's modelled device cycles
     */
    void advance(int[] logits, int offset, long deviceCycles);

    /** True when the search has its result. */
    boolean done();

    /** The result; only when {@link #done()}. */
    DecodeResult result();

    /** Releases every decoder state (not the encoded source). */
    @Override
    void close();
}
