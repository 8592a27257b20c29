package org.shiftformer.fpga;

import org.shiftformer.api.backend.DatapathCycles;

/**
 * How long one run of the kernel ({@code src/main/hls}) would take on a card, and the run timeout derived
 * from it.
 *
 * <p>The estimate is {@link DatapathCycles}' walk of the kernel's loop nest (the same count the emulated
 * kernel returns in {@code out[2..3]}, checked equal by {@code FpgaCycleAgreementTest}) on the slower of the
 * target cards ({@link DatapathCycles.Card}): the larger of its loop-nest time and its memory bound. A card
 * that closes timing below its assumed clock is slower by the ratio, which {@link #SAFETY_FACTOR} covers.
 *
 * <p>Timeout of a run: {@code max(}{@value #FLOOR_MS}{@code  ms, }{@value #SAFETY_FACTOR}{@code  x
 * estimate)}, unless the {@code timeout-ms} setting fixes it for every run.
 */
final class KernelTimeModel {
    static final int SAFETY_FACTOR = 4;
    /** No run gets less: covers launch and DMA latency, a loaded host and small shapes. */
    static final long FLOOR_MS = 10_000;

    private KernelTimeModel() {
    }

    /** The timeout of a run estimated at {@code estimateNanos}: the setting when given (> 0), else derived. */
    static long timeoutMs(long settingMs, long estimateNanos) {
        if (settingMs > 0) {
            return settingMs;
        }
        long ns = estimateNanos > Long.MAX_VALUE / SAFETY_FACTOR ? Long.MAX_VALUE : estimateNanos * SAFETY_FACTOR;
        return Math.min(Integer.MAX_VALUE, Math.max(FLOOR_MS, Math.ceilDiv(ns, 1_000_000L)));
    }

    /** The run's modelled nanoseconds on the slowest target card. */
    static long nanos(DatapathCycles run) {
        double worst = 0;
        for (DatapathCycles.Card card : DatapathCycles.Card.values()) {
            worst = Math.max(worst, card.nanos(run));
        }
        return (long) Math.ceil(worst);
    }
}
