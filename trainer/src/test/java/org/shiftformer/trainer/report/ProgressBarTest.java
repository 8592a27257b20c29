package org.shiftformer.trainer.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;

/** Progress formatting and the two drawing modes, driven by a fake clock (no real time involved). */
class ProgressBarTest {
    private static final long S = 1_000_000_000L;

    @Test
    void formatShowsStepPercentLossThroughputElapsedAndEta() {
        assertEquals("[######------------------]  500/2000   25.0%  loss 2.3141  12.3k tok/s  elapsed 01:40  ETA 05:00",
            ProgressBar.format(500, 2000, 2.31412, 12_345, 100));
        assertEquals("[------------------------]    0/2000    0.0%  loss -  - tok/s  elapsed 00:00  ETA --:--",
            ProgressBar.format(0, 2000, Double.NaN, Double.NaN, 0));
        assertEquals("[########################] 2000/2000  100.0%  loss 0.0100  2.50M tok/s  elapsed 1:02:03  ETA 00:00",
            ProgressBar.format(2000, 2000, 0.01, 2_500_000, 3723));
        assertEquals("950", ProgressBar.humanCount(950));
    }

    @Test
    void lineModePrintsFirstStepThenOncePerIntervalAndTheLastStep() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong clock = new AtomicLong(0);
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), 100, false, 10 * S, clock::get);
        for (int step = 1; step <= 100; step++) {
            clock.addAndGet(S); // one step per second: lines at steps 1, 11, 21, ..., 91 and 100
            bar.update(step, 1.0, 1000);
        }
        String out = bytes.toString(StandardCharsets.UTF_8);
        String[] lines = out.split("\n");
        assertEquals(11, lines.length, out);
        assertTrue(lines[0].contains("  1/100 "), lines[0]);
        assertTrue(lines[1].contains(" 11/100 "), lines[1]);
        assertTrue(lines[10].contains("100/100 "), lines[10]);
        assertTrue(lines[1].contains("elapsed 00:11  ETA 01:29"), lines[1]);
        assertTrue(!out.contains("\r"));
    }

    @Test
    void inPlaceModeRedrawsWithCarriageReturnAndEndsWithNewline() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong clock = new AtomicLong(0);
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), 3, true, 0, clock::get);
        bar.update(1, 10.0, 100);
        clock.addAndGet(S);
        bar.update(2, 1.0, 100); // shorter loss text: the line is padded to erase the old tail
        clock.addAndGet(S / 1000); // within the redraw interval, but the last step always draws
        bar.update(3, 0.5, 100);
        String out = bytes.toString(StandardCharsets.UTF_8);
        String[] frames = out.split("\r", -1);
        assertEquals(4, frames.length, out); // "" then three frames
        assertEquals(frames[1].length(), frames[2].length());
        assertTrue(frames[3].endsWith(System.lineSeparator()), frames[3]);
        bar.finish(); // already finished: no extra newline
        assertEquals(out, bytes.toString(StandardCharsets.UTF_8));
    }

    @Test
    void inPlaceModeSkipsRedrawsWithinTheInterval() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong clock = new AtomicLong(0);
        ProgressBar bar = new ProgressBar(new PrintStream(bytes, true, StandardCharsets.UTF_8), 1000, true, 0, clock::get);
        for (int step = 1; step <= 10; step++) {
            bar.update(step, 1.0, 1.0); // the clock does not move: only the first draw happens
        }
        assertEquals(1, bytes.toString(StandardCharsets.UTF_8).chars().filter(c -> c == '\r').count());
        bar.finish();
        assertTrue(bytes.toString(StandardCharsets.UTF_8).endsWith(System.lineSeparator()));
    }

    @Test
    void badArgumentsAreRejected() {
        PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertThrows(ShiftformerException.class, () -> new ProgressBar(out, 0, false, S, System::nanoTime));
        ProgressBar bar = new ProgressBar(out, 10, false, S, System::nanoTime);
        var e = assertThrows(ShiftformerException.class, () -> bar.update(11, 1, 1));
        assertEquals("progress step 11 outside [0, 10]", e.getMessage());
    }
}
