package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.assertDone;
import static org.shiftformer.core.server.ServerFixture.await;
import static org.shiftformer.core.server.ServerFixture.request;

import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.core.server.security.Tokens;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.ProtocolVersion;
import org.shiftformer.protocol.TestPki;

/**
 * TLS and bearer tokens (issue: safe to expose; SECURITY.md) over real TLS on loopback, with
 * certificates made when the test runs ({@link TestPki}): the protocol port and the admin port with and
 * without client certificates, tokens checked at Hello (missing, unknown, revoked, reloaded), per-token
 * in-flight limits over several connections, the admin token, the metrics by client, and start-up errors
 * that name the file at fault.
 */
class TlsAndTokensTest {
    static {
        LeakCheck.install();
    }

    private static final int[] SOURCE = {5, 6, 7};
    private static final String ALICE = "alice-token-0123456789abcdef";
    private static final String BOB = "bob-token-0123456789abcdef012";
    private static final String OPS = "ops-token-0123456789abcdef0123";

    @TempDir
    static Path dir;
    private static ServerFixture fixture;
    private static TestPki pki;
    private static int[] expected;

    @BeforeAll
    static void setUp() {
        fixture = new ServerFixture(dir, 31, "tls");
        pki = TestPki.create(dir.resolve("pki"));
        expected = fixture.expectedTokens(SOURCE, 4);
    }

    @AfterAll
    static void tearDown() {
        fixture.backend.close();
    }

    private static SSLContext clientTls(Path trust, Path cert, Path key) throws SSLException {
        SslContextBuilder b = SslContextBuilder.forClient().sslProvider(SslProvider.JDK).trustManager(trust.toFile());
        if (cert != null) {
            b.keyManager(cert.toFile(), key.toFile());
        }
        return ((JdkSslContext) b.build()).context();
    }

    private static ServerConfig.Builder tlsConfig() {
        return ServerFixture.config().tls(pki.serverCert(), pki.serverKey());
    }

