package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** What {@code POST /admin/reload?path=} may read: regular files inside the model directory, nothing else. */
class ModelLoaderResolveTest {
    @TempDir
    Path tmp;

    @Test
    void acceptsRegularFilesInsideTheModelDirectoryByRelativeOrAbsolutePath() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("models"));
        Path file = Files.writeString(dir.resolve("a.itm"), "x");
        assertEquals(file.toRealPath(), ModelLoader.resolve(dir, "a.itm"));
        assertEquals(file.toRealPath(), ModelLoader.resolve(dir, file.toString()));
        Files.createDirectories(dir.resolve("sub"));
        assertEquals(file.toRealPath(), ModelLoader.resolve(dir, "sub/../a.itm"));
    }

    @Test
    void refusesFilesOutsideTheModelDirectoryAlsoThroughSymlinksAndDotDot() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("models"));
        Path secret = Files.writeString(tmp.resolve("secret.itm"), "x");
        Files.createSymbolicLink(dir.resolve("link.itm"), secret);
        for (String p : new String[] {"../secret.itm", secret.toString(), "link.itm", "/etc/passwd"}) {
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> ModelLoader.resolve(dir, p), p);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code(), p);
            assertTrue(e.getMessage().contains("outside the model directory"), e.getMessage());
        }
    }

    @Test
    void refusesFifosAndDirectoriesWhichWouldBlockOrMisleadTheLoader() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("models"));
        Files.createDirectories(dir.resolve("d.itm"));
        Process mkfifo = new ProcessBuilder("mkfifo", dir.resolve("fifo.itm").toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor(), "mkfifo");
        for (String p : new String[] {"fifo.itm", "d.itm", "."}) {
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> ModelLoader.resolve(dir, p), p);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code(), p);
            assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
        }
    }

    @Test
    void aMissingFileOrABadNameIsNamedInTheError() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("models"));
        ShiftformerException missing = assertThrows(ShiftformerException.class, () -> ModelLoader.resolve(dir, "nope.itm"));
        assertEquals(ErrorCode.IO_ERROR, missing.code());
        assertTrue(missing.getMessage().contains("nope.itm") && missing.getMessage().contains("no such file"),
                missing.getMessage());
        ShiftformerException nul = assertThrows(ShiftformerException.class, () -> ModelLoader.resolve(dir, "a\0b"));
        assertEquals(ErrorCode.INVALID_ARGUMENT, nul.code());
    }
}
