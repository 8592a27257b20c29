package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.engine.Translator;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.TestPki;

/**
 * The JavaScript client (clients/js) against real servers: starts a {@link ShiftformerServer} on
 * 127.0.0.1 with a small random model, computes what local decoding gives for a set of requests, and
 * runs {@code npm test} there with the server's address and those expected results (the JS tests
 * compare every token). A second server, whose model is slowed down and never emits EOS, gives the
 * cancel and deadline tests a request that cannot finish first. A third server serves the first model
 * over TLS with client certificates and a tokens file, with certificates made by {@link TestPki} for this
 * run; the JS tests get their PEM files and the token.
 *
 * <p>The expected results and the npm output are left in {@code cli/target/js-client}. Needs Node.js and npm: without them the test is skipped with the reason, except in CI
 * ({@code CI=true}), where it fails. {@code npm ci} runs first when {@code clients/js/node_modules} is
 * missing (it needs the npm registry once).
 */
class JsClientTest {
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 32, 2, 0, 1, 2);
    /** The slow server's model: many positions, so a greedy request runs for hundreds of slow steps. */
    private static final ModelConfig SLOW_CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 256, 2, 0, 1, 2);
    private static final int SLOW_STEP_MS = 20;
    /** Hang guards only: npm ci may download, and the JS tests run under whatever load the machine has. */
    private static final long NPM_CI_TIMEOUT_S = 600;
    private static final long NPM_TEST_TIMEOUT_S = 600;
    private static final Pattern NODE_VERSION = Pattern.compile("^v(\\d+)\\.");
    /** The TLS server's only token (made up for this test; the JS tests also send wrong ones). */
    private static final String TOKEN = "js-client-test-token-5f0c9a17e2";

    @Test
    void jsClientTestsPassAgainstARealServer(@TempDir Path dir) throws Exception {
        Path js = clientDir();
        requireNode();
        Path logs = Files.createDirectories(Path.of("target", "js-client").toAbsolutePath()); // kept for a look after a failure

        Path modelFile = dir.resolve("js-client.itm");
        RandomArtifacts.write(CFG, 11, modelFile, "JsClientTest");
        Path slowFile = dir.resolve("js-client-slow.itm");
        RandomArtifacts.write(SLOW_CFG, 12, slowFile, "JsClientTest slow");
        Artifact artifact = ArtifactReader.read(modelFile);
        Artifact slowArtifact = ArtifactReader.read(slowFile);
        Backend backend = Backends.select("reference").open(Map.of());
        ServerConfig config = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1").drainTimeoutMs(2_000).conclude();

        TestPki pki = TestPki.create(dir.resolve("pki"));
        Path tokens = Files.writeString(dir.resolve("tokens"), "js-client " + TOKEN + "\n");
        ServerConfig tlsConfig = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1")
                .drainTimeoutMs(2_000).tls(pki.serverCert(), pki.serverKey()).tlsClientCa(pki.caCert()).tokensFile(tokens)
                .conclude();

        Path expected = logs.resolve("expected.json");
        Files.writeString(expected, expectedJson(artifact, backend));

        try (ShiftformerServer server = ShiftformerServer.start(config,
                ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()));
             ShiftformerServer slow = ShiftformerServer.start(config,
                ServedModel.of(slowArtifact, new NoEosModel(backend.load(slowArtifact.model()), SLOW_STEP_MS),
                        backend.identity()));
             ShiftformerServer tls = ShiftformerServer.start(tlsConfig,
                ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()))) {
            if (!Files.isDirectory(js.resolve("node_modules"))) {
                run(js, logs.resolve("npm-ci.log"), NPM_CI_TIMEOUT_S, Map.of(),
                        Files.exists(js.resolve("package-lock.json")) ? List.of("npm", "ci") : List.of("npm", "install"));
            }
            Map<String, String> env = Map.ofEntries(
                    Map.entry("SHIFTFORMER_HOST", "127.0.0.1"),
                    Map.entry("SHIFTFORMER_PORT", Integer.toString(server.localAddress().getPort())),
                    Map.entry("SHIFTFORMER_SLOW_PORT", Integer.toString(slow.localAddress().getPort())),
                    Map.entry("SHIFTFORMER_TLS_PORT", Integer.toString(tls.localAddress().getPort())),
                    Map.entry("SHIFTFORMER_TLS_CA", pki.caCert().toString()),
                    Map.entry("SHIFTFORMER_TLS_CLIENT_CERT", pki.clientCert().toString()),
                    Map.entry("SHIFTFORMER_TLS_CLIENT_KEY", pki.clientKey().toString()),
                    Map.entry("SHIFTFORMER_TLS_ROGUE_CA", pki.rogueCaCert().toString()),
                    Map.entry("SHIFTFORMER_TLS_ROGUE_CERT", pki.rogueCert().toString()),
                    Map.entry("SHIFTFORMER_TLS_ROGUE_KEY", pki.rogueKey().toString()),
                    Map.entry("SHIFTFORMER_TLS_WRONG_NAME_CERT", pki.wrongNameCert().toString()),
                    Map.entry("SHIFTFORMER_TLS_WRONG_NAME_KEY", pki.wrongNameKey().toString()),
                    Map.entry("SHIFTFORMER_TOKEN", TOKEN),
                    Map.entry("SHIFTFORMER_EXPECTED", expected.toString()),
                    Map.entry("SHIFTFORMER_REQUIRE_SERVER", "1"));
            String log = run(js, logs.resolve("npm-test.log"), NPM_TEST_TIMEOUT_S, env, List.of("npm", "test"));
            assertTrue(log.contains("several concurrent translations on one connection equal local decoding"),
                    () -> "the server tests did not run:\n" + tail(log));
            assertTrue(log.contains("over mutual TLS with the token, translations equal local decoding"),
                    () -> "the TLS tests did not run:\n" + tail(log));
            assertTrue(server.stats().done() > 0, "the JS client's requests reached the server");
            assertTrue(slow.stats().cancelled() > 0, "the JS client cancelled a request on the slow server");
            assertTrue(tls.stats().done() > 0, "the JS client's requests reached the TLS server");
        }
    }

    // ---- the expected results -----------------------------------------------------------------------

    /**
     * The test requests and what local decoding (the same model, loaded once more on the same backend)
     * gives for them, as JSON: text sources go through {@link Translator}, token sources straight through
     * {@link Decoding}; parameters are resolved exactly as the server resolves them.
     */
    private static String expectedJson(Artifact artifact, Backend backend) {
        ByteBpeTokenizer tokenizer = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(),
                artifact.tokenizer().mergeRight());
        SplittableRandom rnd = new SplittableRandom(4);
        StringBuilder cases = new StringBuilder();
        try (LoadedModel local = backend.load(artifact.model())) {
            Translator translator = new Translator(local, tokenizer);
            for (int i = 0; i < 24; i++) {
                int beam = i % 4 == 3 ? 2 + rnd.nextInt(3) : 1;
                int maxNew = i % 5 == 0 ? 0 : 3 + rnd.nextInt(14);
                int alphaQ8 = beam > 1 ? rnd.nextInt(0, 513) : 0;
                DecodeParams params = new Message.Params(beam, maxNew, alphaQ8)
                        .resolve(CFG.maxPositions(), ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
                String text = null;
                int[] source = null;
                int[] tokens;
                DecodeResult result;
                if (i % 3 == 0) {
                    text = new String[] {"ein test ", "zweihundert ", "größer als € ", ""}[i % 4] + i;
                    Translator.Translation t = translator.translate(List.of(text), params, null).get(0);
                    tokens = t.tokens();
                    result = t.result();
                } else {
                    source = rnd.ints(1 + rnd.nextInt(12), 0, CFG.vocabSize()).toArray();
                    int[] withEos = Arrays.copyOf(source, source.length + 1);
                    withEos[source.length] = CFG.eosId();
                    result = Decoding.decode(local, List.of(withEos), params, TokenListener.NONE).get(0);
                    tokens = result.tokens();
                }
                cases.append(i == 0 ? "\n    " : ",\n    ").append('{')
                        .append(text != null ? "\"text\": " + json(text) : "\"tokens\": " + Arrays.toString(source))
                        .append(", \"beamWidth\": ").append(beam)
                        .append(", \"maxNewTokens\": ").append(maxNew)
                        .append(", \"alphaQ8\": ").append(alphaQ8)
                        .append(", \"expected\": {\"tokens\": ").append(Arrays.toString(tokens))
                        .append(", \"text\": ").append(json(tokenizer.decode(tokens)))
                        .append(", \"finishedByEos\": ").append(result.finishedByEos())
                        .append(", \"score\": \"").append(result.score()).append('"')
                        .append(", \"maxNewTokens\": ").append(params.maxNewTokens())
                        .append("}}");
            }
        }
        return "{\n  \"model\": {\"sha256\": " + json(artifact.sha256Hex())
                + ", \"vocabSize\": " + CFG.vocabSize() + ", \"maxPositions\": " + CFG.maxPositions()
                + ", \"eosId\": " + CFG.eosId()
                + ", \"backend\": {\"name\": " + json(backend.identity().backend())
                + ", \"device\": " + json(backend.identity().device())
                + ", \"version\": " + json(backend.identity().version()) + "}},\n"
                + "  \"cases\": [" + cases + "\n  ]\n}\n";
    }

    /** A JSON string literal (the file is UTF-8, so only quotes, backslashes and controls are escaped). */
    private static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    // ---- processes ----------------------------------------------------------------------------------

    /** clients/js of this checkout, found from the module directory Maven runs the test in. */
    private static Path clientDir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("clients/js/package.json"))) {
                return p.resolve("clients/js");
            }
        }
        fail("clients/js/package.json not found above " + Path.of("").toAbsolutePath());
        return null;
    }

    /** Node.js and npm must be on the PATH: skipped without them, except in CI, where that fails. */
    private static void requireNode() throws InterruptedException {
        for (String tool : new String[] {"node", "npm"}) {
            String problem;
            try {
                Process p = new ProcessBuilder(tool, "--version").redirectErrorStream(true).start();
                String version = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                problem = !p.waitFor(60, TimeUnit.SECONDS) ? tool + " --version hung"
                        : p.exitValue() != 0 ? tool + " --version exited with " + p.exitValue()
                        : tool.equals("node") && nodeMajor(version) < 20 ? "node " + version + " is older than 20"
                        : null;
            } catch (IOException e) {
                problem = tool + " not found on the PATH (" + e.getMessage() + ")";
            }
            if (problem != null) {
                if ("true".equals(System.getenv("CI"))) {
                    fail("the JavaScript client tests need Node.js 20+ and npm in CI: " + problem);
                }
                Assumptions.abort("JavaScript client tests skipped: " + problem + "; install Node.js 20+ and npm");
            }
        }
    }

    /** The major version of {@code node --version}'s answer ({@code v20.20.2}), or -1. */
    private static int nodeMajor(String version) {
        Matcher m = NODE_VERSION.matcher(version);
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    /** Runs {@code command} in {@code dir}, its output to {@code logFile}; fails unless it exits 0. */
    private static String run(Path dir, Path logFile, long timeoutS, Map<String, String> env, List<String> command)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(logFile.toFile());
        pb.environment().putAll(env);
        pb.environment().put("NO_COLOR", "1");
        Process p = pb.start();
        if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
            fail(String.join(" ", command) + " in " + dir + " did not finish within " + timeoutS + " s:\n"
                    + tail(Files.readString(logFile, StandardCharsets.UTF_8)));
        }
        String log = Files.readString(logFile, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), () -> String.join(" ", command) + " in " + dir + " failed:\n" + tail(log));
        return log;
    }

    private static String tail(String log) {
        List<String> lines = new ArrayList<>(log.lines().toList());
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 150), lines.size()));
    }

    // ---- the slow model -----------------------------------------------------------------------------

}
