package org.shiftformer.cli;

import static org.shiftformer.cli.Main.ERR;
import static org.shiftformer.cli.Main.OUT;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import javax.net.ssl.SSLContext;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code shiftformer rollout}: moves a fleet of replicas to another model one replica at a time through
 * their admin ports (README, "Rolling model update"). For each replica in order: it must be ready
 * ({@code GET /health/ready} 200) before it is touched; {@code POST /admin/reload?path=MODEL} loads the new
 * model (new requests go to it at once, the replica's live streams finish on the old one: nothing is
 * dropped), the answer must name {@code --expect-sha256} when given, and the replica must be ready again
 * within {@code --ready-timeout} before the next one starts. The first replica that fails stops the
 * rollout (exit 1): the ones before it serve the new model, the rest the old one, and every one keeps
 * serving; run it again (with either model) to finish or to go back.
 */
@Command(name = "rollout", mixinStandardHelpOptions = true,
        description = "Move replicas to another model one at a time through their admin ports: check ready, "
                + "POST /admin/reload?path=MODEL, wait until ready again, then the next; stops at the first failure.",
        exitCodeListHeading = "Exit status:%n",
        exitCodeList = {"0:every replica serves the model", "1:a replica failed; the ones before it were moved, "
                + "the rest were not touched (each line says which)", "2:invalid options"})
final class RolloutCommand implements Callable<Integer> {
    @Option(names = "--admin", required = true, paramLabel = "HOST:PORT",
            description = "a replica's admin address (repeatable; they are moved in this order)")
    List<String> admins;
    @Option(names = "--model-path", required = true, paramLabel = "PATH",
            description = "the model file as each replica sees it (inside its --model-dir; relative paths resolve there)")
    String modelPath;
    @Option(names = "--expect-sha256", paramLabel = "HEX",
            description = "the SHA-256 the replicas must report after loading it (./shiftformer inspect prints it)")
    String expectSha256;
    @Option(names = "--ready-timeout", defaultValue = "PT2M", paramLabel = "DURATION",
            description = "how long a replica may take to be ready again, ISO-8601 (default ${DEFAULT-VALUE})")
    Duration readyTimeout;
    @Option(names = "--tls-ca", paramLabel = "PEM", description = "HTTPS, trusting these CA certificates")
    Path tlsCa;
    @Option(names = "--token-file", paramLabel = "FILE",
            description = "an admin token (role=admin), the first line of FILE; default: $" + TranslateCommand.TOKEN_ENV)
    Path tokenFile;

    @Override
    public Integer call() throws InterruptedException {
        if (expectSha256 != null && !expectSha256.matches("[0-9a-f]{64}")) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "--expect-sha256 must be 64 lowercase hex digits");
        }
        String token = TranslateCommand.token(tokenFile);
        HttpClient.Builder b = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10));
        if (tlsCa != null) {
            b.sslContext(sslContext(tlsCa));
        }
        try (HttpClient http = b.build()) {
            for (int i = 0; i < admins.size(); i++) {
                String admin = admins.get(i);
                String base = (tlsCa != null ? "https://" : "http://") + admin;
                String step = "[" + (i + 1) + "/" + admins.size() + "] " + admin + ": ";
                String why = moveOne(http, base, token);
                if (why != null) {
                    ERR.println(step + why);
                    ERR.println("rollout stopped: " + i + " replica(s) moved (" + String.join(", ", admins.subList(0, i))
                            + "), " + (admins.size() - i) + " not (" + String.join(", ", admins.subList(i, admins.size()))
                            + "); every replica still serves");
                    return 1;
                }
                OUT.println(step + "serving " + modelPath + (expectSha256 != null ? " (" + expectSha256 + ")" : "")
                        + ", ready");
                OUT.flush();
            }
        }
        OUT.println("rollout done: " + admins.size() + " replica(s) serve " + modelPath);
        return 0;
    }

    /** Moves one replica; null when it serves the model and is ready, otherwise why not. */
    private String moveOne(HttpClient http, String base, String token) throws InterruptedException {
        HttpResponse<String> ready = send(http, base + "/health/ready", "GET", null);
        if (ready == null || ready.statusCode() != 200) {
            return "not ready before the reload, not touched: " + describe(ready);
        }
        HttpResponse<String> reload = send(http, base + "/admin/reload?path="
                + URLEncoder.encode(modelPath, StandardCharsets.UTF_8), "POST", token);
        if (reload == null || reload.statusCode() != 200) {
            return "reload refused, it keeps its model: " + describe(reload);
        }
        if (expectSha256 != null && !reload.body().contains(expectSha256)) {
            return "reloaded, but not the expected model " + expectSha256 + ": " + reload.body().strip();
        }
        long end = System.nanoTime() + readyTimeout.toNanos();
        while (true) {
            ready = send(http, base + "/health/ready", "GET", null);
            if (ready != null && ready.statusCode() == 200) {
                return null;
            }
            if (System.nanoTime() - end > 0) {
                return "not ready within " + readyTimeout + " after the reload: " + describe(ready);
            }
            Thread.sleep(200);
        }
    }

    private static HttpResponse<String> send(HttpClient http, String url, String method, String token)
            throws InterruptedException {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofMinutes(5))
                .method(method, HttpRequest.BodyPublishers.noBody());
        if (token != null && method.equals("POST")) {
            r.header("Authorization", "Bearer " + token);
        }
        try {
            return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            ERR.println("  " + method + " " + url + ": " + e);
            return null;
        }
    }

    private static String describe(HttpResponse<String> r) {
        return r == null ? "no answer (see above)" : r.statusCode() + " " + r.body().strip();
    }

    private static SSLContext sslContext(Path ca) {
        try {
            return ((io.netty.handler.ssl.JdkSslContext) io.netty.handler.ssl.SslContextBuilder.forClient()
                    .sslProvider(io.netty.handler.ssl.SslProvider.JDK).trustManager(ca.toFile()).build()).context();
        } catch (Exception e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "--tls-ca " + ca + " (PEM certificates): "
                    + e.getMessage(), e);
        }
    }
}
