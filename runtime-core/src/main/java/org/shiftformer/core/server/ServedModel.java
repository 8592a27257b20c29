package org.shiftformer.core.server;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.TokenizerSpec;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.protocol.Message;

/**
 * A model as the server serves it: the backend's handle, the tokenizer, and what identifies the
 * computation on every response. The server owns {@link #model()}: the scheduler thread that drives it
 * closes it when it ends (on shutdown, or once its streams finish after a hot reload swapped in another
 * one, each with its own {@link Scheduler}).
 *
 * @param model     the loaded model (driven by one scheduler thread only)
 * @param tokenizer the artifact's tokenizer
 * @param backend   who computes
 * @param sha256    the artifact's SHA-256, 64 lowercase hex digits
 * @param trainer   provenance: what produced the model
 * @param scores    provenance: the scores the artifact records from its evaluation at export (e.g.
 *                  {@code int8.chrf}), in the artifact's order
 * @param weights   the artifact's model, kept to load it on a fallback backend if this backend fails while
 *                  serving ({@link FallbackPolicy}); null when the server may not fail over
 */
public record ServedModel(LoadedModel model, ByteBpeTokenizer tokenizer, BackendIdentity backend, String sha256,
                          String trainer, Map<String, Double> scores, QuantizedModel weights) {
    public ServedModel {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(sha256, "sha256");
        Objects.requireNonNull(trainer, "trainer");
        scores = Collections.unmodifiableMap(new LinkedHashMap<>(Objects.requireNonNull(scores, "scores")));
    }

    /** Serves {@code artifact} with {@code model}, its load on the backend {@code backend}. */
    public static ServedModel of(Artifact artifact, LoadedModel model, BackendIdentity backend) {
        ByteBpeTokenizer tok = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
        return new ServedModel(model, tok, backend, artifact.sha256Hex(), artifact.provenance().trainer(),
                artifact.provenance().metrics(), artifact.model());
    }

    /** The same model, tokenizer and identity, computed by {@code other} on the backend {@code backend}. */
    ServedModel on(LoadedModel other, BackendIdentity otherBackend) {
        return new ServedModel(other, tokenizer, otherBackend, sha256, trainer, scores, weights);
    }

    public ModelConfig config() {
        return model.config();
    }

    Message.ModelSummary summary() {
        return new Message.ModelSummary(sha256, backend, config().vocabSize(), config().maxPositions());
    }

    Message.ModelInfo info(long requestId) {
        return new Message.ModelInfo(requestId, config(), sha256, backend, TokenizerSpec.KIND, trainer);
    }
}
