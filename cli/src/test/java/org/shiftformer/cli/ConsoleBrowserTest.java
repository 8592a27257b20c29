package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.micrometer.core.instrument.Timer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.logging.Level;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TranslationFuture;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.artifact.ArtifactWriter;
import org.shiftformer.core.artifact.Provenance;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.engine.Translator;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.TestPki;

/**
 * The admin port's web console ({@code GET /console}, README "Console") in a real browser: Debian's
 * {@code chromium}, headless, driven through {@code chromedriver} by Selenium, against real servers on
 * 127.0.0.1 with a small random model on the {@code sim} backend (EOS masked, so every stream runs to the
 * model's length and carries partial UTF-8 between tokens). The page loads without a browser console message of level WARNING
 * or above (checked after every test), shows the model card; the playground's streamed text and token ids
 * equal local decoding (greedy and beam, umlauts included); Cancel ends a long stream on a slowed-down
 * server; the gauges move under a background load, and the latency histograms count its observations as
 * the server's timers do; a server with a tokens file gets its token asked for,
 * kept out of every browser storage, over TLS ({@code https://} and {@code wss://}, Chromium trusting only this
 * run's server key). Screenshots go to {@code cli/target/console}.
 *
 * <p>Without chromium and chromedriver the tests are skipped with the reason, except in CI ({@code CI=true}),
 * where that fails ({@code .ci/run} installs them).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ConsoleBrowserTest {
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 64, 2, 0, 1, 2);
    /** The slow server's model: many positions, so a stream runs for hundreds of slow steps. */
    private static final ModelConfig SLOW_CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 256, 2, 0, 1, 2);
    private static final int SLOW_STEP_MS = 20;
    /** The page's beam width (console.js BEAM_WIDTH, within the server's limit). */
    private static final int BEAM_WIDTH = 4;
    private static final String TOKEN = "console-test-token-9d41c0e7";
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** The provenance scores of the main test model (the slow one has none). */
    private static final Map<String, Double> SCORES = new java.util.LinkedHashMap<>(Map.of(
            "fp32.exact_match", 0.8125, "int8.exact_match", 0.796875, "int8.chrf", 61.234567));

    @TempDir
    static Path dir;
    private static Path shots;
    private static Artifact artifact;
    private static Artifact slowArtifact;
    private static Backend backend;
    private static ShiftformerServer server;
    private static ShiftformerServer slow;
    private static ShiftformerServer guarded;
    private static ChromeDriver browser;

    @BeforeAll
    static void start() throws IOException {
        Path[] tools = requireChromium();
        shots = Files.createDirectories(Path.of("target", "console").toAbsolutePath());
        Path modelFile = dir.resolve("console.itm");
        RandomArtifacts.write(CFG, 21, modelFile, "ConsoleBrowserTest");
        Artifact random = ArtifactReader.read(modelFile); // written again with scores, as a trained model has
        ArtifactWriter.write(random.model(), random.tokenizer(), new Provenance(random.provenance().trainer(), 0, "", "", "",
                SCORES), modelFile);
        Path slowFile = dir.resolve("console-slow.itm");
        RandomArtifacts.write(SLOW_CFG, 22, slowFile, "ConsoleBrowserTest slow");
        artifact = ArtifactReader.read(modelFile);
        slowArtifact = ArtifactReader.read(slowFile);
        backend = Backends.select("sim").open(Map.of());
        ServerConfig config = ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").drainTimeoutMs(2_000)
                .conclude();
        Path tokens = Files.writeString(dir.resolve("tokens"), "console " + TOKEN + "\n");
        server = ShiftformerServer.start(config, ServedModel.of(artifact, new NoEosModel(backend.load(artifact.model())),
                backend.identity()));
        slow = ShiftformerServer.start(config, ServedModel.of(slowArtifact,
                new NoEosModel(backend.load(slowArtifact.model()), SLOW_STEP_MS), backend.identity()));
        TestPki pki = TestPki.create(dir.resolve("pki"));
        guarded = ShiftformerServer.start(ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1")
                .drainTimeoutMs(2_000).tls(pki.serverCert(), pki.serverKey()).tokensFile(tokens).conclude(),
                ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()));

        ChromeOptions options = new ChromeOptions().setBinary(tools[0].toFile())
                .addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=1200,1000", "--no-first-run", "--disable-extensions",
                        // the TLS server's certificate (this run's test CA) and no other
                        "--ignore-certificate-errors-spki-list=" + spkiHash(pki.serverCert()));
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability(ChromeOptions.LOGGING_PREFS, logs);
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(tools[1].toFile())
                .usingAnyFreePort().withLogOutput(Files.newOutputStream(shots.resolve("chromedriver.log"))).build();
        browser = new ChromeDriver(service, options);
        // the console check below is only worth something if the browser's log reaches us: a probe
        open(server);
        js("console.error('console-browser-test probe')");
        List<String> logged = problems();
        assertTrue(logged.stream().anyMatch(m -> m.contains("console-browser-test probe")), "the browser's log is read");
        assertEquals(List.of(), logged.stream().filter(m -> !m.contains("console-browser-test probe")).toList(),
                "browser console messages of the first load");
    }

    @AfterAll
    static void stop() {
        for (AutoCloseable c : new AutoCloseable[] {browser == null ? null : browser::quit, server, slow, guarded}) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    System.err.println("ConsoleBrowserTest: closing " + c + ": " + e);
                }
            }
        }
        if (backend != null) {
            backend.close();
        }
    }

    /** Every test: the browser logged nothing at WARNING or above (a failed script, request or socket). */
    @AfterEach
    void noConsoleErrors() {
        assertEquals(List.of(), problems(), "browser console messages");
    }

    /** The browser's log messages at WARNING or above since the last call (reading empties the log). */
    private static List<String> problems() {
        List<String> bad = new ArrayList<>();
        for (LogEntry e : browser.manage().logs().get(LogType.BROWSER)) {
            if (e.getLevel().intValue() >= Level.WARNING.intValue()) {
                bad.add(e.getLevel() + " " + e.getMessage());
            }
        }
        return bad;
    }

    @Test
    void thePageShowsTheModelAndBackend() {
        open(server);
        await("the model card", () -> text("m-sha256").equals(artifact.sha256Hex()));
        assertEquals("d_model 32, 2 heads, d_ff 64, 2+2 layers, 64 positions", text("m-shape"));
        assertTrue(text("m-backend").startsWith(backend.identity().backend() + " ("), text("m-backend"));
        assertTrue(text("m-vocab").startsWith("300 "), text("m-vocab"));
        assertEquals("open", browser.findElement(By.id("connection")).getDomAttribute("data-state"));
        await("the gauges", () -> text("g-connections").matches("\\d+") && text("g-tokens").matches("\\d+"));
        assertTrue(Integer.parseInt(text("g-connections")) >= 1, "the page's own WebSocket is a connection");
        // the artifact's scores: each name with its value (the exact one, and 4 significant digits shown)
        await("the model's scores", () -> !browser.findElements(By.cssSelector("#m-scores .score")).isEmpty());
        Map<String, Double> shown = new java.util.TreeMap<>();
        List<String> texts = new ArrayList<>();
        for (WebElement e : browser.findElements(By.cssSelector("#m-scores .score"))) {
            shown.put(e.getDomAttribute("data-score"), Double.parseDouble(e.getDomAttribute("data-value")));
            texts.add(e.getText());
        }
        assertEquals(new java.util.TreeMap<>(SCORES), shown, "the scores on the model card");
        assertEquals(List.of("fp32.exact_match 0.8125", "int8.chrf 61.23", "int8.exact_match 0.7969"), texts);
        open(slow);
        await("a model without scores", () -> text("m-scores").equals("none recorded"));
    }

    @Test
    void thePlaygroundStreamsWhatLocalDecodingGives() {
        ByteBpeTokenizer tokenizer = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
        open(server);
        await("the connection", () -> browser.findElement(By.id("translate")).isEnabled());
        String[] sources = {"ein kleiner Test", "größer als € über die Straße", "Ärger, Öl und Übermut", "zweihundert"};
        try (LoadedModel local = new NoEosModel(backend.load(artifact.model()))) {
            Translator translator = new Translator(local, tokenizer);
            for (int i = 0; i < sources.length + 1; i++) {
                int beam = i == sources.length ? BEAM_WIDTH : 1;
                String source = sources[i % sources.length];
                DecodeParams params = new Message.Params(beam, 0, 0).resolve(CFG.maxPositions(),
                        ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
                Translator.Translation expected = translator.translate(List.of(source), params, null).get(0);
                js("document.getElementById('source').value = arguments[0];"
                        + "document.getElementById('mode').value = arguments[1];", source, beam > 1 ? "beam" : "greedy");
                browser.findElement(By.id("translate")).click();
                await("the translation of '" + source + "'", () -> !state().equals("streaming"));
                assertEquals("done", state(), () -> "'" + source + "': " + text("result"));
                assertEquals(expected.text(), js("return document.getElementById('output').textContent;"),
                        () -> "streamed text of '" + source + "' (beam " + beam + ")");
                List<Object> ids = js("return [...document.querySelectorAll('#tokens li')].map(li => Number(li.dataset.token));");
                assertEquals(java.util.Arrays.stream(expected.tokens()).boxed().toList(),
                        ids.stream().map(o -> ((Number) o).intValue()).toList(), () -> "streamed tokens of '" + source + "'");
                assertEquals(expected.tokens().length,
                        ((Number) js("return document.querySelectorAll('#cycles-chart rect').length;")).intValue(),
                        "one bar per token in the cycles chart");
                List<Object> cycles = js("return [...document.querySelectorAll('#tokens li')].map(li => Number(li.dataset.cycles));");
                assertTrue(cycles.stream().allMatch(c -> ((Number) c).longValue() >= 0)
                        && cycles.stream().mapToLong(c -> ((Number) c).longValue()).sum() > 0, () -> "modelled cycles shown: " + cycles);
                if (i == 1) {
                    screenshot("console.png");
                }
            }
        }
    }

    @Test
    void cancelEndsALongStream() {
        open(slow);
        await("the connection", () -> browser.findElement(By.id("translate")).isEnabled());
        long cancelledBefore = slow.stats().cancelled();
        browser.findElement(By.id("translate")).click();
        await("tokens streaming in", () -> browser.findElements(By.cssSelector("#tokens li")).size() >= 3);
        browser.findElement(By.id("cancel")).click();
        await("the stream's end", () -> !state().equals("streaming"));
        assertEquals("cancelled", state(), text("result"));
        int shown = browser.findElements(By.cssSelector("#tokens li")).size();
        assertTrue(shown < SLOW_CFG.maxPositions() - 1, "cancelled after " + shown + " tokens, not at the end");
        await("the server's count of cancelled requests", () -> slow.stats().cancelled() == cancelledBefore + 1);
        WebElement last = browser.findElements(By.cssSelector("#tokens li")).get(shown - 1);
        assertTrue(last.getDomAttribute("data-cycles").matches("\\d+"), "each token shows its modelled device cycles");
    }

    /**
     * The gauges move under a background load and come back to rest; the latency histograms (time to first
     * token, between tokens) count the load's observations, in Micrometer's buckets merged by factors of 4,
     * and in the end show exactly the server's own timer counts.
     */
    @Test
    void theGaugesMoveUnderABackgroundLoad() throws Exception {
        open(slow);
        await("idle gauges", () -> text("g-tokens").equals("0") && text("g-streams").equals("0"));
        await("the histograms", () -> total("h-ttft") >= 0 && total("h-itl") >= 0);
        long ttftBefore = total("h-ttft");
        long itlBefore = total("h-itl");
        try (ShiftformerClient client = ShiftformerClient.connect("127.0.0.1", slow.localAddress().getPort())) {
            List<TranslationFuture> load = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                load.add(client.translate(TranslationRequest.tokens(5 + i, 6, 7).greedy().maxNewTokens(200)));
            }
            await("the gauges under load", () -> num("g-streams") >= 4 && num("g-tokens") > 0 && num("g-connections") >= 2
                    && num("g-batch") >= 4 && num("g-itl") > 0);
            await("the histograms under load", () -> total("h-ttft") >= ttftBefore + 4 && total("h-itl") > itlBefore);
            screenshot("console-load.png");
            for (TranslationFuture f : load) {
                f.cancel(true);
            }
        }
        await("the gauges after the load", () -> text("g-streams").equals("0") && text("g-tokens").equals("0"));
        for (String[] h : new String[][] {{"h-ttft", ServerMeters.TIME_TO_FIRST_TOKEN},
                {"h-itl", ServerMeters.INTER_TOKEN_LATENCY}}) {
            long served = slow.meterRegistry().find(h[1]).timers().stream().mapToLong(Timer::count).sum();
            await(h[0] + " showing the server's count " + served, () -> total(h[0]) == served);
            List<Object> bars = js("return [...document.querySelectorAll('#' + arguments[0] + ' rect')]"
                    + ".map(r => Number(r.dataset.count));", h[0]);
            assertEquals(served, bars.stream().mapToLong(o -> ((Number) o).longValue()).sum(), h[0] + " bars add up");
            assertTrue(bars.stream().filter(o -> ((Number) o).longValue() > 0).count() >= 1, h[0] + " has a bar");
            assertEquals(List.of("≤1ms", "≤4.2ms", "≤17ms", "≤67ms", "≤270ms", "≤1.1s", "≤4.3s", "≤17s", ">17s"),
                    js("return [...document.querySelectorAll('#' + arguments[0] + '-axis span')].map(s => s.textContent);",
                            h[0]), h[0] + " bins");
        }
    }

    /**
     * Hundreds of streams in flight: the page shows them as gauges (live streams and queue depth count them
     * all) and rates, not a row per stream: its element count stays what it was with none, and it keeps
     * updating (the gauges fall back to zero once the load is cancelled).
     */
    @Test
    void hundredsOfStreamsInFlightKeepThePageSmall() throws Exception {
        open(slow);
        await("idle gauges", () -> text("g-streams").equals("0") && text("g-queue").equals("0"));
        long elements = js("return document.getElementsByTagName('*').length;");
        int perConnection = 150;
        try (ShiftformerClient a = ShiftformerClient.connect("127.0.0.1", slow.localAddress().getPort());
             ShiftformerClient b = ShiftformerClient.connect("127.0.0.1", slow.localAddress().getPort())) {
            List<TranslationFuture> load = new ArrayList<>();
            for (int i = 0; i < perConnection; i++) {
                for (ShiftformerClient c : new ShiftformerClient[] {a, b}) {
                    load.add(c.translate(TranslationRequest.tokens(5 + i % 7, 6, 7).greedy().maxNewTokens(250)));
                }
            }
            await("300 streams on the gauges", () -> num("g-streams") + num("g-queue") >= 2 * perConnection);
            long underLoad = js("return document.getElementsByTagName('*').length;");
            assertTrue(underLoad <= elements + 16, "elements with no stream " + elements + ", with 300: " + underLoad);
            screenshot("console-300-streams.png");
            for (TranslationFuture f : load) {
                f.cancel(true);
            }
        }
        await("the gauges after the load", () -> text("g-streams").equals("0") && text("g-queue").equals("0"));
    }

    @Test
    void overTlsAServerWithATokensFileGetsItsTokenAskedFor() {
        open(guarded);
        assertTrue(browser.getCurrentUrl().startsWith("https://"), browser.getCurrentUrl());
        await("the token form", () -> browser.findElement(By.id("auth")).isDisplayed());
        assertEquals("–", text("m-sha256"), "nothing shown before the token");
        browser.findElement(By.id("token")).sendKeys("wrong-token");
        browser.findElement(By.id("auth-submit")).click();
        await("the refusal", () -> text("auth-error").startsWith("refused"));
        browser.findElement(By.id("token")).sendKeys(TOKEN);
        browser.findElement(By.id("auth-submit")).click();
        await("the model card", () -> text("m-sha256").equals(artifact.sha256Hex()));
        assertTrue(!browser.findElement(By.id("auth")).isDisplayed(), "the token form is gone");
        assertEquals(0L, (long) js("return localStorage.length + sessionStorage.length + document.cookie.length;"),
                "the token is kept in memory only");
        assertTrue(!browser.getPageSource().contains(TOKEN), "the token is not in the page");
    }

    // ---- helpers --------------------------------------------------------------------------------------

    /** Debian's chromium and chromedriver: {binary, driver}; skipped without them, failing in CI. */
    private static Path[] requireChromium() {
        Path binary = firstExisting("/usr/lib/chromium/chromium", "/usr/bin/chromium");
        Path driver = firstExisting("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver");
        if (binary == null || driver == null) {
            String problem = (binary == null ? "chromium" : "chromedriver") + " is not installed";
            if ("true".equals(System.getenv("CI"))) {
                fail("the console's browser tests need chromium and chromedriver in CI: " + problem);
            }
            Assumptions.abort("console browser tests skipped: " + problem
                    + "; apt-get install chromium chromium-driver");
        }
        return new Path[] {binary, driver};
    }

    /** Base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo (what Chromium's SPKI allow-list takes). */
    private static String spkiHash(Path pem) {
        try (var in = Files.newInputStream(pem)) {
            var cert = java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in);
            return java.util.Base64.getEncoder().encodeToString(
                    java.security.MessageDigest.getInstance("SHA-256").digest(cert.getPublicKey().getEncoded()));
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new IllegalStateException("reading " + pem, e);
        }
    }

    private static Path firstExisting(String... paths) {
        for (String p : paths) {
            if (Files.isExecutable(Path.of(p))) {
                return Path.of(p);
            }
        }
        return null;
    }

    private static void open(ShiftformerServer s) {
        browser.get((s == guarded ? "https" : "http") + "://127.0.0.1:" + s.adminAddress().getPort() + "/console");
    }

    private static String text(String id) {
        return browser.findElement(By.id(id)).getText();
    }

    private static double num(String id) {
        String t = text(id);
        return t.matches("\\d+(\\.\\d+)?") ? Double.parseDouble(t) : -1;
    }

    /** The observations a latency histogram shows in all (-1 before the page has drawn it). */
    private static long total(String id) {
        String t = browser.findElement(By.id(id)).getDomAttribute("data-total");
        return t == null ? -1 : Long.parseLong(t);
    }

    private static String state() {
        return browser.findElement(By.id("result")).getDomAttribute("data-state");
    }

    @SuppressWarnings("unchecked")
    private static <T> T js(String script, Object... args) {
        return (T) ((JavascriptExecutor) browser).executeScript(script, args);
    }

    private static void await(String what, Supplier<Boolean> condition) {
        long end = System.nanoTime() + WAIT.toNanos();
        while (!condition.get()) {
            if (System.nanoTime() - end > 0) {
                screenshot("failure.png");
                fail("timed out after " + WAIT.toSeconds() + " s waiting for " + what);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail("interrupted waiting for " + what);
            }
        }
    }

    private static void screenshot(String name) {
        try {
            Files.write(shots.resolve(name), browser.getScreenshotAs(OutputType.BYTES));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
