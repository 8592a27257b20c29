package org.shiftformer.api.backend;

import java.util.List;
import org.shiftformer.api.ModelConfig;

/**
 * A model resident on a backend: the model-step contract of the SPI. Decoding strategies (greedy,
 * beam) live above it and are identical for every backend; a backend only runs the encoder for a
 * batch and one decoder step for a batch of live sequences. Implementations must give SPEC.md's bits
 * for every sequence regardless of what else is in the batch. Methods may be called from one thread
 * at a time per model (the scheduler's), but different models may run concurrently.
 */
public interface LoadedModel extends AutoCloseable {
    /** The model's hyper-parameters. */
    ModelConfig config();

    /** Exponent of the int32 logits. */
    int logitsExponent();

    /**
     * Runs the encoder for a batch of sources.
     *
     * @param sources token ids per sequence, each of length 1 to {@code max_positions}
     * @param tap     optional layer tap, may be null
     */
    EncodeResult encode(List<int[]> sources, LayerTap tap);

    /**
     * A fresh decoder state for {@code source} that can be fed up to {@code capacity} tokens
     * (BOS included); {@code capacity <= max_positions}.
     */
    DecoderState newDecoder(EncodedSource source, int capacity);

    /**
     * One batched decoder step: feeds {@code tokens[i]} to {@code states.get(i)} at its position,
     * appends to its cache, advances it, and writes its int32 logits to
     * {@code logits[i * vocab .. (i + 1) * vocab)}.
     *
     * @param tap optional layer tap, may be null
     */
    StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap);

    @Override
    void close();
}
