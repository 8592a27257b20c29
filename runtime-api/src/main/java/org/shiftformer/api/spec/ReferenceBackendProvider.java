package org.shiftformer.api.spec;

import java.util.Map;
import java.util.Optional;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Capabilities;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.TransformerWeights;

/**
 * The scalar reference as a backend ({@code reference}, lowest rank): slow, always available, and
 * what every other backend is compared with.
 */
public final class ReferenceBackendProvider implements BackendProvider {
    public static final String NAME = "reference";

    @Override
    public int spiVersion() {
        return SPI_VERSION;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public Availability availability() {
        return Availability.yes();
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(Integer.MAX_VALUE, true, false, true,
                "scalar reference of SPEC.md; slow, for conformance and debugging");
    }

    @Override
    public Backend open(Map<String, String> settings) {
        if (!settings.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "backend 'reference' takes no settings, got " + settings.keySet());
        }
        return new Backend() {
            @Override
            public BackendIdentity identity() {
                return new BackendIdentity(NAME, "cpu", "spec-1");
            }

            @Override
            public LoadedModel load(QuantizedModel model) {
                return new ReferenceModel(TransformerWeights.of(model));
            }

            @Override
            public Optional<IntKernels> kernels() {
                return Optional.of(ReferenceKernels.INSTANCE);
            }

            @Override
            public void close() {
            }
        };
    }
}
