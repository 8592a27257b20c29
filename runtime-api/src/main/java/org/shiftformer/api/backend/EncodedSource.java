package org.shiftformer.api.backend;

/**
 * An encoded source sentence resident on the backend: the encoder memory and the cross-attention keys
 * and values of every decoder layer. Shared read-only by every {@link DecoderState} made from it
 * (the hypotheses of a beam). Closing it while decoder states still use it is an error.
 */
public interface EncodedSource extends AutoCloseable {
    /** Number of source tokens. */
    int length();

    /** A copy of the int8 encoder memory {@code [length, d_model]} (for tests and shadow comparison). */
    byte[] memory();

    @Override
    void close();
}
