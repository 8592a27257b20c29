package org.shiftformer.core.server.admin;

import org.shiftformer.core.server.security.Authenticator;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.PrematureChannelClosureException;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.codec.http.TooLongHttpLineException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Routes one admin HTTP request (see {@link AdminServer}); per channel, on its event loop. Every request
 * gets a status line and a plain-text body: no exception reaches the client as a reset or a class name.
 */
final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger LOG = Logger.getLogger(AdminHandler.class.getName());
    /** Largest request body; the request line and headers have their own limits ({@link AdminServer}). */
    static final int MAX_REQUEST_BYTES = 8192;
    /** Failures other than I/O that reached {@link #exceptionCaught}: none is expected (the fuzz target checks). */
    static final java.util.concurrent.atomic.LongAdder UNEXPECTED_FAILURES = new java.util.concurrent.atomic.LongAdder();
    /** Content type of the Prometheus text exposition format 0.0.4. */
    static final String PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    private static final String TEXT = "text/plain; charset=utf-8";

    private final AdminServer.Endpoints endpoints;
    /** The web console's files, shared by every connection. */
    private static final ConsoleAssets CONSOLE = new ConsoleAssets();
    private final ExecutorService reloads;
    /** Set while a reload runs (one at a time, over every admin connection). */
    private final AtomicBoolean reloading;
    private final Duration reloadTimeout;
    /** A reload of this connection's awaits its answer: the idle timeout does not apply. */
    private volatile boolean pending;

    AdminHandler(AdminServer.Endpoints endpoints, ExecutorService reloads, AtomicBoolean reloading, Duration reloadTimeout) {
        this.endpoints = endpoints;
        this.reloads = reloads;
        this.reloading = reloading;
        this.reloadTimeout = reloadTimeout;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        if (!req.decoderResult().isSuccess()) {
            Throwable cause = req.decoderResult().cause();
            HttpResponseStatus status = cause instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : cause instanceof TooLongHttpHeaderException ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : HttpResponseStatus.BAD_REQUEST;
            respond(ctx, false, status, TEXT, "malformed request: " + (cause == null || cause.getMessage() == null
                    ? "the request line or headers are not HTTP/1.1" : cause.getMessage()));
            return;
        }
        HttpVersion version = req.protocolVersion();
        if (!version.equals(HttpVersion.HTTP_1_1) && !version.equals(HttpVersion.HTTP_1_0)) {
            respond(ctx, false, HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED, TEXT,
                    version.text() + " is not supported; use HTTP/1.1 or HTTP/1.0");
            return;
        }
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        QueryStringDecoder uri = new QueryStringDecoder(req.uri());
        String path;
        List<String> paths;
        try {
            path = uri.path();
            paths = uri.parameters().get("path");
        } catch (IllegalArgumentException e) { // a bad %-escape in the path or the query
            respond(ctx, false, HttpResponseStatus.BAD_REQUEST, TEXT, "malformed request target '" + printable(req.uri())
                    + "': " + e.getMessage());
            return;
        }
        HttpMethod method = req.method();
        switch (path) {
            case "/metrics" -> {
                if (allowed(ctx, keepAlive, method, HttpMethod.GET)) {
                    String text = endpoints.scrape();
                    if (text == null) {
                        respond(ctx, keepAlive, HttpResponseStatus.NOT_FOUND, TEXT,
                                "metrics are published through the registry the server was given, not here");
                    } else {
                        respond(ctx, keepAlive, HttpResponseStatus.OK, PROMETHEUS_CONTENT_TYPE, text);
                    }
                }
            }
            case "/health/live" -> {
                if (allowed(ctx, keepAlive, method, HttpMethod.GET)) {
                    boolean live = endpoints.live();
                    respond(ctx, keepAlive, live ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE, TEXT,
                            live ? "live" : "closed");
                }
            }
            case "/health/ready" -> {
                if (allowed(ctx, keepAlive, method, HttpMethod.GET)) {
                    String why = endpoints.notReadyReason();
                    String note = why == null ? endpoints.readyNote() : null;
                    respond(ctx, keepAlive, why == null ? HttpResponseStatus.OK : HttpResponseStatus.SERVICE_UNAVAILABLE,
                            TEXT, why != null ? "not ready: " + why : note == null ? "ready" : "ready; " + note);
                }
            }
            case "/admin/reload" -> {
                if (allowed(ctx, keepAlive, method, HttpMethod.POST)) {
                    Authenticator.AdminDenied denied = endpoints.authorizeReload(req.headers().get(HttpHeaderNames.AUTHORIZATION));
                    if (denied != null) {
                        FullHttpResponse res = response(HttpResponseStatus.valueOf(denied.status()), TEXT,
                                "error: [" + (denied.status() == 401 ? "UNAUTHENTICATED" : "PERMISSION_DENIED") + "] "
                                        + denied.message());
                        if (denied.status() == 401) {
                            res.headers().set(HttpHeaderNames.WWW_AUTHENTICATE, "Bearer realm=\"shiftformer-admin\"");
                        }
                        write(ctx, keepAlive, res);
                    } else {
                        reload(ctx, keepAlive, paths == null || paths.isEmpty() ? null : paths.get(0));
                    }
                }
            }
            default -> {
                Optional<ConsoleAssets.Asset> asset = CONSOLE.find(path);
                if (asset.isPresent()) {
                    if (allowed(ctx, keepAlive, method, HttpMethod.GET)) {
                        serve(ctx, keepAlive, req, asset.get());
                    }
                } else {
                    respond(ctx, keepAlive, HttpResponseStatus.NOT_FOUND, TEXT, "no such endpoint: " + printable(path)
                            + " (try /metrics, /health/live, /health/ready, POST /admin/reload, /console)");
                }
            }
        }
    }

    /**
     * A console file: revalidated on every use ({@code no-cache} with its ETag; 304 when the browser has it),
     * never sniffed, never framed, sending no referrer, under the console's Content-Security-Policy.
     */
    private static void serve(ChannelHandlerContext ctx, boolean keepAlive, FullHttpRequest req, ConsoleAssets.Asset asset) {
        boolean fresh = asset.etag().equals(req.headers().get(HttpHeaderNames.IF_NONE_MATCH));
        FullHttpResponse res = fresh
                ? new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.NOT_MODIFIED, Unpooled.EMPTY_BUFFER)
                : new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.wrappedBuffer(asset.bytes()));
        res.headers().set(HttpHeaderNames.CONTENT_TYPE, asset.contentType())
                .setInt(HttpHeaderNames.CONTENT_LENGTH, fresh ? 0 : asset.bytes().length)
                .set(HttpHeaderNames.ETAG, asset.etag())
                .set(HttpHeaderNames.CACHE_CONTROL, "no-cache")
                .set("X-Content-Type-Options", "nosniff")
                .set("X-Frame-Options", "DENY")
                .set("Referrer-Policy", "no-referrer")
                .set("Content-Security-Policy", CONSOLE.contentSecurityPolicy(req.headers().get(HttpHeaderNames.HOST),
                        ctx.pipeline().get(SslHandler.class) != null));
        write(ctx, keepAlive, res);
    }

    /**
     * The model loads on the reload thread; the answer is written from there (Netty hops to the loop).
     * One reload at a time: another one meanwhile gets 409. A reload that outlasts the timeout gets 504
     * and is interrupted; it holds the reload slot until it has really ended (later ones get 409, never a hang).
     */
    private void reload(ChannelHandlerContext ctx, boolean keepAlive, String path) {
        if (!reloading.compareAndSet(false, true)) {
            respond(ctx, keepAlive, HttpResponseStatus.CONFLICT, TEXT,
                    "error: [OVERLOADED] another reload is in progress; try again when it has finished");
            return;
        }
        pending = true;
        AtomicBoolean answered = new AtomicBoolean();
        AtomicReference<Future<?>> task = new AtomicReference<>();
        Runnable load = () -> {
            HttpResponseStatus status;
            String body;
            try {
                status = HttpResponseStatus.OK;
                body = "reloaded: " + endpoints.reload(path);
            } catch (ShiftformerException e) {
                status = statusOf(e.code());
                body = "error: [" + e.code() + "] " + e.getMessage();
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "reload of " + (path == null ? "the start-up model" : path) + " failed", e);
                status = HttpResponseStatus.INTERNAL_SERVER_ERROR;
                body = "error: [INTERNAL] the reload failed unexpectedly; the previous model keeps serving (see the server log)";
            } finally {
                reloading.set(false); // before the answer: a client that reads it may start the next reload at once
            }
            answer(ctx, keepAlive, answered, status, body);
        };
        try {
            task.set(reloads.submit(load));
        } catch (RejectedExecutionException e) {
            reloading.set(false);
            pending = false;
            respond(ctx, false, HttpResponseStatus.SERVICE_UNAVAILABLE, TEXT, "server is shutting down");
            return;
        }
        ctx.executor().schedule(() -> {
            if (answered.compareAndSet(false, true)) {
                pending = false;
                task.get().cancel(true);
                respond(ctx, keepAlive, HttpResponseStatus.GATEWAY_TIMEOUT, TEXT, "error: [DEADLINE_EXCEEDED] the reload"
                        + " did not finish within " + reloadTimeout.toMillis() + " ms and was interrupted; the previous"
                        + " model keeps serving unless the reload still completes (GET /health/ready and ModelInfo say"
                        + " which model is served)");
            }
        }, reloadTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void answer(ChannelHandlerContext ctx, boolean keepAlive, AtomicBoolean answered,
                        HttpResponseStatus status, String body) {
        if (answered.compareAndSet(false, true)) {
            pending = false;
            respond(ctx, keepAlive, status, TEXT, body);
        }
    }

    /** At most 200 characters, control characters escaped: request text echoed in an answer or a log. */
    static String printable(String s) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length() && b.length() < 200; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(c);
            }
        }
        return s.length() > 200 ? b + "..." : b.toString();
    }

    /** A bad file or argument is the caller's (4xx); a backend or server failure is ours (5xx). */
    static HttpResponseStatus statusOf(ErrorCode code) {
        return switch (code) {
            case INVALID_ARGUMENT, INVALID_ARTIFACT, UNSUPPORTED_VERSION, MODEL_LIMIT_EXCEEDED, IO_ERROR ->
                    HttpResponseStatus.BAD_REQUEST;
            case CANCELLED, BACKEND_UNAVAILABLE, UNKNOWN_BACKEND, OVERLOADED -> HttpResponseStatus.SERVICE_UNAVAILABLE;
            default -> HttpResponseStatus.INTERNAL_SERVER_ERROR;
        };
    }

    private static boolean allowed(ChannelHandlerContext ctx, boolean keepAlive, HttpMethod method, HttpMethod allowed) {
        if (method.equals(allowed)) {
            return true;
        }
        FullHttpResponse res = response(HttpResponseStatus.METHOD_NOT_ALLOWED, TEXT,
                method + " is not allowed here; use " + allowed);
        res.headers().set(HttpHeaderNames.ALLOW, allowed.name());
        write(ctx, keepAlive, res);
        return false;
    }

    private static void respond(ChannelHandlerContext ctx, boolean keepAlive, HttpResponseStatus status, String type,
                                String body) {
        write(ctx, keepAlive, response(status, type, body));
    }

    /**
     * A plain-text answer after which the connection closes (the refusals of the admin pipeline: 403, 408,
     * 413, 503); the caller closes it, with a linger where the client may still be sending.
     */
    static FullHttpResponse closing(HttpResponseStatus status, String body) {
        FullHttpResponse res = response(status, "text/plain; charset=utf-8", body);
        res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        return res;
    }

    private static FullHttpResponse response(HttpResponseStatus status, String type, String body) {
        byte[] bytes = (body.endsWith("\n") ? body : body + "\n").getBytes(StandardCharsets.UTF_8);
        FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, Unpooled.wrappedBuffer(bytes));
        res.headers().set(HttpHeaderNames.CONTENT_TYPE, type).setInt(HttpHeaderNames.CONTENT_LENGTH, bytes.length);
        return res;
    }

    private static void write(ChannelHandlerContext ctx, boolean keepAlive, FullHttpResponse res) {
        if (keepAlive) {
            res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
            ctx.writeAndFlush(res);
        } else {
            res.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent && !pending) {
            ctx.close(); // nothing asked for the admin idle timeout: an idle or unfinished request
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // A failed TLS handshake (no or an untrusted certificate, plain HTTP on an HTTPS port) reaches here
        // wrapped by the SslHandler's decoder: the client's trouble, like any I/O error.
        Throwable t = cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null
                ? cause.getCause() : cause;
        if (!(t instanceof java.io.IOException || t instanceof PrematureChannelClosureException)) {
            // Anything but a client's I/O trouble (or its hanging up mid-request) is a bug here: every
            // request is answered with a status.
            UNEXPECTED_FAILURES.increment();
            LOG.log(Level.WARNING, "admin request handling failed; closing the connection", cause);
        }
        ctx.close();
    }
}
