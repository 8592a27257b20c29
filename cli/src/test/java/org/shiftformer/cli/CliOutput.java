package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Captures what commands print: swaps {@link Main#OUT} and {@link Main#ERR} for string buffers around each
 * test and restores them after. Register with {@code @RegisterExtension final CliOutput io = new CliOutput();}.
 */
final class CliOutput implements BeforeEachCallback, AfterEachCallback {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private PrintWriter savedOut;
    private PrintWriter savedErr;

    @Override
    public void beforeEach(ExtensionContext context) {
        savedOut = Main.OUT;
        savedErr = Main.ERR;
        Main.OUT = new PrintWriter(out, true);
        Main.ERR = new PrintWriter(err, true);
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Main.OUT = savedOut;
        Main.ERR = savedErr;
    }

    /** Standard output so far. */
    String out() {
        return out.toString();
    }

    /** Standard error so far. */
    String err() {
        return err.toString();
    }

    /** Forgets the standard error so far. */
    void clearErr() {
        err.getBuffer().setLength(0);
    }

    /** Forgets the standard output so far. */
    void clearOut() {
        out.getBuffer().setLength(0);
    }

    /**
     * Writes the tests' random model, {@code dir/m.itm} (the tiny shape with 300 ids, 32 positions, seed 7),
     * with {@code ./shiftformer random}.
     */
    Path randomModel(Path dir) {
        Path f = dir.resolve("m.itm");
        assertEquals(0, Main.run("random", "--preset", "tiny", "--vocab", "300", "--max-positions", "32", "--seed", "7",
                "-o", f.toString()), this::err);
        return f;
    }
}
