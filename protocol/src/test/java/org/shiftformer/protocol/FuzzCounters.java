package org.shiftformer.protocol;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counts the executions of a Jazzer fuzz target and a few outcomes, and prints them when the class is
 * done, so that the test output says how much a run fuzzed (next to libFuzzer's own
 * {@code Done N runs in S second(s)} line), in fuzzing and in regression mode alike.
 */
public final class FuzzCounters {
    private final String target;
    private final String[] outcomes;
    private final LongAdder executions = new LongAdder();
    private final LongAdder[] counts;
    private final long startNs = System.nanoTime();

    /** @param outcomes names of the outcomes counted by {@link #add}, by index */
    public FuzzCounters(String target, String... outcomes) {
        this.target = target;
        this.outcomes = outcomes.clone();
        this.counts = new LongAdder[outcomes.length];
        for (int i = 0; i < counts.length; i++) {
            counts[i] = new LongAdder();
        }
    }

    /** Counts one execution of the target. */
    public void execution() {
        executions.increment();
    }

    /** Adds {@code n} to outcome {@code index}. */
    public void add(int index, long n) {
        counts[index].add(n);
    }

    public long executions() {
        return executions.sum();
    }

    /** One line: target, mode, executions, seconds since the class was loaded, the outcomes. */
    public String summary() {
        String mode = System.getenv("JAZZER_FUZZ") == null || System.getenv("JAZZER_FUZZ").isEmpty()
                ? "regression (committed corpus)" : "fuzzing";
        StringBuilder s = new StringBuilder("fuzz target ").append(target).append(", ").append(mode).append(": ")
                .append(executions()).append(" executions in ")
                .append(String.format("%.1f", (System.nanoTime() - startNs) / 1e9)).append(" s");
        for (int i = 0; i < outcomes.length; i++) {
            s.append(i == 0 ? " (" : ", ").append(counts[i].sum()).append(' ').append(outcomes[i]);
        }
        return s.append(outcomes.length > 0 ? ")" : "").toString();
    }

    /** Prints {@link #summary()} to standard output. */
    public void print() {
        System.out.println(summary());
    }
}
