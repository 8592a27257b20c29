package org.shiftformer.sim;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.BackendSettings;
import org.shiftformer.api.backend.Capabilities;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.sim.kernel.SimKernels;

/**
 * The {@code sim} backend: SPEC.md's bits computed by fast exact CPU kernels, with every step's cost
 * modelled on the FPGA kernel's datapath ({@link DatapathModel}; settings {@code card}, {@code pcie.gbps},
 * {@code pcie.latency.ns}).
 *
 * <p>The kernels use 256-bit vectors ({@code Int8Gemm}, {@code ElementKernels}, {@code AttentionKernels}).
 * Where the CPU's preferred vectors are at least that wide the backend ranks {@value #RANK}; where they are
 * narrower (e.g. 128-bit NEON or SSE only) the Vector API runs those shapes in its slow Java fallback, so
 * it ranks {@value #RANK_WITHOUT_256_BIT_VECTORS}, below {@code reference}, and its capabilities say why: the
 * bits are the same, it is just not the fast choice. Without the {@code jdk.incubator.vector} module it is
 * unavailable, with the reason.
 *
 * <p>Setting {@code threads} (default: available processors, at most {@value #DEFAULT_THREADS_CAP};
 * accepted {@code [1, }{@value #MAX_THREADS}{@code ]}): threads each loaded model computes on, its caller
 * included. Each model owns its {@code threads - 1} daemon workers ({@code shiftformer-sim-N}), stopped
 * when the model closes (or, for models still open, when the backend closes). The bits never depend on
 * it, so it is not part of the backend identity.
 */
public final class SimBackendProvider implements BackendProvider {
    public static final String NAME = "sim";
    public static final int RANK = 100;
    /** The rank where 256-bit vectors are not the CPU's preferred size: below {@code reference} (0). */
    public static final int RANK_WITHOUT_256_BIT_VECTORS = -10;
    /** The vector width the kernels are written for. */
    public static final int KERNEL_VECTOR_BITS = 256;
    /** Most sequences per encoder run or decoder step (scratch grows up to this). */
    public static final int MAX_BATCH = 4096;
    /** Setting: threads per loaded model, the caller included. */
    public static final String THREADS = "threads";
    /** Most threads per model. */
    public static final int MAX_THREADS = 256;
    /** The default thread count is the available processors, capped here. */
    public static final int DEFAULT_THREADS_CAP = 16;

    /** The preferred vector size of this CPU in bits; 0 when the Vector API module is missing. */
    private final int preferredVectorBits;

    /** The provider for this machine (the service loader's). */
    public SimBackendProvider() {
        this(detectPreferredVectorBits());
    }

    /** @param preferredVectorBits the CPU's preferred vector size in bits; 0 when the Vector API is missing */
    SimBackendProvider(int preferredVectorBits) {
        this.preferredVectorBits = preferredVectorBits;
    }

    /** {@code ByteVector.SPECIES_PREFERRED}'s size, or 0 when {@code jdk.incubator.vector} is not in the module graph. */
    static int detectPreferredVectorBits() {
        try {
            return jdk.incubator.vector.ByteVector.SPECIES_PREFERRED.vectorBitSize();
        } catch (LinkageError e) {
            return 0;
        }
    }

    /** True where the kernels' 256-bit vectors are intrinsified (the CPU prefers at least that width). */
    boolean fullWidthVectors() {
        return preferredVectorBits >= KERNEL_VECTOR_BITS;
    }

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
        return fullWidthVectors() ? RANK : RANK_WITHOUT_256_BIT_VECTORS;
    }

    @Override
    public Availability availability() {
        return preferredVectorBits > 0 ? Availability.yes()
                : Availability.no("the Vector API module jdk.incubator.vector is not loaded: run the JVM with "
                        + "--add-modules jdk.incubator.vector");
    }

    @Override
    public Capabilities capabilities() {
        String speed = fullWidthVectors() ? "" : "; this CPU's preferred vectors are " + preferredVectorBits
                + "-bit, so the kernels' " + KERNEL_VECTOR_BITS + "-bit vectors run in the Vector API's slow Java "
                + "fallback (rank " + RANK_WITHOUT_256_BIT_VECTORS + ", below reference)";
        return new Capabilities(MAX_BATCH, true, true, true,
                "bit-exact vectorised CPU kernels of SPEC.md on up to " + MAX_THREADS
                        + " threads per model (setting threads), with an analytical FPGA datapath cost model" + speed);
    }

    @Override
    public Backend open(Map<String, String> settings) {
        Objects.requireNonNull(settings, "settings");
        Map<String, String> datapath = new HashMap<>(settings);
        String t = datapath.remove(THREADS);
        return new SimBackend(DatapathModel.fromSettings(datapath, Set.of(THREADS)), parseThreads(t),
                SimModel.DEFAULT_PARALLEL_MIN_WORK);
    }

    /** The default thread count: available processors, at most {@value #DEFAULT_THREADS_CAP}. */
    public static int defaultThreads() {
        return Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), DEFAULT_THREADS_CAP));
    }

    static int parseThreads(String v) {
        if (v == null) {
            return defaultThreads();
        }
        return (int) BackendSettings.integer(THREADS, v, 1, MAX_THREADS);
    }

    /**
     * An opened sim backend: a datapath configuration and thread count shared by the models it loads.
     * The workers belong to each model rather than to the backend: a model is driven by one thread at a
     * time, so its pool has a single driver and needs no lock, and models running concurrently on
     * different threads never queue behind one another's regions. Idle workers are parked.
     */
    static final class SimBackend implements Backend {
        private final DatapathModel datapath;
        private final BackendIdentity identity;
        private final int threads;
        private final long parallelMinWork;
        private final Set<SimModel> open = ConcurrentHashMap.newKeySet();
        private volatile boolean closed;

        SimBackend(DatapathModel datapath, int threads, long parallelMinWork) {
            this.datapath = datapath;
            this.threads = threads;
            this.parallelMinWork = parallelMinWork;
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
            SimModel m = new SimModel(TransformerWeights.of(model), datapath, threads, parallelMinWork);
            open.add(m);
            m.onClose(() -> open.remove(m));
            if (closed) {
                m.close();
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "backend 'sim' is closed");
            }
            return m;
        }

        /** Threads per loaded model. */
        int threads() {
            return threads;
        }

        @Override
        public Optional<IntKernels> kernels() {
            return Optional.of(SimKernels.INSTANCE);
        }

        /** Closes the backend; models still open are closed too (their workers stop). */
        @Override
        public void close() {
            closed = true;
            for (SimModel m : open.toArray(new SimModel[0])) {
                m.close();
            }
        }
    }
}
