package org.shiftformer.core.server.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The meters of one served model (one scheduler), tagged with its model checksum prefix and backend.
 * Built once per model load, never per request; every recording method is a plain add on a pre-built
 * meter, so the scheduler thread allocates nothing per token for them.
 */
public final class ModelMetrics {
    private final MeterRegistry registry;
    private final List<Meter> meters;
    private final ModelMeterSets owner;
    private final Timer firstToken;
    private final Timer interToken;
    private final Counter tokens;
    private final DistributionSummary batchSize;
    private final Timer encodeStep;
    private final Timer decodeStep;
    private final Counter deviceCycles;

    /**
     * @param model   the model tag (first 16 hex digits of its SHA-256)
     * @param backend the backend tag (provider name)
     */
    public ModelMetrics(MeterRegistry registry, String model, String backend) {
        this(registry, model, backend, null);
    }

    ModelMetrics(MeterRegistry registry, String model, String backend, ModelMeterSets owner) {
        this.registry = registry;
        this.owner = owner;
        Tags tags = Tags.of(ServerMeters.MODEL, model, ServerMeters.BACKEND, backend);
        firstToken = Timer.builder(ServerMeters.TIME_TO_FIRST_TOKEN).tags(tags).publishPercentileHistogram()
                .description("from receipt of a request to its first output token").register(registry);
        interToken = Timer.builder(ServerMeters.INTER_TOKEN_LATENCY).tags(tags).publishPercentileHistogram()
                .description("between consecutive output tokens of a request").register(registry);
        tokens = Counter.builder(ServerMeters.TOKENS).tags(tags).description("output tokens").register(registry);
        batchSize = DistributionSummary.builder(ServerMeters.BATCH_SIZE).tags(tags)
                .description("decoder rows per batched step").register(registry);
        encodeStep = Timer.builder(ServerMeters.BACKEND_STEP).tags(tags).tag(ServerMeters.PHASE, "encode")
                .description("wall time of one backend call").register(registry);
        decodeStep = Timer.builder(ServerMeters.BACKEND_STEP).tags(tags).tag(ServerMeters.PHASE, "decode")
                .description("wall time of one backend call").register(registry);
        deviceCycles = Counter.builder(ServerMeters.DEVICE_CYCLES).tags(tags)
                .description("modelled or measured datapath cycles").register(registry);
        meters = List.of(firstToken, interToken, tokens, batchSize, encodeStep, decodeStep, deviceCycles);
    }

    /**
     * The holder (a scheduler whose model is retired) is done with these meters: they leave the registry,
     * unless they came from {@link ModelMeterSets#acquire} and another holder still has the same set.
     */
    public void release() {
        if (owner != null) {
            owner.release(this);
        } else {
            removeFromRegistry();
        }
    }

    void removeFromRegistry() {
        for (Meter m : meters) {
            registry.remove(m);
        }
    }

    /** A request's first token, {@code nanos} after its receipt. */
    public void firstToken(long nanos) {
        firstToken.record(nanos, TimeUnit.NANOSECONDS);
        tokens.increment();
    }

    /** A later token, {@code nanos} after the request's previous one. */
    public void nextToken(long nanos) {
        interToken.record(nanos, TimeUnit.NANOSECONDS);
        tokens.increment();
    }

    /** One encoder batch took {@code nanos} and {@code cycles} device cycles. */
    public void encoded(long nanos, long cycles) {
        encodeStep.record(nanos, TimeUnit.NANOSECONDS);
        deviceCycles.increment(cycles);
    }

    /** One decoder step of {@code rows} rows took {@code nanos} and {@code cycles} device cycles. */
    public void stepped(int rows, long nanos, long cycles) {
        batchSize.record(rows);
        decodeStep.record(nanos, TimeUnit.NANOSECONDS);
        deviceCycles.increment(cycles);
    }
}
