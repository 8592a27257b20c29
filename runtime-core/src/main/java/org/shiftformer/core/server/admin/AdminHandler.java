package org.shiftformer.core.server.admin;

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
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** Routes one admin HTTP request (see {@link AdminServer}); per channel, on its event loop. */
final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    static final int MAX_REQUEST_BYTES = 8192;
    /** Content type of the Prometheus text exposition format 0.0.4. */
    static final String PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
    private static final String TEXT = "text/plain; charset=utf-8";

    private final AdminServer.Endpoints endpoints;
    private final ExecutorService reloads;

    AdminHandler(AdminServer.Endpoints endpoints, ExecutorService reloads) {
        this.endpoints = endpoints;
        this.reloads = reloads;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        if (!req.decoderResult().isSuccess()) {
            respond(ctx, false, HttpResponseStatus.BAD_REQUEST, TEXT, "malformed request: " + req.decoderResult().cause());
            return;
        }
        QueryStringDecoder uri = new QueryStringDecoder(req.uri());
        HttpMethod method = req.method();
        switch (uri.path()) {
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
                    List<String> paths = uri.parameters().get("path");
                    String path = paths == null || paths.isEmpty() ? null : paths.get(0);
                    reload(ctx, keepAlive, path);
                }
            }
            default -> respond(ctx, keepAlive, HttpResponseStatus.NOT_FOUND, TEXT, "no such endpoint: " + uri.path()
                    + " (try /metrics, /health/live, /health/ready, POST /admin/reload)");
        }
    }

    /** The model loads on the reload thread; the answer is written from there (Netty hops to the loop). */
    private void reload(ChannelHandlerContext ctx, boolean keepAlive, String path) {
        try {
            reloads.execute(() -> {
                try {
                    String served = endpoints.reload(path);
                    respond(ctx, keepAlive, HttpResponseStatus.OK, TEXT, "reloaded: " + served);
                } catch (ShiftformerException e) {
                    respond(ctx, keepAlive, statusOf(e.code()), TEXT, "error: [" + e.code() + "] " + e.getMessage());
                } catch (RuntimeException e) {
                    respond(ctx, keepAlive, HttpResponseStatus.INTERNAL_SERVER_ERROR, TEXT, "error: [INTERNAL] " + e);
                }
            });
        } catch (RejectedExecutionException e) {
            respond(ctx, false, HttpResponseStatus.SERVICE_UNAVAILABLE, TEXT, "server is shutting down");
        }
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
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close(); // an admin client's I/O trouble: nobody else to tell
    }
}
