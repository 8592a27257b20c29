package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.backend.PluginJars;

/**
 * {@code --plugins DIR} on {@code backends} and {@code translate}: a plugin jar built while the test runs
 * is listed and decodes exactly as the backend it wraps; a jar of another SPI version is reported by name
 * and reason while the rest works.
 */
class PluginsCommandTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @Test
    void pluginsAreListedUsedAndTheirProblemsReported(@TempDir Path work) throws Exception {
        Path dir = Files.createDirectories(work.resolve("plugins"));
        PluginJars.build(work, dir.resolve("wrapper.jar"), Map.of("ext.cli.WrapperProvider",
                PluginJars.provider("ext.cli", "WrapperProvider", "wrapper", "SPI_VERSION", "")),
                List.of("ext.cli.WrapperProvider"));
        PluginJars.build(work, dir.resolve("next-spi.jar"), Map.of("ext.cli.NextProvider",
                PluginJars.provider("ext.cli", "NextProvider", "next-spi", "2", "")), List.of("ext.cli.NextProvider"));
        assertEquals(0, Main.run("backends", "--plugins", dir.toString()), io::err);
        assertTrue(io.out().lines().anyMatch(l -> l.startsWith("wrapper ") && l.contains("available")), io.out());
        assertTrue(io.out().contains("not installed: plugin next-spi.jar: provider ext.cli.NextProvider: built for SPI "
                + "version 2, this runtime speaks [1]"), io.out());
        assertTrue(io.err().contains("warning: plugin next-spi.jar"), io.err());

        Path model = io.randomModel(work);
        io.clearOut();
        assertEquals(0, Main.run("translate", "--model", model.toString(), "--backend", "reference", "--tokens",
                "ein test"), io::err);
        String reference = io.out();
        io.clearOut();
        assertEquals(0, Main.run("translate", "--model", model.toString(), "--backend", "wrapper", "--plugins",
                dir.toString(), "--tokens", "ein test"), io::err);
        assertEquals(reference.lines().filter(l -> l.trim().startsWith("token ")).toList(),
                io.out().lines().filter(l -> l.trim().startsWith("token ")).toList());
        assertEquals(2, Main.run("backends", "--plugins", work.resolve("none").toString()));
        assertTrue(io.err().contains("[INVALID_ARGUMENT] plugin directory"), io::err);
    }
}
