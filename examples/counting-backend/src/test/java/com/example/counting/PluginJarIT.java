package com.example.counting;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The jar this build made, as a user installs it: in a plugins directory given to the shiftformer
 * launcher, in a process of its own. It conforms; its deliberately broken variant does not, and the
 * report names the op.
 */
class PluginJarIT {
    private record Run(int exit, String out) {
    }

    private static Run shiftformer(Path plugins, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-jar", System.getProperty("shiftformer.jar")));
        cmd.addAll(List.of(args));
        cmd.addAll(List.of("--plugins", plugins.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the launcher did not finish");
        return new Run(p.exitValue(), out);
    }

    @Test
    void theBuiltJarLoadsAsAPluginAndConformsAndItsBrokenVariantDoesNot(@TempDir Path plugins) throws Exception {
        Path jar = Path.of(System.getProperty("plugin.jar"));
        Files.copy(jar, plugins.resolve(jar.getFileName()));
        Run list = shiftformer(plugins, "backends");
        assertEquals(0, list.exit(), list.out());
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith("counting ") && l.contains("available")), list.out());

        Run ok = shiftformer(plugins, "conformance", "--backend", "counting");
        assertEquals(0, ok.exit(), ok.out());
        assertTrue(ok.out().contains("backend counting: CONFORMS (9 of 9 checks bit-exact)"), ok.out());

        Run broken = shiftformer(plugins, "conformance", "--backend", "counting", "--backend-option",
                "break=requantize-ties");
        assertEquals(1, broken.exit(), broken.out());
        assertTrue(broken.out().contains("FAIL requantizeMatchesReferenceIncludingTiesAndSaturation"), broken.out());
        assertTrue(broken.out().contains("requantize case "), broken.out());
        assertTrue(broken.out().contains("DOES NOT CONFORM (8 of 9 checks bit-exact)"), broken.out());
    }
}