    private static Message hello(TestClient c, String token) throws IOException {
        c.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "tls-test", token));
        return c.read();
    }

    private static void translateOnce(TestClient c, long id) throws IOException {
        c.send(request(id, SOURCE, 4));
        assertDone(id, c.readTerminals(1).get(id), expected);
    }

    private static String metrics(ShiftformerServer server) {
        return ((io.micrometer.prometheusmetrics.PrometheusMeterRegistry) server.meterRegistry()).scrape();
    }

    @Test
    void tlsServesTheProtocolAndRefusesPlaintextAndUntrustedServers() throws Exception {
        try (ShiftformerServer server = fixture.start(tlsConfig().conclude(), fixture.noEos())) {
            try (TestClient c = TestClient.tls(server.localAddress(), clientTls(pki.caCert(), null, null))) {
                assertInstanceOf(Message.Welcome.class, hello(c, null));
                translateOnce(c, 1);
            }
            // A plaintext client gets no Welcome: its Hello is not a TLS record; the server closes.
            try (TestClient plain = new TestClient(server.localAddress())) {
                plain.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "plaintext"));
                assertTrue(plain.closedByServer(), "a plaintext Hello on a TLS port is not answered");
            }
            // A client that trusts another CA refuses the server (it never sends its Hello).
            try (TestClient c = TestClient.tls(server.localAddress(), clientTls(pki.rogueCaCert(), null, null))) {
                assertThrows(SSLException.class, () -> hello(c, null));
            }
            await("tls_handshake counted", 5_000, () -> Http.sample(metrics(server), "shiftformer_limits_total",
                    ServerMeters.LIMIT.replace('.', '_'), "tls_handshake") >= 2);
        }
    }

    @Test
    void aRotatedCertificateIsUsedForNewConnectionsWithinASecondAndABrokenOneIsIgnored() throws Exception {
        Path cert = dir.resolve("rotating.pem");
        Path key = dir.resolve("rotating.key");
        Files.copy(pki.serverCert(), cert, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(pki.serverKey(), key, StandardCopyOption.REPLACE_EXISTING);
        SSLContext trusting = clientTls(pki.caCert(), null, null);
        try (ShiftformerServer server = fixture.start(ServerFixture.config().tls(cert, key).conclude(), fixture.noEos())) {
            try (TestClient c = TestClient.tls(server.localAddress(), trusting)) {
                assertInstanceOf(Message.Welcome.class, hello(c, null));
            }
            // A broken file (a key where the certificate should be) keeps the working certificate.
            Path aside = dir.resolve("rotating.next");
            Files.copy(pki.serverKey(), aside, StandardCopyOption.REPLACE_EXISTING);
            Files.move(aside, cert, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Thread.sleep(1_100);
            try (TestClient c = TestClient.tls(server.localAddress(), trusting)) {
                assertInstanceOf(Message.Welcome.class, hello(c, null), "the previous certificate still serves");
            }
            // Rotated to a certificate for another name: within a second new connections get it (and this client,
            // checking for 127.0.0.1, refuses it).
            Files.copy(pki.wrongNameKey(), key, StandardCopyOption.REPLACE_EXISTING);
            Files.copy(pki.wrongNameCert(), aside, StandardCopyOption.REPLACE_EXISTING);
            Files.move(aside, cert, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            await("the rotated certificate in use", 10_000, () -> {
                try (TestClient c = TestClient.tls(server.localAddress(), trusting)) {
                    hello(c, null);
                    return false;
                } catch (SSLException e) {
                    return true;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
    }

    @Test
    void aServerCertificateForAnotherNameIsRefusedByTheClient() throws Exception {
        ServerConfig cfg = ServerFixture.config().tls(pki.wrongNameCert(), pki.wrongNameKey()).conclude();
        try (ShiftformerServer server = fixture.start(cfg, fixture.noEos());
             TestClient c = TestClient.tls(server.localAddress(), clientTls(pki.caCert(), null, null))) {
            SSLException e = assertThrows(SSLException.class, () -> hello(c, null));
            assertTrue(e.getMessage().contains("127.0.0.1"), e.getMessage());
        }
    }

    @Test
    void clientCertificatesAreRequiredWhenAClientCaIsConfigured() throws Exception {
        ServerConfig cfg = tlsConfig().tlsClientCa(pki.caCert()).conclude();
        try (ShiftformerServer server = fixture.start(cfg, fixture.noEos())) {
            try (TestClient c = TestClient.tls(server.localAddress(),
                    clientTls(pki.caCert(), pki.clientCert(), pki.clientKey()))) {
                assertInstanceOf(Message.Welcome.class, hello(c, null));
                translateOnce(c, 1);
                translateOnce(c, 2);
            }
            for (SSLContext refused : List.of(clientTls(pki.caCert(), null, null),
                    clientTls(pki.caCert(), pki.rogueCert(), pki.rogueKey()))) {
                try (TestClient c = TestClient.tls(server.localAddress(), refused)) {
                    // TLS 1.3: the client's handshake ends before the server checks its certificate; the
                    // server's alert arrives at the first read.
                    assertThrows(IOException.class, () -> {
                        hello(c, null);
                        c.read();
                    });
                }
            }
            String text = metrics(server);
            // Without a tokens file the certificate's CN names the client.
            assertEquals(2, Http.sample(text, "shiftformer_client_requests_total", "client", "cert-client"));
            await("tls_handshake counted", 5_000, () -> Http.sample(metrics(server), "shiftformer_limits_total",
                    "limit", "tls_handshake") >= 2);
            assertFalse(text.contains("mallory"), "a refused certificate names no client");
        }
    }

    @Test
    void adminPortSpeaksHttpsAndFollowsTheClientCertificateSetting() throws Exception {
        ServerConfig cfg = tlsConfig().tlsClientCa(pki.caCert()).conclude();
        try (ShiftformerServer server = fixture.start(cfg, fixture.noEos())) {
            InetSocketAddress admin = server.adminAddress();
            HttpResponse<String> ok = adminRequest(admin, "/health/ready", "GET", null,
                    clientTls(pki.caCert(), pki.clientCert(), pki.clientKey()));
            assertEquals(200, ok.statusCode(), ok.body());
            assertThrows(IOException.class, () -> adminRequest(admin, "/health/ready", "GET", null,
                    clientTls(pki.caCert(), null, null)), "no client certificate: refused");
            assertThrows(IOException.class, () -> adminRequest(admin, "/health/ready", "GET", null,
                    clientTls(pki.caCert(), pki.rogueCert(), pki.rogueKey())), "another CA's certificate: refused");
            assertThrows(IOException.class, () -> Http.get(admin, "/health/ready"), "plain HTTP: refused");
        }
        // adminClientAuth=false: HTTPS probes without a certificate read the health endpoints; the protocol
        // port still requires one.
        cfg = tlsConfig().tlsClientCa(pki.caCert()).adminClientAuth(false).conclude();
        try (ShiftformerServer server = fixture.start(cfg, fixture.noEos())) {
            HttpResponse<String> ok = adminRequest(server.adminAddress(), "/health/ready", "GET", null,
                    clientTls(pki.caCert(), null, null));
            assertEquals(200, ok.statusCode(), ok.body());
            try (TestClient c = TestClient.tls(server.localAddress(), clientTls(pki.caCert(), null, null))) {
                assertThrows(IOException.class, () -> {
                    hello(c, null);
                    c.read();
                });
            }
        }
    }

    /** One admin request over HTTPS with {@code tls}, or plain HTTP when {@code tls} is null; a bearer token when not null. */
    private static HttpResponse<String> adminRequest(InetSocketAddress admin, String path, String method, String bearer,
                                              SSLContext tls) throws IOException, InterruptedException {
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10));
        if (tls != null) {
            b.sslContext(tls);
        }
        try (HttpClient client = b.build()) {
            HttpRequest.Builder req = HttpRequest.newBuilder(URI.create((tls != null ? "https" : "http") + "://127.0.0.1:"
                    + admin.getPort() + path)).timeout(Duration.ofSeconds(30))
                    .method(method, HttpRequest.BodyPublishers.noBody());
            if (bearer != null) {
                req.header("Authorization", "Bearer " + bearer);
            }
            return client.send(req.build(), HttpResponse.BodyHandlers.ofString());
        }
    }

    private static Path tokensFile(String name, String text) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, text);
        return f;
    }

    @Test
    void helloNeedsAKnownTokenAndErrorsNeverShowIt() throws Exception {
        Path tokens = tokensFile("tokens-hello", "# test tokens\nalice " + ALICE + "\nbob sha256:" + Tokens.sha256(BOB)
                + " max_in_flight=4\n");
        try (ShiftformerServer server = fixture.start(ServerFixture.config().tokensFile(tokens).conclude(),
                fixture.noEos())) {
            try (TestClient c = new TestClient(server.localAddress())) {
                Message.Error e = assertInstanceOf(Message.Error.class, hello(c, null));
                assertEquals(0, e.requestId());
                assertEquals(ErrorCode.UNAUTHENTICATED.value(), e.code());
                assertEquals(14, e.code());
                assertTrue(e.message().contains("requires a bearer token"), e.message());
                assertTrue(c.closedByServer());
            }
            String wrong = "not-a-token-of-this-server-0000";
            try (TestClient c = new TestClient(server.localAddress())) {
                Message.Error e = assertInstanceOf(Message.Error.class, hello(c, wrong));
                assertEquals(ErrorCode.UNAUTHENTICATED.value(), e.code());
                assertFalse(e.message().contains(wrong), "the message never quotes a token");
                assertTrue(c.closedByServer());
            }
            try (TestClient c = new TestClient(server.localAddress())) {
                c.send(request(1, SOURCE, 4)); // a request before any Hello is still a protocol error
                assertEquals(ErrorCode.PROTOCOL_ERROR.value(), assertInstanceOf(Message.Error.class, c.read()).code());
            }
            for (String token : List.of(ALICE, BOB)) { // a plain token and one stored as its SHA-256
                try (TestClient c = new TestClient(server.localAddress())) {
                    assertInstanceOf(Message.Welcome.class, hello(c, token));
                    translateOnce(c, 7);
                }
            }
            String text = metrics(server);
            assertEquals(1, Http.sample(text, "shiftformer_auth_failures_total", "reason", "missing"));
            assertEquals(1, Http.sample(text, "shiftformer_auth_failures_total", "reason", "unknown"));
            assertEquals(1, Http.sample(text, "shiftformer_client_requests_total", "client", "alice"));
            assertEquals(1, Http.sample(text, "shiftformer_client_requests_total", "client", "bob"));
            assertFalse(text.contains(ALICE) || text.contains(BOB) || text.contains(Tokens.sha256(BOB)),
                    "no token or token hash in the metrics");
        }
    }

    @Test
    void maxInFlightOfATokenHoldsOverAllItsConnectionsAndNotForOthers() throws Exception {
        Path tokens = tokensFile("tokens-limit", "alice " + ALICE + " max_in_flight=2\nbob " + BOB + "\n");
        ServerConfig cfg = ServerFixture.config().tokensFile(tokens).conclude();
        try (ShiftformerServer server = fixture.start(cfg, fixture.noEos(20));
             TestClient a1 = new TestClient(server.localAddress());
             TestClient a2 = new TestClient(server.localAddress());
             TestClient b = new TestClient(server.localAddress())) {
            assertInstanceOf(Message.Welcome.class, hello(a1, ALICE));
            assertInstanceOf(Message.Welcome.class, hello(a2, ALICE));
            assertInstanceOf(Message.Welcome.class, hello(b, BOB));
            int slow = 20; // 20 steps of >= 20 ms: these stay in flight for 400 ms and more
            a1.send(request(1, SOURCE, slow));
            a1.send(request(2, SOURCE, slow));
            await("alice's two requests in flight", 10_000, () -> Http.sample(metrics(server),
                    "shiftformer_client_in_flight", "client", "alice") == 2);
            a2.send(request(3, SOURCE, 4)); // alice's third request, on another connection
            Message.Error over = assertInstanceOf(Message.Error.class, a2.read());
            assertEquals(3, over.requestId());
            assertEquals(ErrorCode.OVERLOADED.value(), over.code());
            assertTrue(over.message().contains("client 'alice'") && over.message().contains("is 2"), over.message());
            b.send(request(4, SOURCE, 4)); // bob is not held back by alice's limit
            assertDone(4, b.readTerminals(1).get(4L), expected);
            Map<Long, List<Message>> done = a1.readTerminals(2);
            assertInstanceOf(Message.Done.class, ServerFixture.terminal(1, done.get(1L)));
            assertInstanceOf(Message.Done.class, ServerFixture.terminal(2, done.get(2L)));
            translateOnce(a2, 5); // alice's slots are free again
            String text = metrics(server);
            assertEquals(1, Http.sample(text, "shiftformer_limits_total", "limit", "client_in_flight"));
            assertEquals(0, Http.sample(text, "shiftformer_client_in_flight", "client", "alice"));
        }
    }

    @Test
    void aChangedTokensFileTakesEffectWithoutARestartAndABrokenOneIsIgnored() throws Exception {
        Path tokens = tokensFile("tokens-reload", "alice " + ALICE + "\nbob " + BOB + "\n");
        try (ShiftformerServer server = fixture.start(ServerFixture.config().tokensFile(tokens).conclude(),
                fixture.noEos());
             TestClient bob = new TestClient(server.localAddress())) {
            assertInstanceOf(Message.Welcome.class, hello(bob, BOB));
            translateOnce(bob, 1);
            // Replace the file as an operator (or Kubernetes) would: write aside, rename over it.
            Path next = dir.resolve("tokens-reload.next");
            Files.writeString(next, "alice " + ALICE + "\ncarol carol-token-0123456789abcdef\n");
            Files.move(next, tokens, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            await("carol accepted", 10_000, () -> helloAnswer(server, "carol-token-0123456789abcdef") instanceof Message.Welcome);
            assertEquals(ErrorCode.UNAUTHENTICATED.value(),
                    assertInstanceOf(Message.Error.class, helloAnswer(server, BOB)).code(), "bob was removed");
            // bob's open connection: its next request ends it.
            bob.send(request(2, SOURCE, 4));
            Message.Error revoked = assertInstanceOf(Message.Error.class, bob.read());
            assertEquals(0, revoked.requestId());
            assertEquals(ErrorCode.UNAUTHENTICATED.value(), revoked.code());
            assertTrue(revoked.message().contains("revoked"), revoked.message());
            assertTrue(bob.closedByServer());
            // A broken file keeps the previous tokens.
            Files.writeString(next, "alice short\n");
            Files.move(next, tokens, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            await("failed reload counted", 10_000, () -> {
                helloAnswer(server, ALICE);
                return Http.sample(metrics(server), "shiftformer_tokens_reloads_total", "status", "error") >= 1;
            });
            assertInstanceOf(Message.Welcome.class, helloAnswer(server, ALICE));
            assertInstanceOf(Message.Welcome.class, helloAnswer(server, "carol-token-0123456789abcdef"));
        }
    }

    private static Message helloAnswer(ShiftformerServer server, String token) {
        try (TestClient c = new TestClient(server.localAddress())) {
            return hello(c, token);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void reloadNeedsAnAdminTokenWhenThereIsATokensFile() throws Exception {
        Path model = dir.resolve("tls.itm");
        ModelLoader loader = new ModelLoader(new org.shiftformer.core.server.FallbackPolicy.Choice(
                org.shiftformer.api.backend.Backends.select("reference"), fixture.backend, "reference", null), model);
        Path tokens = tokensFile("tokens-admin", "alice " + ALICE + "\nops " + OPS + " role=admin\n");
        try (ShiftformerServer server = ShiftformerServer.start(ServerFixture.config().tokensFile(tokens).conclude(),
                loader.load(model), loader, null)) {
            InetSocketAddress admin = server.adminAddress();
            HttpResponse<String> none = plainPost(admin, null);
            assertEquals(401, none.statusCode(), none.body());
            assertEquals("Bearer realm=\"shiftformer-admin\"", none.headers().firstValue("WWW-Authenticate").orElse(""));
            HttpResponse<String> unknown = plainPost(admin, "nope-nope-nope-nope-nope");
            assertEquals(401, unknown.statusCode(), unknown.body());
            assertFalse(unknown.body().contains("nope-nope"), unknown.body());
            HttpResponse<String> notAdmin = plainPost(admin, ALICE);
            assertEquals(403, notAdmin.statusCode(), notAdmin.body());
            assertTrue(notAdmin.body().contains("client 'alice'") && notAdmin.body().contains("role=admin"),
                    notAdmin.body());
            HttpResponse<String> ok = plainPost(admin, OPS);
            assertEquals(200, ok.statusCode(), ok.body());
            assertEquals(200, Http.get(admin, "/health/ready").statusCode(), "probes need no token");
            assertEquals(200, Http.get(admin, "/metrics").statusCode());
        }
    }

    private static HttpResponse<String> plainPost(InetSocketAddress admin, String bearer)
            throws IOException, InterruptedException {
        return adminRequest(admin, "/admin/reload", "POST", bearer, null);
    }

    @Test
    void startUpRefusesUnusableFilesNamingThem() throws Exception {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> ServerFixture.config().tls(pki.serverCert(), null).conclude());
        assertTrue(e.getMessage().contains(ServerConfig.TLS_KEY_FILE_PROP), e.getMessage());
        e = assertThrows(ShiftformerException.class,
                () -> ServerFixture.config().tls(pki.serverCert(), dir.resolve("missing.key")).conclude());
        assertTrue(e.getMessage().contains("missing.key") && e.getMessage().contains("does not exist"), e.getMessage());
        e = assertThrows(ShiftformerException.class, () -> ServerFixture.config().tlsClientCa(pki.caCert()).conclude());
        assertTrue(e.getMessage().contains(ServerConfig.TLS_CERT_FILE_PROP), e.getMessage());
        // A certificate given as the key: the server does not start, and says which files.
        ServerConfig swapped = ServerFixture.config().tls(pki.serverCert(), pki.serverCert()).conclude();
        e = assertThrows(ShiftformerException.class, () -> fixture.start(swapped, fixture.noEos()));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("server.pem") && e.getMessage().contains("PKCS#8"), e.getMessage());
        Path bad = tokensFile("tokens-bad", "alice " + ALICE + "\nbob short-one\n");
        ServerConfig badTokens = ServerFixture.config().tokensFile(bad).conclude();
        e = assertThrows(ShiftformerException.class, () -> fixture.start(badTokens, fixture.noEos()));
        assertTrue(e.getMessage().contains("line 2") && !e.getMessage().contains("short-one"), e.getMessage());
    }
}
