package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.TestPki;

/** {@code translate --server}: the Java client against a real server on 127.0.0.1, printing as local translate does. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TranslateServerTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    private String run(String... args) {
        io.clearOut();
        io.clearErr();
        assertEquals(0, Main.run(args), io::err);
        return io.out();
    }

    /** The streamed lines: everything except the statistics lines (timings and identity differ). */
    private static List<String> streamedLines(String output) {
        return Arrays.stream(output.split("\n")).filter(l -> !l.trim().startsWith("[")).toList();
    }

    @Test
    void translateOnAServerPrintsTheSameTokensAsLocalDecoding(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        Artifact artifact = ArtifactReader.read(f);
        try (Backend backend = Backends.select("reference").open(Map.of());
             ShiftformerServer server = ShiftformerServer.start(
                     ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1").drainTimeoutMs(1_000).conclude(),
                     ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()))) {
            String address = "127.0.0.1:" + server.localAddress().getPort();
            for (String beam : new String[] {"1", "3"}) {
                String[] common = {"--beam", beam, "--max-new-tokens", "12", "ein test", "zweihundert"};
                String local = run(concat(new String[] {"translate", "--model", f.toString(), "--backend", "reference"}, common));
                String remote = run(concat(new String[] {"translate", "--server", address}, common));
                assertEquals(streamedLines(local), streamedLines(remote), "beam " + beam);
                assertTrue(remote.contains("server " + address) && remote.contains(artifact.sha256Hex().substring(0, 16)),
                        remote);
                String tokens = run(concat(new String[] {"translate", "--server", address, "--tokens"}, common));
                assertTrue(tokens.lines().filter(l -> l.trim().startsWith("token ")).count() >= 1, tokens);
            }
            assertEquals(0, server.stats().rejected(), "no request was rejected");
        }
    }

    @Test
    void translateOverMutualTlsWithATokenFile(@TempDir Path dir) throws Exception {
        Path f = io.randomModel(dir);
        Artifact artifact = ArtifactReader.read(f);
        TestPki pki = TestPki.create(dir.resolve("pki"));
        String token = "cli-test-token-0123456789abcdef";
        Path tokens = Files.writeString(dir.resolve("tokens"), "cli " + token + "\n");
        Path tokenFile = Files.writeString(dir.resolve("my-token"), token + "\n");
        try (Backend backend = Backends.select("reference").open(Map.of());
             ShiftformerServer server = ShiftformerServer.start(
                     ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1")
                             .drainTimeoutMs(1_000).tls(pki.serverCert(), pki.serverKey()).tlsClientCa(pki.caCert())
                             .tokensFile(tokens).conclude(),
                     ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()))) {
            String address = "127.0.0.1:" + server.localAddress().getPort();
            String[] common = {"--max-new-tokens", "8", "ein test"};
            String local = run(concat(new String[] {"translate", "--model", f.toString(), "--backend", "reference"}, common));
            String remote = run(concat(new String[] {"translate", "--server", address, "--tls-ca", pki.caCert().toString(),
                    "--tls-cert", pki.clientCert().toString(), "--tls-key", pki.clientKey().toString(),
                    "--token-file", tokenFile.toString()}, common));
            assertEquals(streamedLines(local), streamedLines(remote));
            // Without the token: the server's UNAUTHENTICATED, exit status 2.
            io.clearErr();
            assertEquals(2, Main.run(concat(new String[] {"translate", "--server", address, "--tls-ca",
                    pki.caCert().toString(), "--tls-cert", pki.clientCert().toString(), "--tls-key",
                    pki.clientKey().toString()}, common)));
            assertTrue(io.err().contains("[UNAUTHENTICATED]"), io::err);
            // Without a client certificate: the TLS session is refused.
            io.clearErr();
            assertEquals(2, Main.run(concat(new String[] {"translate", "--server", address, "--tls-ca",
                    pki.caCert().toString(), "--token-file", tokenFile.toString()}, common)));
            assertTrue(io.err().contains("[IO_ERROR]"), io::err);
        }
        io.clearErr();
        assertEquals(2, Main.run("translate", "--model", f.toString(), "--tls", "x"));
        assertTrue(io.err().contains("--server only"), io::err);
    }

    @Test
    void translateOnAServerReportsErrorsWithTheirCode() {
        assertEquals(2, Main.run("translate", "--server", "127.0.0.1:notaport", "x"));
        assertTrue(io.err().contains("[INVALID_ARGUMENT]") && io.err().contains("HOST:PORT"), io::err);
        io.clearErr();
        assertEquals(2, Main.run("translate", "--server", "127.0.0.1:1", "x"));
        assertTrue(io.err().contains("[IO_ERROR]") && io.err().contains("127.0.0.1:1"), io::err);
    }

    @Test
    void modelAndServerAreExclusive(@TempDir Path dir) {
        assertEquals(2, Main.run("translate", "--model", dir.resolve("m.itm").toString(), "--server", "127.0.0.1:7433", "x"));
        assertTrue(io.err().contains("mutually exclusive"), io::err);
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
