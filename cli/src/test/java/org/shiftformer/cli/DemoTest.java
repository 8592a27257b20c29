package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The demo end to end (train, QAT, inspect, serve on loopback, translate through the client), shortened. */
class DemoTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @Test
    void trainsServesAndStreamsThroughTheClient(@TempDir Path dir) {
        assertEquals(0, Main.run("demo", "--dir", dir.toString(), "--steps", "10", "--qat-steps", "1"), io::err);
        String printed = io.out();
        assertTrue(Files.exists(dir.resolve("numbers.itm")), printed);
        assertTrue(printed.contains("checksum   sha256"), printed);
        assertTrue(printed.contains("listening on 127.0.0.1:"), printed);
        // seven streamed translations with their Done statistics: the numbers people type first, then a held-out
        // number of each held-out digit count; then seven beam results
        assertEquals(7, printed.split("modelled device cycles]", -1).length - 1, printed);
        assertEquals(7, printed.lines().filter(l -> l.startsWith("  ") && l.contains(" -> ")).count(), printed);
        for (String first : new String[] {"> null", "> eins", "> zwölf", "> hundert", "> tausend"}) {
            assertTrue(printed.lines().anyMatch(first::equals), first + " in\n" + printed);
        }
        assertTrue(printed.contains("reference \"twelve\""), printed);
        assertEquals(1, printed.lines().filter(l -> l.contains("; 3 digits; held out; reference")).count(), printed);
        assertEquals(1, printed.lines().filter(l -> l.contains("; 4 digits; held out; reference")).count(), printed);
        // null, eins (1 digit) and zwölf (2 digits) are always trained on
        assertEquals(2, printed.lines().filter(l -> l.contains("; 1 digit; trained on; reference")).count(), printed);
        assertEquals(1, printed.lines().filter(l -> l.contains("; 2 digits; trained on; reference")).count(), printed);
        // the per-digit-count table of the training run: 1 and 2 digits in full, 500 held-out numbers of 3 and 4
        assertTrue(printed.lines().anyMatch(l -> l.matches("1 +10 seen .*")), printed);
        assertTrue(printed.lines().anyMatch(l -> l.matches("2 +90 seen .*")), printed);
        assertTrue(printed.lines().anyMatch(l -> l.matches("3 +500 held out .*")), printed);
        assertTrue(printed.lines().anyMatch(l -> l.matches("4 +500 held out .*")), printed);
    }
}
