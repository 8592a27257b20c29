package org.shiftformer.api.backend;

/**
 * One hypothesis being decoded: its self-attention KV cache (SPEC.md section 6) and position. Not
 * thread-safe; the decode loop owns it.
 */
public interface DecoderState extends AutoCloseable {
    /** Number of tokens already fed (the position the next token is fed at). */
    int position();

    /** Most tokens this state can be fed. */
    int capacity();

    /** The source this state attends to. */
    EncodedSource source();

    /** A new state with a copy of this one's cache and position. */
    DecoderState fork();

    /** Makes this state a copy of {@code other} (same source), reusing this state's buffers. */
    void copyFrom(DecoderState other);

    @Override
    void close();
}
