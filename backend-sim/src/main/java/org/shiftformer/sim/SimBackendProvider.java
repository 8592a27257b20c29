package org.shiftformer.sim;

import java.util.Map;
import java.util.Objects;
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
import org.shiftformer.sim.kernel.SimKernels;

/**
 * The {@code sim} backend: SPEC.md's bits computed by fast exact CPU kernels, with every step's cost
 * modelled on an FPGA datapath ({@link DatapathModel}; settings {@code pe.rows}, {@code pe.cols},
 * {@code clock.mhz}, {@code onchip.kib}, {@code offchip.gbps}, {@code pcie.gbps}, {@code pcie.latency.ns}).
 * Always available; rank 100.
 */
public final class SimBackendProvider implements BackendProvider {
    public static final String NAME = "sim";
    public static final int RANK = 100;
    /** Most sequences per encoder run or decoder step (scratch grows up to this). */
    public static final int MAX_BATCH = 4096;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int rank() {
        return RANK;
    }

    @Override
    public Availability availability() {
        return Availability.yes();
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(MAX_BATCH, true, true, true,
                "bit-exact vectorised CPU kernels of SPEC.md with an analytical FPGA datapath cost model");
    }

    @Override
    public Backend open(Map<String, String> settings) {
        Objects.requireNonNull(settings, "settings");
        return new SimBackend(DatapathModel.fromSettings(settings));
    }

    /** An opened sim backend: a datapath configuration shared by the models it loads. */
    static final class SimBackend implements Backend {
        private final DatapathModel datapath;
        private final BackendIdentity identity;
        private volatile boolean closed;

        SimBackend(DatapathModel datapath) {
            this.datapath = datapath;
            this.identity = new BackendIdentity(NAME, "cpu", "spec-1 datapath " + datapath.describe());
        }

        @Override
        public BackendIdentity identity() {
            return identity;
        }

        @Override
        public LoadedModel load(QuantizedModel model) {
            if (closed) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "backend 'sim' is closed");
            }
            return new SimModel(TransformerWeights.of(model), datapath);
        }

        @Override
        public Optional<IntKernels> kernels() {
            return Optional.of(SimKernels.INSTANCE);
        }

        @Override
        public void close() {
            closed = true;
        }
    }
}
