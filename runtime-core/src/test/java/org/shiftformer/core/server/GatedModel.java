package org.shiftformer.core.server;

import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.ForwardingLoadedModel;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;

/**
 * A real model (the reference backend's) whose decoder steps wait for permits the test hands out, so a
 * test decides when streams advance without any timing assumption; it also reports a fixed modelled cost
 * per row (the reference backend models none) and records its close. The logits are the delegate's,
 * untouched: tokens equal local decoding of the same model.
 */
final class GatedModel extends ForwardingLoadedModel {
    static final long CYCLES_PER_ROW = 1_000;

    private final Semaphore permits = new Semaphore(0);
    private volatile boolean gated = true;
    private volatile boolean closed;

    GatedModel(LoadedModel delegate) {
        super(delegate);
    }

    /** Lets {@code steps} more decoder steps run. */
    void allow(int steps) {
        permits.release(steps);
    }

    /** Lets every step run from now on. */
    void open() {
        gated = false;
        permits.release(1 << 20);
    }

    /** True while the decode thread waits at the gate: the steps before have been fully processed. */
    boolean holding() {
        return permits.hasQueuedThreads();
    }

    boolean closed() {
        return closed;
    }

    @Override
    public EncodeResult encode(List<int[]> sources, LayerTap tap) {
        EncodeResult r = super.encode(sources, tap);
        return new EncodeResult(r.sources(), new StepCost(r.cost().deviceCycles() + CYCLES_PER_ROW * sources.size(),
                r.cost().deviceNanos()));
    }

    @Override
    public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        if (gated) {
            try {
                if (!permits.tryAcquire(60, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("the test never opened the gate (hang guard)");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted at the gate", e);
            }
        }
        StepCost cost = super.decodeStep(states, tokens, logits, tap);
        return new StepCost(cost.deviceCycles() + CYCLES_PER_ROW * states.size(), cost.deviceNanos());
    }

    @Override
    public void close() {
        closed = true;
        super.close();
    }
}
