package org.shiftformer.client;

import java.time.Duration;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Settings of a {@link ShiftformerClient}, each with a documented default; {@link Builder#build()} checks
 * them and names the setting that is wrong.
 *
 * @param connectTimeout     TCP connect plus the Hello / Welcome / ModelInfo exchange (default 10 s)
 * @param clientName         sent in Hello (default {@value #CLIENT_NAME_DEFAULT})
 * @param nativeTransport    use Netty's epoll transport where available, else NIO (default true)
 * @param defaultDeadline    deadline sent with requests that set none; {@link Duration#ZERO} for none (default)
 * @param streamBufferTokens tokens a {@link TokenPublisher} buffers for a subscriber without demand before
 *                           the connection stops reading from the socket (default 64)
 * @param keepAlive          a connection that has neither sent nor received anything for this long sends a
 *                           Ping, so that the server's idle timeout (PROTOCOL.md section 3, 5 minutes by
 *                           default) does not close a connection kept open between requests (default
 *                           60 s; {@link Duration#ZERO} sends none)
 * @param tls                TLS settings, or null for plaintext (the default)
 * @param token              bearer token sent in Hello for servers with a tokens file, or null (the default);
 *                           {@link #toString()} never shows it
 */
public record ClientOptions(Duration connectTimeout, String clientName, boolean nativeTransport,
                            Duration defaultDeadline, int streamBufferTokens, Duration keepAlive, ClientTls tls,
                            String token) {
    public static final Duration CONNECT_TIMEOUT_DEFAULT = Duration.ofSeconds(10);
    public static final Duration KEEP_ALIVE_DEFAULT = Duration.ofSeconds(60);
    public static final String CLIENT_NAME_DEFAULT = "shiftformer-java-client 0.1.0";
    public static final int STREAM_BUFFER_TOKENS_DEFAULT = 64;
    /** Longest token the protocol carries, in UTF-8 bytes (PROTOCOL.md section 3). */
    public static final int MAX_TOKEN_BYTES = 1024;

    public ClientOptions {
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(clientName, "clientName");
        Objects.requireNonNull(defaultDeadline, "defaultDeadline");
        Objects.requireNonNull(keepAlive, "keepAlive");
        if (keepAlive.isNegative() || keepAlive.toMillis() > Integer.MAX_VALUE) {
            throw invalid("keepAlive " + keepAlive + " must be in [0, 2^31) ms (0: no keep-alive pings)");
        }
        if (connectTimeout.isNegative() || connectTimeout.isZero() || connectTimeout.toMillis() > Integer.MAX_VALUE) {
            throw invalid("connectTimeout " + connectTimeout + " must be positive and below 2^31 ms");
        }
        if (defaultDeadline.isNegative() || defaultDeadline.toMillis() > TranslationRequest.MAX_DEADLINE_MS) {
            throw invalid("defaultDeadline " + defaultDeadline + " must be in [0, 2^31) ms");
        }
        if (clientName.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 1024) {
            throw invalid("clientName must be at most 1024 UTF-8 bytes");
        }
        if (streamBufferTokens < 1) {
            throw invalid("streamBufferTokens " + streamBufferTokens + " must be >= 1");
        }
        if (token != null && (token.isEmpty()
                || token.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_TOKEN_BYTES)) {
            throw invalid("token must have 1 to " + MAX_TOKEN_BYTES + " UTF-8 bytes (null: none)");
        }
    }

    @Override
    public String toString() {
        return "ClientOptions[connectTimeout=" + connectTimeout + ", clientName=" + clientName + ", nativeTransport="
                + nativeTransport + ", defaultDeadline=" + defaultDeadline + ", streamBufferTokens=" + streamBufferTokens
                + ", keepAlive=" + keepAlive + ", tls=" + tls + ", token=" + (token == null ? "none" : "(not shown)") + "]";
    }

    /** Every default. */
    public static ClientOptions defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    private static ShiftformerException invalid(String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "client option " + message);
    }

    /** Builds {@link ClientOptions}; unset settings keep their defaults. */
    public static final class Builder {
        private Duration connectTimeout = CONNECT_TIMEOUT_DEFAULT;
        private String clientName = CLIENT_NAME_DEFAULT;
        private boolean nativeTransport = true;
        private Duration defaultDeadline = Duration.ZERO;
        private int streamBufferTokens = STREAM_BUFFER_TOKENS_DEFAULT;
        private Duration keepAlive = KEEP_ALIVE_DEFAULT;
        private ClientTls tls;
        private String token;

        private Builder() {
        }

        public Builder connectTimeout(Duration connectTimeout) {
            this.connectTimeout = connectTimeout;
            return this;
        }

        public Builder clientName(String clientName) {
            this.clientName = clientName;
            return this;
        }

        public Builder nativeTransport(boolean nativeTransport) {
            this.nativeTransport = nativeTransport;
            return this;
        }

        public Builder defaultDeadline(Duration defaultDeadline) {
            this.defaultDeadline = defaultDeadline;
            return this;
        }

        public Builder streamBufferTokens(int streamBufferTokens) {
            this.streamBufferTokens = streamBufferTokens;
            return this;
        }

        public Builder keepAlive(Duration keepAlive) {
            this.keepAlive = keepAlive;
            return this;
        }

        /** Speak TLS as {@code tls} says; null for plaintext. */
        public Builder tls(ClientTls tls) {
            this.tls = tls;
            return this;
        }

        /** The bearer token for Hello; null for none. */
        public Builder token(String token) {
            this.token = token;
            return this;
        }

        public ClientOptions build() {
            return new ClientOptions(connectTimeout, clientName, nativeTransport, defaultDeadline, streamBufferTokens,
                    keepAlive, tls, token);
        }
    }
}
