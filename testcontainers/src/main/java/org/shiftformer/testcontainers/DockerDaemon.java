package org.shiftformer.testcontainers;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.URI;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Plain HTTP/1.0 {@code GET}s on the Docker daemon's API, for the checks this module makes before
 * Testcontainers builds its client (building the client is what may pull an image or fail on an API
 * version). Daemons it asks, in Testcontainers' order, the first that answers: {@code DOCKER_HOST} as
 * {@code unix://PATH} or plain {@code tcp://HOST:PORT} (without {@code DOCKER_TLS_VERIFY}), then
 * {@code /var/run/docker.sock}.
 */
final class DockerDaemon {
    static final String DEFAULT_HOST = "unix:///var/run/docker.sock";
    static final long TIMEOUT_MS = 5_000;

    private DockerDaemon() {
    }

    /** An answer: the host that gave it and the raw HTTP response (status line, headers, body). */
    record Answer(String host, String response) {
        /** Whether the status line says 200. */
        boolean ok() {
            return response.startsWith("HTTP/1.0 200 ") || response.startsWith("HTTP/1.1 200 ");
        }

        /** The body after the headers. */
        String body() {
            int i = response.indexOf("\r\n\r\n");
            return i < 0 ? response : response.substring(i + 4);
        }
    }

    /** {@code DOCKER_HOST}, then the default socket (each once). */
    static List<String> hosts() {
        List<String> hosts = new ArrayList<>();
        String env = System.getenv("DOCKER_HOST");
        if (env != null && !env.isBlank()) {
            hosts.add(env);
        }
        if (!hosts.contains(DEFAULT_HOST)) {
            hosts.add(DEFAULT_HOST);
        }
        return hosts;
    }

    /**
     * {@code GET path} on the first daemon that answers, or null when none does; why each did not is
     * added to {@code failures}.
     */
    static Answer get(String path, List<String> failures) throws InterruptedException {
        for (String h : hosts()) {
            String answer;
            try {
                answer = CompletableFuture.supplyAsync(() -> ask(h, path)).get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                failures.add(h + " did not answer GET " + path + " within " + TIMEOUT_MS + " ms");
                continue;
            } catch (ExecutionException e) {
                failures.add("cannot ask " + h + " for " + path + ": " + e.getCause().getMessage());
                continue;
            }
            if (answer == null) {
                failures.add(h + " is not a unix socket or a plain tcp address");
                continue;
            }
            return new Answer(h, answer);
        }
        return null;
    }

    /** The raw HTTP answer to {@code GET path}, or null for a host this cannot reach without TLS. */
    private static String ask(String host, String path) {
        byte[] request = ("GET " + path + " HTTP/1.0\r\nHost: docker\r\n\r\n").getBytes(StandardCharsets.US_ASCII);
        URI uri = URI.create(host);
        try {
            if ("unix".equals(uri.getScheme())) {
                try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                    ch.connect(UnixDomainSocketAddress.of(uri.getPath()));
                    ch.write(ByteBuffer.wrap(request));
                    ByteBuffer buf = ByteBuffer.allocate(256 * 1024);
                    while (buf.hasRemaining() && ch.read(buf) >= 0) {
                        // HTTP/1.0: the daemon closes after the answer
                    }
                    return new String(buf.array(), 0, buf.position(), StandardCharsets.UTF_8);
                }
            }
            if ("tcp".equals(uri.getScheme()) && !"1".equals(System.getenv("DOCKER_TLS_VERIFY"))) {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(uri.getHost(), uri.getPort()), (int) TIMEOUT_MS);
                    s.setSoTimeout((int) TIMEOUT_MS);
                    OutputStream out = s.getOutputStream();
                    out.write(request);
                    out.flush();
                    return new String(s.getInputStream().readNBytes(256 * 1024), StandardCharsets.UTF_8);
                }
            }
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage() == null ? e.toString() : e.getMessage(), e);
        }
    }
}
