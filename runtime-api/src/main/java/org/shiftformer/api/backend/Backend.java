package org.shiftformer.api.backend;

import java.util.Optional;
import org.shiftformer.api.QuantizedModel;

/** An opened backend. Thread-safe: models may be loaded and closed from any thread. */
public interface Backend extends AutoCloseable {
    /** Identity carried on responses. */
    BackendIdentity identity();

    /**
     * Loads a model: validates it (SPEC.md section 8), makes its weights resident on the backend, and
     * returns a handle for running it.
     *
     * @throws org.shiftformer.api.ShiftformerException {@code INVALID_ARTIFACT} naming the problem
     */
    LoadedModel load(QuantizedModel model);

    /** Op-level kernels for conformance tests, when {@link Capabilities#opKernels()}. */
    default Optional<IntKernels> kernels() {
        return Optional.empty();
    }

    /** Releases every resource of this backend; loaded models must be closed first. */
    @Override
    void close();
}
