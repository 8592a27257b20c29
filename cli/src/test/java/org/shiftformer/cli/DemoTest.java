package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo end to end (train, QAT, inspect, serve on loopback, translate through the client), shortened. */
class DemoTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private PrintWriter savedOut;
    private PrintWriter savedErr;

    @BeforeEach
    void capture() {
        savedOut = Main.OUT;
        savedErr = Main.ERR;
        Main.OUT = new PrintWriter(out, true);
        Main.ERR = new PrintWriter(err, true);
    }

    @AfterEach
    void restore() {
        Main.OUT = savedOut;
        Main.ERR = savedErr;
    }

    @Test
    void trainsServesAndStreamsThroughTheClient(@TempDir Path dir) {
        assertEquals(0, Main.run("demo", "--dir", dir.toString(), "--steps", "10", "--qat-steps", "1"), err::toString);
        String printed = out.toString();
        assertTrue(Files.exists(dir.resolve("numbers.itm")), printed);
        assertTrue(printed.contains("checksum   sha256"), printed);
        assertTrue(printed.contains("listening on 127.0.0.1:"), printed);
        // four streamed translations with their Done statistics, then four beam results
        assertEquals(4, printed.split("modelled device cycles]", -1).length - 1, printed);
        assertEquals(4, printed.lines().filter(l -> l.startsWith("  ") && l.contains(" -> ")).count(), printed);
    }
}
