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
        // four streamed translations with their Done statistics, then four beam results
        assertEquals(4, printed.split("modelled device cycles]", -1).length - 1, printed);
        assertEquals(4, printed.lines().filter(l -> l.startsWith("  ") && l.contains(" -> ")).count(), printed);
    }
}
