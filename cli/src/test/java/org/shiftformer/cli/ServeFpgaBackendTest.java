package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --backend fpga} on a machine without XRT (this one; the test skips where XRT is
 * installed): without a fallback it fails fast naming the missing library and how to point at it; with
 * {@code --fallback sim} a real server process serves from the simulator and says so in its output, in
 * {@code /health/ready} and in the {@code shiftformer_model_info} gauge's tags.
 */
class ServeFpgaBackendTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @BeforeEach
    void noXrtHere() {
        assumeTrue(System.getProperty("shiftformer.xrt.lib") == null && System.getenv("XILINX_XRT") == null
                        && !Files.exists(Path.of("/opt/xilinx/xrt/lib")),
                "XRT (or the emulation) is configured on this machine: the no-XRT behaviour cannot be observed");
    }

    @Test
    void withoutXrtServeFailsFastNamingTheLibraryAndHowToPointAtIt(@TempDir Path dir) {
        assertEquals(2, Main.run("serve", "--model", dir.resolve("never-read.itm").toString(), "--backend", "fpga",
                "--port", "0", "--admin-port", "0"));
        String e = io.err();
        assertTrue(e.contains("error: [BACKEND_UNAVAILABLE] backend 'fpga' is unavailable"), e);
        assertTrue(e.contains("libxrt_coreutil"), e);
        assertTrue(e.contains("shiftformer.xrt.lib") && e.contains("XILINX_XRT"), e);
        assertTrue(e.contains("available: sim, reference"), e);
    }

    @Test
    void withFallbackSimAServerProcessServesFromTheSimulatorAndSaysSo(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("m.itm");
        assertEquals(0, Main.run("random", "--preset", "tiny", "-o", model.toString()));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                "org.shiftformer.cli.Main", "serve", "--model", model.toString(), "--backend", "fpga", "--fallback", "sim",
                "--port", "0", "--admin-port", "0", "--bind", "127.0.0.1"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("XILINX_XRT");
        Process p = pb.start();
        try {
            StringBuilder output = new StringBuilder();
            String admin = null;
            String listening = null;
            Pattern adminLine = Pattern.compile("admin on (http://\\S+?:\\d+)");
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while (admin == null && (line = r.readLine()) != null) { // EOF if the process dies: no hang
                    output.append(line).append('\n');
                    if (line.startsWith("listening on")) {
                        listening = line;
                    }
                    Matcher m = adminLine.matcher(line);
                    if (m.find()) {
                        admin = m.group(1);
                    }
                }
                assertTrue(admin != null, "no admin address in the output:\n" + output);
                String out = output.toString();
                assertTrue(out.contains("backend 'fpga' is unavailable") && out.contains("fell back to 'sim'"), out);
                assertTrue(listening != null && listening.contains("backend sim") && listening.contains("a fallback for fpga"),
                        out);

                HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
                HttpResponse<String> ready = http.send(HttpRequest.newBuilder(URI.create(admin + "/health/ready"))
                        .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, ready.statusCode(), ready.body());
                assertTrue(ready.body().startsWith("ready; fallback: backend 'fpga' is unavailable"), ready.body());
                assertTrue(ready.body().contains("libxrt_coreutil") && ready.body().contains("fell back to 'sim'"), ready.body());

                HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(admin + "/metrics"))
                        .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
                String info = metrics.body().lines().filter(l -> l.startsWith("shiftformer_model_info{")).findFirst()
                        .orElseThrow(() -> new AssertionError("no shiftformer_model_info in\n" + metrics.body()));
                assertTrue(info.contains("backend=\"sim\"") && info.contains("fallback=\"true\"")
                        && info.contains("requested_backend=\"fpga\"") && info.matches(".* 1(\\.0)?"), info);
            }
        } finally {
            p.destroy(); // SIGTERM: the shutdown hook drains and closes
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
