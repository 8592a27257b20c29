package org.shiftformer.core.server.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.ResourceLeakDetector;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.FuzzCounters;
import org.shiftformer.protocol.LeakCheck;

/**
 * Jazzer fuzz target of the admin port's request path: the bytes a client sends on one connection, fed
 * to the admin pipeline ({@code HttpServerCodec} with the server's limits, {@link AdminServer.BoundedAggregator},
 * {@link AdminHandler} over endpoints that answer at once; reloads run inline) on an {@link EmbeddedChannel}.
 *
 * <p>Properties checked per input:
 * <ul>
 *   <li>nothing but a client's I/O trouble reaches the handler's {@code exceptionCaught} (a bad escape
 *       once did, and the client got no answer);</li>
 *   <li>everything written back is a sequence of complete HTTP/1.1 responses, each with a status line, a
 *       {@code Content-Length} matching its body, a status the admin port documents and never 500, and no
 *       Java class name in the body (unless the request itself carried it and is quoted back);</li>
 *   <li>every buffer is released, and Netty's leak detector reports nothing at the end.</li>
 * </ul>
 *
 * <p>Without {@code JAZZER_FUZZ} this runs the committed corpus ({@code AdminHttpFuzzTestInputs/requests}
 * in the test resources) with the unit tests; {@code mvn verify} also fuzzes it for a fixed time (FUZZING.md).
 */
class AdminHttpFuzzTest {
    private static final boolean FUZZING = System.getenv("JAZZER_FUZZ") != null && !System.getenv("JAZZER_FUZZ").isEmpty();

    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
        if (FUZZING) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE);
        }
    }

    /** What the admin port may answer (AdminServer's class comment); 500 would be an unexpected failure. */
    private static final Set<Integer> DOCUMENTED = Set.of(200, 400, 404, 405, 409, 413, 414, 431, 503, 504, 505);
    private static final Pattern STATUS = Pattern.compile("HTTP/1\\.1 (\\d{3}) [^\r\n]*\r\n");
    private static final Pattern LENGTH = Pattern.compile("(?i)\r\ncontent-length:[ \t]*(\\d+)\r\n");
    private static final FuzzCounters COUNTERS = new FuzzCounters("admin requests", "responses", "closed");

    @AfterAll
    static void report() {
        COUNTERS.print();
        LeakCheck.assertNoLeaks();
    }

    @FuzzTest(maxDuration = "25s")
    void requests(byte[] input) {
        COUNTERS.execution();
        long unexpectedBefore = AdminHandler.UNEXPECTED_FAILURES.sum();
        EmbeddedChannel ch = new EmbeddedChannel(
                new HttpServerCodec(AdminServer.MAX_REQUEST_LINE_BYTES, AdminServer.MAX_HEADER_BYTES, AdminHandler.MAX_REQUEST_BYTES),
                new AdminServer.BoundedAggregator(),
                new AdminHandler(ENDPOINTS, new InlineExecutor(), new AtomicBoolean(), Duration.ofSeconds(1)));
        ByteBuf in = Unpooled.wrappedBuffer(input);
        ch.writeInbound(in);
        ch.runPendingTasks();
        boolean open = ch.isOpen();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Object o; (o = ch.readOutbound()) != null; ) {
            ByteBuf b = (ByteBuf) o;
            byte[] bytes = new byte[b.readableBytes()];
            b.readBytes(bytes);
            b.release();
            out.writeBytes(bytes);
        }
        ch.finishAndReleaseAll();
        assertEquals(input.length == 0 ? 1 : 0, in.refCnt(), () -> // the empty input is Unpooled's shared EMPTY_BUFFER
                 "the input buffer was not released: "
                + new String(input, StandardCharsets.ISO_8859_1));
        assertEquals(unexpectedBefore, AdminHandler.UNEXPECTED_FAILURES.sum(),
                "an exception other than I/O reached AdminHandler.exceptionCaught (see the log)");
        COUNTERS.add(0, checkResponses(out.toString(StandardCharsets.ISO_8859_1), new String(input, StandardCharsets.ISO_8859_1)));
        if (!open) {
            COUNTERS.add(1, 1);
        }
    }

    /** Every byte written back belongs to a complete response with a documented status; returns how many. */
    private static int checkResponses(String text, String request) {
        int n = 0;
        int at = 0;
        while (at < text.length()) {
            Matcher m = STATUS.matcher(text).region(at, text.length());
            if (!m.lookingAt()) {
                fail("not a status line at byte " + at + ": " + text.substring(at, Math.min(text.length(), at + 80)));
            }
            int status = Integer.parseInt(m.group(1));
            assertTrue(DOCUMENTED.contains(status), "status " + status + " in " + text);
            int headEnd = text.indexOf("\r\n\r\n", at);
            assertTrue(headEnd > 0, "headers never end: " + text.substring(at));
            Matcher len = LENGTH.matcher(text.substring(at, headEnd + 2));
            assertTrue(len.find(), "no Content-Length: " + text.substring(at, headEnd));
            int bodyEnd = headEnd + 4 + Integer.parseInt(len.group(1));
            assertTrue(bodyEnd <= text.length(), "body shorter than its Content-Length");
            String body = text.substring(headEnd + 4, bodyEnd);
            for (String className : new String[] {"Exception", "java.", "io.netty."}) {
                // a malformed request's text may be quoted back: only what the request did not carry counts
                assertTrue(!body.contains(className) || request.contains(className), "a class name in " + body);
            }
            at = bodyEnd;
            n++;
        }
        return n;
    }

    /** Endpoints that answer at once; a reload of a path starting with "bad" fails as a bad file does. */
    private static final AdminServer.Endpoints ENDPOINTS = new ReadyEndpoints(path -> {
        if (path != null && path.startsWith("bad")) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "cannot read " + path + ": bad magic");
        }
        return "model 0123 from " + path;
    });

    /** Runs reloads on the calling thread (the embedded event loop), so an input's answers are all written. */
    private static final class InlineExecutor extends AbstractExecutorService {
        private boolean shutdown;

        @Override
        public void execute(Runnable command) {
            command.run();
        }

        @Override
        public void shutdown() {
            shutdown = true;
        }

        @Override
        public List<Runnable> shutdownNow() {
            shutdown = true;
            return List.of();
        }

        @Override
        public boolean isShutdown() {
            return shutdown;
        }

        @Override
        public boolean isTerminated() {
            return shutdown;
        }

        @Override
        public boolean awaitTermination(long timeout, TimeUnit unit) {
            return true;
        }
    }
}
