package org.shiftformer.core.server.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.LeakCheck;

/**
 * The admin port against a hostile or careless client, over raw sockets: every request gets a status
 * line and a plain message (no reset, no hang, no Java class name), reloads run one at a time and time out.
 */
class AdminServerTest {
    static {
        LeakCheck.install(); // before this JVM's first ByteBuf (see LeakCheck)
    }

    private EventLoopGroup group;
    private AdminServer server;
    private volatile Function<String, String> reload = p -> "model x";

    @BeforeEach
    void start() {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        server = AdminServer.start(group, NioServerSocketChannel.class, "127.0.0.1", 0,
                new ReadyEndpoints(p -> reload.apply(p)), new AdminServer.Limits(Duration.ofMillis(500), Duration.ofSeconds(30), 64),
                null, null);
    }

    @AfterEach
    void stop() {
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    @Test
    void badPercentEscapesGetA400NotASilentClose() throws IOException {
        for (String target : new String[] {"/admin/reload?path=%zz", "/admin/reload?path=%", "/health/%ff%"}) {
            Answer a = exchange(("POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            assertEquals(400, a.status, target + ": " + a);
            assertTrue(a.body.contains("malformed request target"), a.toString());
        }
    }

    @Test
    void unknownHttpVersionsGet505AndGarbageGets400() throws IOException {
        Answer v = exchange("GET /health/live HTTP/9.9\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        assertEquals(505, v.status, v.toString());
        assertTrue(v.body.contains("HTTP/9.9 is not supported"), v.toString());
        Answer g = exchange("\u0001\u0002 nonsense\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(400, g.status, g.toString());
        assertNoClassNames(g);
    }

    @Test
    void tooLongRequestLineAndHeadersGet414And431() throws IOException {
        Answer line = exchange(("GET /" + "a".repeat(AdminServer.MAX_REQUEST_LINE_BYTES + 10) + " HTTP/1.1\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        assertEquals(414, line.status, line.toString());
        Answer headers = exchange(("GET /health/live HTTP/1.1\r\nX-Big: " + "b".repeat(AdminServer.MAX_HEADER_BYTES + 10)
                + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        assertEquals(431, headers.status, headers.toString());
        assertNoClassNames(line);
        assertNoClassNames(headers);
    }

    @Test
    void aFourMebibyteBodyGets413WhichTheClientCanRead() throws IOException {
        byte[] body = new byte[4 << 20];
        byte[] head = ("POST /admin/reload HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            out.write(head);
            out.write(body); // a reset here (the server closed with unread bytes) fails the test
            out.flush();
            Answer a = read(s.getInputStream());
            assertEquals(413, a.status, a.toString());
            assertTrue(a.body.contains("at most " + AdminHandler.MAX_REQUEST_BYTES + " bytes"), a.toString());
        }
    }

    @Test
    void oneReloadAtATimeAnotherGets409() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        reload = p -> {
            entered.countDown();
            try {
                release.await(); // well inside the 500 ms timeout once released
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return "model " + p;
        };
        CompletableFuture<Answer> first = CompletableFuture.supplyAsync(() -> post("/admin/reload?path=a.itm"));
        assertTrue(entered.await(5, TimeUnit.SECONDS));
        Answer second = post("/admin/reload?path=b.itm");
        assertEquals(409, second.status, second.toString());
        release.countDown();
        Answer a = first.get(5, TimeUnit.SECONDS);
        assertEquals(200, a.status, a.toString());
        assertTrue(a.body.contains("model a.itm"), a.toString());
        assertEquals(200, post("/admin/reload?path=c.itm").status, "the slot is free again");
    }

    @Test
    void aReloadThatHangsIsAnswered504AndLaterReloadsAreAnsweredNotQueued() throws Exception {
        CountDownLatch stuck = new CountDownLatch(1);
        AtomicInteger interrupted = new AtomicInteger();
        reload = p -> {
            if (p.equals("hang.itm")) {
                while (true) { // a loader that ignores the first interrupt, as a blocked read may
                    try {
                        if (stuck.await(10, TimeUnit.SECONDS)) {
                            return "late";
                        }
                    } catch (InterruptedException e) {
                        interrupted.incrementAndGet();
                    }
                }
            }
            return "model " + p;
        };
        long t0 = System.nanoTime();
        Answer timedOut = post("/admin/reload?path=hang.itm");
        assertEquals(504, timedOut.status, timedOut.toString());
        assertTrue(timedOut.body.contains("did not finish within 500 ms"), timedOut.toString());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "answered near the 500 ms timeout");
        long interruptDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (interrupted.get() == 0 && System.nanoTime() < interruptDeadline) {
            Thread.sleep(10);
        }
        assertEquals(1, interrupted.get(), "the stuck reload was interrupted");
        Answer busy = post("/admin/reload?path=x.itm");
        assertEquals(409, busy.status, "the stuck reload still holds the slot: " + busy);
        stuck.countDown();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        Answer after;
        do {
            after = post("/admin/reload?path=y.itm");
        } while (after.status == 409 && System.nanoTime() < deadline);
        assertEquals(200, after.status, after.toString());
    }

    @Test
    void failuresAreStatusesWithPlainMessagesNotExceptionClassNames() {
        reload = p -> {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "bad magic in " + p);
        };
        Answer bad = post("/admin/reload?path=f.itm");
        assertEquals(400, bad.status);
        assertEquals("error: [INVALID_ARTIFACT] bad magic in f.itm", bad.body.strip());
        reload = p -> {
            throw new IllegalStateException("internal detail");
        };
        Answer internal = post("/admin/reload?path=f.itm");
        assertEquals(500, internal.status);
        assertNoClassNames(internal);
        assertFalse(internal.body.contains("internal detail"), internal.toString());
    }

    @Test
    void theConsoleIsServedFromTheClasspathWithTypesAndRevalidation() throws IOException {
        Answer page = get("/console", "");
        assertEquals(200, page.status, page.toString());
        assertTrue(header(page, "content-type").equals("text/html; charset=utf-8"), page.head);
        assertEquals("no-cache", header(page, "cache-control"));
        assertEquals("nosniff", header(page, "x-content-type-options"));
        assertTrue(page.body.contains("<script type=\"module\" src=\"/console/console.js\">"), page.body);
        assertEquals(page.body, get("/console/", "").body, "/console/ is the page too");
        String etag = header(page, "etag");
        assertTrue(etag.matches("\"[0-9a-f]{64}\""), etag);
        Answer again = get("/console", "If-None-Match: " + etag + "\r\n");
        assertEquals(304, again.status, again.toString());
        assertEquals("", again.body);
        for (String[] asset : new String[][] {{"/console/console.js", "text/javascript; charset=utf-8"},
                {"/console/console.css", "text/css; charset=utf-8"},
                {"/console/lib/src/codec.js", "text/javascript; charset=utf-8"},
                {"/console/lib/src/errors.js", "text/javascript; charset=utf-8"},
                {"/console/lib/build/generated/stream_generated.js", "text/javascript; charset=utf-8"},
                {"/console/lib/flatbuffers/index.js", "text/javascript; charset=utf-8"}}) {
            Answer a = get(asset[0], "");
            assertEquals(200, a.status, asset[0] + ": " + a);
            assertEquals(asset[1], header(a, "content-type"), asset[0]);
            assertFalse(a.body.isEmpty(), asset[0]);
        }
        // unknown files, other extensions, directories and ways out of the folder are not found
        for (String target : new String[] {"/console/nothing.js", "/console/index.htm", "/console/lib",
                "/console/lib/", "/console/../admin/AdminHandler.class", "/console/lib/../console.js",
                "/console/.hidden.js", "/console//console.js", "/consolex", "/console/lib/src/codec.js.map"}) {
            Answer a = get(target, "");
            assertEquals(404, a.status, target + ": " + a);
            assertTrue(a.body.startsWith("no such endpoint"), a.toString());
        }
        Answer post = post("/console");
        assertEquals(405, post.status, post.toString());
    }

    /**
     * The console's files carry a Content-Security-Policy that keeps the page to this port (its scripts,
     * styles, images, /metrics and its own WebSocket origin), allows no inline code but the page's import map
     * (by the SHA-256 of exactly its text) and no framing; with nosniff, no referrer, no framing (older
     * browsers). The page holds nothing inline the policy would block: every other script is a file, and there
     * is no style element, style attribute or event handler attribute. A Host header that is not a host does
     * not get into the policy.
     */
    @Test
    void theConsolesFilesCarryAContentSecurityPolicy() throws Exception {
        Answer page = get("/console", "");
        java.util.regex.Matcher map = java.util.regex.Pattern.compile("<script type=\"importmap\">(.*?)</script>",
                java.util.regex.Pattern.DOTALL).matcher(page.body);
        assertTrue(map.find(), page.body);
        String hash = java.util.Base64.getEncoder().encodeToString(java.security.MessageDigest.getInstance("SHA-256")
                .digest(map.group(1).getBytes(StandardCharsets.UTF_8)));
        String policy = "default-src 'self'; script-src 'self' 'sha256-" + hash + "'; style-src 'self'; img-src 'self' data:; "
                + "connect-src 'self' ws://x; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
        String etag = header(page, "etag");
        for (Answer a : new Answer[] {page, get("/console/console.js", ""), get("/console/console.css", ""),
                get("/console/lib/src/codec.js", ""), get("/console", "If-None-Match: " + etag + "\r\n")}) {
            assertEquals(policy, header(a, "content-security-policy"), a.head);
            assertEquals("nosniff", header(a, "x-content-type-options"), a.head);
            assertEquals("no-referrer", header(a, "referrer-policy"), a.head);
            assertEquals("DENY", header(a, "x-frame-options"), a.head);
        }
        String rest = map.replaceFirst("");
        assertFalse(rest.matches("(?s).*<script(?![^>]*\\ssrc=)[^>]*>.*"), "an inline script besides the import map");
        assertFalse(rest.matches("(?is).*(<style|\\sstyle=|\\son[a-z]+=).*"), "inline style or event handlers");
        Answer forged = exchange(("GET /console HTTP/1.1\r\nHost: x; script-src *\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
        assertEquals(policy.replace(" ws://x", ""), header(forged, "content-security-policy"), forged.head);
    }

    /**
     * Slowloris: a request trickled a byte at a time restarts the idle timeout at every byte, so only a
     * deadline on the whole request bounds it: 408 naming the setting, then close. A request that arrives
     * in pieces within the deadline, and a keep-alive connection pausing between requests, are served.
     */
    @Test
    void aRequestTrickledByteByByteGets408WithinTheIdleTimeout() throws Exception {
        stop();
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        long timeoutMs = 600;
        server = AdminServer.start(group, NioServerSocketChannel.class, "127.0.0.1", 0,
                new ReadyEndpoints(p -> reload.apply(p)), new AdminServer.Limits(Duration.ofMillis(500), Duration.ofMillis(timeoutMs), 64),
                null, null);
        try (Socket s = connect()) {
            OutputStream out = s.getOutputStream();
            out.write("GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII));
            Thread trickle = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 0; i < 100; i++) { // 10 s of one byte per 100 ms: each within the idle timeout
                        Thread.sleep(100);
                        out.write('z');
                        out.flush();
                    }
                } catch (IOException | InterruptedException e) {
                    // closed by the server: expected
                }
            });
            Answer a = read(s.getInputStream());
            assertEquals(408, a.status, a.toString());
            assertTrue(a.body.contains("within " + timeoutMs + " ms of its first byte")
                    && a.body.contains("shiftformer.server.adminIdleTimeoutMs"), a.toString());
            assertEquals(-1, s.getInputStream().read(), "closed after the 408");
            trickle.join(15_000);
            assertFalse(trickle.isAlive(), "the trickling client was closed");
        }
        try (Socket s = connect()) { // in two pieces, then a pause on the kept-alive connection, then another
            OutputStream out = s.getOutputStream();
            out.write("GET /health/live HTTP/1.1\r\nHo".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            Thread.sleep(timeoutMs / 4);
            out.write("st: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertEquals(200, read(s.getInputStream()).status);
            Thread.sleep(timeoutMs / 4);
            out.write("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertEquals(200, read(s.getInputStream()).status);
        }
    }

    // ---- raw HTTP ----------------------------------------------------------------------------------

    record Answer(int status, String head, String body) {
    }

    private static void assertNoClassNames(Answer a) {
        assertFalse(a.body.matches("(?s).*\\b(java|io\\.netty|org\\.shiftformer)\\.[a-z]+.*")
                || a.body.contains("Exception"), "a Java class name in " + a);
    }

    private Answer post(String target) {
        try {
            return exchange(("POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new AssertionError("POST " + target + ": " + e, e);
        }
    }

    private Answer get(String target, String headers) throws IOException {
        return exchange(("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + headers + "Connection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
    }

    /** The value of a response header (the first one named so), or null. */
    private static String header(Answer a, String name) {
        for (String line : a.head.split("\r\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).equalsIgnoreCase(name)) {
                return line.substring(colon + 1).trim();
            }
        }
        return null;
    }

    private Socket connect() throws IOException {
        InetSocketAddress a = server.localAddress();
        Socket s = new Socket(a.getAddress(), a.getPort());
        s.setSoTimeout(10_000);
        return s;
    }

    private Answer exchange(byte[] request) throws IOException {
        try (Socket s = connect()) {
            s.getOutputStream().write(request);
            s.getOutputStream().flush();
            return read(s.getInputStream());
        }
    }

    /** One response: status line, headers, and the body of its Content-Length. */
    private static Answer read(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            byte[] h = head.toByteArray();
            int n = h.length;
            if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                break;
            }
        }
        String headText = head.toString(StandardCharsets.ISO_8859_1);
        assertTrue(headText.startsWith("HTTP/1.1 "), "no status line, got '" + headText + "'");
        int status = Integer.parseInt(headText.substring(9, 12));
        int length = 0;
        for (String line : headText.split("\r\n")) {
            if (line.toLowerCase(java.util.Locale.ROOT).startsWith("content-length:")) {
                length = Integer.parseInt(line.substring(15).trim());
            }
        }
        String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
        return new Answer(status, headText, body);
    }
}
