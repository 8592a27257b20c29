package org.shiftformer.api.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Plugin jars built while the test runs ({@link PluginJars}): a working one (the conformance module runs
 * the whole kit on it through its class loader); and jars that must be refused, each
 * reported with its jar and reason while the others load: an incompatible SPI version, a provider that
 * throws, one that reaches a class outside {@code org.shiftformer.api} (isolation), a name already
 * installed, a jar with no provider, a file that is not a jar.
 */
class PluginsTest {
    @TempDir
    static Path work;
    static Path dir;
    static Plugins.Report report;

    @BeforeAll
    static void buildAndLoad() throws Exception {
        dir = Files.createDirectories(work.resolve("plugins"));
        PluginJars.build(work, dir.resolve("a-good.jar"), Map.of("ext.good.CountingProvider",
                PluginJars.provider("ext.good", "CountingProvider", "counting", "SPI_VERSION", "")),
                List.of("ext.good.CountingProvider"));
        PluginJars.build(work, dir.resolve("b-future.jar"), Map.of("ext.future.FutureProvider",
                PluginJars.provider("ext.future", "FutureProvider", "future", "99", "")),
                List.of("ext.future.FutureProvider"));
        PluginJars.build(work, dir.resolve("c-throws.jar"), Map.of("ext.bad.ThrowingProvider",
                PluginJars.provider("ext.bad", "ThrowingProvider", "throwing", "SPI_VERSION",
                        "throw new IllegalStateException(\"no licence file\");")),
                List.of("ext.bad.ThrowingProvider"));
        // Compiles against JUnit (on the test class path) but must not see it at run time: isolation.
        PluginJars.build(work, dir.resolve("d-leaky.jar"), Map.of("ext.leaky.LeakyProvider",
                PluginJars.provider("ext.leaky", "LeakyProvider", "leaky", "SPI_VERSION",
                        "org.junit.jupiter.api.Assertions.assertTrue(true);")),
                List.of("ext.leaky.LeakyProvider"));
        PluginJars.build(work, dir.resolve("e-duplicate.jar"), Map.of("ext.dup.DupProvider",
                PluginJars.provider("ext.dup", "DupProvider", "reference", "SPI_VERSION", "")),
                List.of("ext.dup.DupProvider"));
        PluginJars.build(work, dir.resolve("f-empty.jar"), Map.of("ext.none.Nothing",
                "package ext.none; public final class Nothing {}"), List.of());
        Files.write(dir.resolve("g-garbage.jar"), new byte[] {1, 2, 3, 4, 5});
        Files.writeString(dir.resolve("readme.txt"), "not a jar: ignored");
        report = Backends.addPlugins(dir);
    }

    private static String problemOf(String jar) {
        List<String> p = report.problems().stream().filter(s -> s.startsWith("plugin " + jar + ":")).toList();
        assertEquals(1, p.size(), () -> jar + " in " + report.problems());
        return p.get(0);
    }

    @Test
    void aGoodJarLoadsAndEveryBadOneIsReportedWithItsReason() {
        assertEquals(List.of("counting (a-good.jar)"), report.loaded());
        assertTrue(problemOf("b-future.jar").contains("built for SPI version 99, this runtime speaks [1]"),
                problemOf("b-future.jar"));
        assertTrue(problemOf("c-throws.jar").contains("no licence file"), problemOf("c-throws.jar"));
        assertTrue(problemOf("d-leaky.jar").contains("org/junit/jupiter/api/Assertions"), problemOf("d-leaky.jar"));
        assertTrue(problemOf("e-duplicate.jar").contains("backend name 'reference' is already installed"),
                problemOf("e-duplicate.jar"));
        assertTrue(problemOf("f-empty.jar").contains("declares no backend"), problemOf("f-empty.jar"));
        assertTrue(problemOf("g-garbage.jar").contains("not a readable jar"), problemOf("g-garbage.jar"));
        assertEquals(6, report.problems().size(), report.problems()::toString);
        assertTrue(Backends.problems().containsAll(report.problems()));
    }

    @Test
    void thePluginIsInstalledInItsOwnClassLoaderSeeingOnlyTheApi() throws Exception {
        BackendProvider p = Backends.select("counting");
        assertTrue(p.getClass().getClassLoader().getName().startsWith("shiftformer-plugin-a-good.jar"));
        assertEquals(BackendProvider.class, p.getClass().getClassLoader().loadClass(BackendProvider.class.getName()));
        assertThrows(ClassNotFoundException.class, () -> p.getClass().getClassLoader().loadClass(Test.class.getName()));
        assertTrue(Backends.installed().stream().anyMatch(b -> b.name().equals("counting")));
        assertTrue(Backends.installed().stream().noneMatch(b -> b.name().equals("future") || b.name().equals("leaky")));
        assertTrue(Backends.addPlugins(dir).loaded().isEmpty(), "a directory is loaded once");
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> Backends.addPlugins(work.resolve("missing")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }
}
