package org.shiftformer.trainer.report;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Objects;
import java.util.function.LongSupplier;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A progress display for long runs: step/total, percentage, loss, tokens per second, elapsed time and
 * ETA. On a terminal it redraws one line in place with {@code \r} (at most every
 * {@link #REDRAW_INTERVAL_NS}); otherwise (a log file, CI) it prints a full line every
 * {@code lineIntervalNs}, plus the first and the last step, so logs stay readable. Not thread-safe: call
 * it from the training loop.
 */
public final class ProgressBar {
    /** Minimum time between in-place redraws. */
    public static final long REDRAW_INTERVAL_NS = 100_000_000L;
    /** Default time between lines when the output is not a terminal. */
    public static final long DEFAULT_LINE_INTERVAL_NS = 10_000_000_000L;
    /** Width of the bar in characters, between the brackets. */
    public static final int BAR_WIDTH = 24;

    private final PrintStream out;
    private final long total;
    private final boolean inPlace;
    private final long intervalNs;
    private final LongSupplier clockNs;
    private final long startNs;
    private long lastDrawNs;
    private boolean drawn;
    private int lastWidth;
    private boolean finished;

    /**
     * @param out            where to draw
     * @param total          the number of steps of the run (> 0)
     * @param inPlace        redraw one line with {@code \r} (a terminal) or print lines (anything else)
     * @param lineIntervalNs time between printed lines when not in place
     * @param clockNs        a monotonic clock in nanoseconds ({@code System::nanoTime}; tests pass a fake)
     */
    public ProgressBar(PrintStream out, long total, boolean inPlace, long lineIntervalNs, LongSupplier clockNs) {
        this.out = Objects.requireNonNull(out, "out");
        if (total <= 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "progress total must be > 0, got " + total);
        }
        if (lineIntervalNs < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "progress line interval must be >= 0, got " + lineIntervalNs);
        }
        this.total = total;
        this.inPlace = inPlace;
        this.intervalNs = inPlace ? REDRAW_INTERVAL_NS : lineIntervalNs;
        this.clockNs = Objects.requireNonNull(clockNs, "clockNs");
        this.startNs = clockNs.getAsLong();
    }

    /** A bar on {@code System.out}, in place iff stdout is a terminal. */
    public static ProgressBar forStdout(long total) {
        var console = System.console();
        boolean terminal = console != null && console.isTerminal();
        return new ProgressBar(System.out, total, terminal, DEFAULT_LINE_INTERVAL_NS, System::nanoTime);
    }

    /** Whether this bar redraws in place. */
    public boolean inPlace() {
        return inPlace;
    }

    /**
     * Reports that {@code step} (1-based, at most total) is done. {@code loss} and {@code tokensPerSecond}
     * may be NaN when unknown. Draws if the interval has passed, on the first call and on the last step.
     */
    public void update(long step, double loss, double tokensPerSecond) {
        if (step < 0 || step > total) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "progress step " + step + " outside [0, " + total + "]");
        }
        long now = clockNs.getAsLong();
        if (drawn && step < total && now - lastDrawNs < intervalNs) {
            return;
        }
        lastDrawNs = now;
        drawn = true;
        String line = format(step, total, loss, tokensPerSecond, (now - startNs) / 1e9);
        if (inPlace) {
            int pad = Math.max(0, lastWidth - line.length());
            out.print("\r" + line + " ".repeat(pad));
            lastWidth = line.length();
            if (step == total) {
                out.println();
                finished = true;
            }
        } else {
            out.println(line);
        }
        out.flush();
    }

    /** Ends an in-place line early (for example when training stops before the last step). */
    public void finish() {
        if (inPlace && drawn && !finished) {
            out.println();
            out.flush();
        }
        finished = true;
    }

    /**
     * One progress line, e.g.
     * {@code [######------------------]  500/2000  25.0%  loss 2.3141  12.3k tok/s  elapsed 01:40  ETA 05:00}.
     * The ETA extrapolates the average time per step so far; it is {@code --:--} before the first step.
     */
    public static String format(long step, long total, double loss, double tokensPerSecond, double elapsedSeconds) {
        int filled = (int) (BAR_WIDTH * step / total);
        StringBuilder sb = new StringBuilder(120);
        sb.append('[').append("#".repeat(filled)).append("-".repeat(BAR_WIDTH - filled)).append("] ");
        String totalText = Long.toString(total);
        String stepText = Long.toString(step);
        sb.append(" ".repeat(Math.max(0, totalText.length() - stepText.length()))).append(stepText).append('/').append(totalText);
        sb.append(String.format(Locale.ROOT, "  %5.1f%%", 100.0 * step / total));
        sb.append("  loss ").append(Double.isNaN(loss) ? "-" : String.format(Locale.ROOT, "%.4f", loss));
        sb.append("  ").append(Double.isNaN(tokensPerSecond) ? "-" : humanCount(tokensPerSecond)).append(" tok/s");
        sb.append("  elapsed ").append(duration(elapsedSeconds));
        sb.append("  ETA ").append(step == 0 ? "--:--" : duration(elapsedSeconds / step * (total - step)));
        return sb.toString();
    }

    /** {@code 950}, {@code 12.3k}, {@code 4.56M}. */
    static String humanCount(double v) {
        if (v < 1_000) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        if (v < 1_000_000) {
            return String.format(Locale.ROOT, "%.1fk", v / 1e3);
        }
        return String.format(Locale.ROOT, "%.2fM", v / 1e6);
    }

    /** {@code mm:ss} below an hour, {@code h:mm:ss} above. */
    static String duration(double seconds) {
        long s = Math.round(Math.max(0, seconds));
        long h = s / 3600;
        long m = s / 60 % 60;
        long sec = s % 60;
        return h > 0 ? String.format(Locale.ROOT, "%d:%02d:%02d", h, m, sec) : String.format(Locale.ROOT, "%02d:%02d", m, sec);
    }
}
