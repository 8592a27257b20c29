package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TranslationFuture;
import org.shiftformer.client.TranslationRequest;

/**
 * kill -9 of the container mid-load: every request in flight ends promptly with an error (no hang, none
 * lost), the ones that finished before the kill have the right tokens, and the same container started
 * again serves the right tokens.
 */
class KillTest {
    /** A hang guard, not a timing assertion: a killed process's sockets close at once, so this is generous. */
    private static final Duration HANG_GUARD = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @Test
    void killMidLoadFailsEveryRequestInFlightPromptlyAndARestartServesAgain() throws Exception {
        DockerSupport.requireDockerAndImage();
        try (TestModel model = TestModel.random(dir, "small", 3)) {
            // Long requests (64 tokens) at 4/s on 4 connections: several are mid-stream at any moment.
            int maxNewTokens = 64;
            List<int[]> sources = model.sources(32, 4, 16, 9);
            List<int[]> expected = model.expected(sources, maxNewTokens);
            LoadRun.Spec spec = new LoadRun.Spec(4, 4, 10_000, Duration.ofMinutes(5), maxNewTokens, HANG_GUARD);
            try (ShiftformerContainer server = new ShiftformerContainer(DockerSupport.IMAGE).withModel(model.file)) {
                server.start();
                List<ShiftformerClient> clients = new ArrayList<>();
                for (int i = 0; i < spec.clients(); i++) {
                    clients.add(server.client());
                }
                LoadRun run = new LoadRun(spec, sources, expected);
                CompletableFuture<LoadRun.Result> result = CompletableFuture.supplyAsync(() -> run.run(clients, null));

                // Kill once some requests have completed and at least 2 are streaming (bounded wait).
                long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
                while ((run.doneSoFar() < 2 || run.streamingNow() < 2) && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                assertTrue(run.streamingNow() >= 2, "fewer than 2 requests were streaming after 3 minutes");
                long killedNs = System.nanoTime();
                server.kill();
                run.stop();

                LoadRun.Result r = result.get(HANG_GUARD.toSeconds() + 30, TimeUnit.SECONDS);
                double endAfterKillS = (run.lastEndNs() - killedNs) / 1e9;
                System.out.printf("kill -9 mid-load: %s  last request ended %.3f s after the kill%n", r.summary().strip(),
                        endAfterKillS);
                assertEquals(Long.valueOf(137), server.exitCode(), "exit code of a SIGKILLed container");
                assertEquals(0, r.lost, "requests without any terminal event after the kill: " + r.summary());
                assertEquals(0, r.duplicated, r.summary());
                assertEquals(0, r.mismatched, "requests done before the kill must be right: " + r.summary());
                assertTrue(r.errors() >= 1, "the kill must fail the requests in flight: " + r.summary());
                assertEquals(Map.of(ErrorCode.IO_ERROR.name(), r.errors()), r.errorsByCode, r.summary());
                assertEquals(r.sent, r.done + r.errors(), r.summary());
                assertEquals(0, r.openConnections, "every connection sees the server go");
                for (ShiftformerClient c : clients) {
                    assertFalse(c.isOpen());
                    assertEquals(0, c.inFlight(), "nothing left in flight");
                    CompletionException later = assertThrows(CompletionException.class,
                            () -> c.translate(TranslationRequest.tokens(5, 6)).orTimeout(10, TimeUnit.SECONDS).join(),
                            "a dead connection fails a new request at once");
                    assertEquals(ErrorCode.IO_ERROR, ((ShiftformerException) later.getCause()).code());
                    c.close();
                }
                ShiftformerException refused = assertThrows(ShiftformerException.class, server::client);
                assertEquals(ErrorCode.IO_ERROR, refused.code(), "nothing listens while the container is down");

                // The same container, started again: same model, same ports, right tokens.
                server.restart();
                try (ShiftformerClient client = server.client()) {
                    List<TranslationFuture> fs = new ArrayList<>();
                    for (int[] s : sources) {
                        fs.add(client.translate(TranslationRequest.tokens(s).maxNewTokens(maxNewTokens)));
                    }
                    for (int i = 0; i < sources.size(); i++) {
                        assertArrayEquals(expected.get(i), fs.get(i).orTimeout(120, TimeUnit.SECONDS).join().tokens(),
                                "after the restart, request " + i);
                    }
                }
                assertEquals(sources.size(), LoadRun.requestsTotal(server.metricsText(), "done"),
                        "a fresh server process counts from zero");
            }
        }
    }
}
