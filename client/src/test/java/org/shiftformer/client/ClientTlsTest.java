package org.shiftformer.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.TestPki;

/**
 * The Java client over real TLS on loopback against a real server, with certificates made at test time:
 * server verification (trusted CA, host name), client certificates accepted and refused, and bearer
 * tokens; every failure a {@link ShiftformerException} that says what went wrong.
 */
class ClientTlsTest {
    private static final String TOKEN = "client-test-token-0123456789";

    @TempDir
    static Path dir;
    private static TestServers servers;
    private static TestPki pki;

    @BeforeAll
    static void setUp() {
        servers = new TestServers(dir);
        pki = TestPki.create(dir.resolve("pki"));
    }

    @AfterAll
    static void tearDown() {
        servers.backend.close();
    }

    private static ClientOptions.Builder options() {
        return ClientOptions.builder().connectTimeout(Duration.ofSeconds(10));
    }

    private static void translates(ShiftformerClient client) throws Exception {
        int[] source = {5, 6, 7};
        Translation t = client.translate(TranslationRequest.tokens(source).maxNewTokens(6)).get(60, TimeUnit.SECONDS);
        try (LoadedModel local = servers.reference()) {
            DecodeParams params = new org.shiftformer.protocol.Message.Params(1, 6, 0)
                    .resolve(TestServers.CFG.maxPositions(), ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
            assertArrayEquals(TestServers.local(local, source, params).tokens(), t.tokens());
        }
    }

    @Test
    void mutualTlsWithATokenTranslatesAndEachMissingPieceIsRefusedWithItsReason() throws Exception {
        Path tokens = dir.resolve("tokens");
        Files.writeString(tokens, "app " + TOKEN + "\n");
        ServerConfig cfg = TestServers.config().tls(pki.serverCert(), pki.serverKey()).tlsClientCa(pki.caCert())
                .tokensFile(tokens).conclude();
        ClientTls good = ClientTls.trusting(pki.caCert()).withClientCertificate(pki.clientCert(), pki.clientKey());
        try (ShiftformerServer server = servers.start(cfg, servers.reference())) {
            try (ShiftformerClient c = TestServers.connect(server, options().tls(good).token(TOKEN).build())) {
                translates(c);
            }
            // The token is checked at Hello: a wrong one is UNAUTHENTICATED, with the server's words.
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> TestServers.connect(server,
                    options().tls(good).token("wrong-token-wrong-token-00").build()).close());
            assertEquals(ErrorCode.UNAUTHENTICATED, e.code());
            assertFalse(e.getMessage().contains("wrong-token"), e.getMessage());
            e = assertThrows(ShiftformerException.class, () -> TestServers.connect(server, options().tls(good).build()).close());
            assertEquals(ErrorCode.UNAUTHENTICATED, e.code());
            assertTrue(e.getMessage().contains("requires a bearer token"), e.getMessage());
            // No client certificate, or one of another CA: the server ends the TLS session.
            for (ClientTls refused : new ClientTls[] {ClientTls.trusting(pki.caCert()),
                    ClientTls.trusting(pki.caCert()).withClientCertificate(pki.rogueCert(), pki.rogueKey())}) {
                e = assertThrows(ShiftformerException.class,
                        () -> TestServers.connect(server, options().tls(refused).token(TOKEN).build()).close());
                assertEquals(ErrorCode.IO_ERROR, e.code(), e.getMessage());
                assertTrue(e.getMessage().toLowerCase(java.util.Locale.ROOT).contains("certificate"), e.getMessage());
            }
            // Plaintext to a TLS port: no Welcome.
            e = assertThrows(ShiftformerException.class,
                    () -> TestServers.connect(server, options().token(TOKEN).build()).close());
            assertEquals(ErrorCode.IO_ERROR, e.code(), e.getMessage());
        }
    }

    @Test
    void theServerIsVerifiedByCaAndByName() throws Exception {
        ServerConfig cfg = TestServers.config().tls(pki.serverCert(), pki.serverKey()).conclude();
        try (ShiftformerServer server = servers.start(cfg, servers.reference())) {
            try (ShiftformerClient c = TestServers.connect(server, options().tls(ClientTls.trusting(pki.caCert())).build())) {
                translates(c);
            }
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> TestServers.connect(server,
                    options().tls(ClientTls.trusting(pki.rogueCaCert())).build()).close());
            assertEquals(ErrorCode.IO_ERROR, e.code());
            assertTrue(e.getMessage().startsWith("TLS handshake with 127.0.0.1:"), e.getMessage());
            // The certificate is for localhost and 127.0.0.1, not for another name.
            e = assertThrows(ShiftformerException.class, () -> TestServers.connect(server,
                    options().tls(ClientTls.trusting(pki.caCert()).withServerName("elsewhere.example")).build()).close());
            assertTrue(e.getMessage().startsWith("TLS handshake"), e.getMessage());
            try (ShiftformerClient c = TestServers.connect(server,
                    options().tls(ClientTls.trusting(pki.caCert()).withServerName("localhost")).build())) {
                translates(c);
            }
        }
    }

    @Test
    void optionsCheckTheirTlsFilesAndNeverShowTheToken() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new ClientTls(pki.caCert(), pki.clientCert(), null, null));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        ClientOptions o = options().tls(ClientTls.trusting(dir.resolve("missing-ca.pem"))).token(TOKEN).build();
        assertFalse(o.toString().contains(TOKEN), o.toString());
        e = assertThrows(ShiftformerException.class, () -> ShiftformerClient.connect("127.0.0.1", 9, o));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("missing-ca.pem"), e.getMessage());
        assertThrows(ShiftformerException.class, () -> options().token("").build());
    }
}
