package org.shiftformer.core.artifact;

import java.util.Objects;
import org.shiftformer.api.QuantizedModel;

/**
 * A model artifact as read by {@link ArtifactReader}: fully verified, and its model accepted by
 * {@link org.shiftformer.api.model.TransformerWeights#of}. The tensors of a read artifact are slices of
 * the memory-mapped file (see the package documentation for their lifetime).
 *
 * @param model      hyper-parameters, tensors, exponents and the softmax table
 * @param tokenizer  the byte-level BPE merges; {@code tokenizer.vocabSize() == model.config().vocabSize()}
 * @param provenance where the model came from
 * @param sha256Hex  the verified checksum, 64 lowercase hex digits
 */
public record Artifact(QuantizedModel model, TokenizerSpec tokenizer, Provenance provenance, String sha256Hex) {
    /** The format version this build reads and writes. */
    public static final int FORMAT_VERSION = ArtifactFormat.VERSION;

    public Artifact {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(provenance, "provenance");
        Objects.requireNonNull(sha256Hex, "sha256Hex");
    }
}
