package org.shiftformer.trainer.optim;

/** A learning rate as a function of the 1-based optimizer step. */
@FunctionalInterface
public interface LrSchedule {

    /** The learning rate of step {@code step} (1 = the first update). */
    double lr(long step);

    /** The same rate at every step. */
    static LrSchedule constant(double lr) {
        return step -> lr;
    }

    /**
     * Linear warm-up then cosine decay (PERF.md's recipe): {@code peak · step / warmup} for
     * {@code step <= warmup}, then {@code min + (peak - min) · (1 + cos(π · (step - warmup) / (total - warmup))) / 2}
     * until {@code total}, and {@code min} after it.
     */
    static LrSchedule warmupCosine(double peak, long warmup, long total, double min) {
        if (!(peak > 0) || !(min >= 0) || min > peak || warmup < 0 || total < 1 || warmup > total) {
            throw new IllegalArgumentException("warm-up/cosine schedule needs peak > 0, 0 <= min <= peak and "
                    + "0 <= warmup <= total, total >= 1: peak " + peak + ", min " + min + ", warmup " + warmup
                    + ", total " + total);
        }
        return step -> {
            if (step <= warmup) {
                return peak * step / Math.max(1, warmup);
            }
            if (step >= total) {
                return min;
            }
            double progress = (double) (step - warmup) / (total - warmup);
            return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
        };
    }
}
