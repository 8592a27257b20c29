package org.shiftformer.core.server.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@link ModelMetrics} sets of one registry, counted by holder. Two schedulers can serve the same
 * model on the same backend (a reload of the same file): Micrometer then hands both the same meters, so a
 * set leaves the registry only when its last holder {@linkplain ModelMetrics#release() releases} it. Without
 * this every reload would leave another set of timers and histograms in {@code /metrics}.
 */
public final class ModelMeterSets {
    private final MeterRegistry registry;
    private final Map<List<String>, Held> sets = new HashMap<>();

    private static final class Held {
        final ModelMetrics metrics;
        int holders;

        Held(ModelMetrics metrics) {
            this.metrics = metrics;
        }
    }

    public ModelMeterSets(MeterRegistry registry) {
        this.registry = registry;
    }

    /** The set for {@code model} on {@code backend}, registered if no holder has it; the caller must release it once. */
    public synchronized ModelMetrics acquire(String model, String backend) {
        Held h = sets.computeIfAbsent(List.of(model, backend),
                k -> new Held(new ModelMetrics(registry, model, backend, this)));
        h.holders++;
        return h.metrics;
    }

    /** Sets with at least one holder (for tests). */
    public synchronized int held() {
        return sets.size();
    }

    synchronized void release(ModelMetrics metrics) {
        for (var it = sets.values().iterator(); it.hasNext(); ) {
            Held h = it.next();
            if (h.metrics == metrics) {
                if (--h.holders == 0) {
                    it.remove();
                    metrics.removeFromRegistry();
                }
                return;
            }
        }
        throw new IllegalStateException("meter set released more often than acquired");
    }
}
