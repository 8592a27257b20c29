package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.client.ReplicatedClient;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TranslationFuture;
import org.shiftformer.client.TranslationRequest;

/**
 * Three server containers behind HAProxy ({@link HaproxyContainer}: TCP mode, least connections, health
 * checks on each replica's {@code /health/ready}), all on 127.0.0.1 with host networking. First the
 * topology: every replica UP in HAProxy's statistics, connections through it spread over the three, the
 * right tokens. Then load through the balancer, with {@link ReplicatedClient}s whose only address is
 * HAProxy's: side by side with the same load sent directly to one replica, then while one replica is
 * {@code kill -9}ed and restarted. Every request must complete with exactly local decoding's tokens, each
 * token once with consecutive indexes; the streams the kill cut off are resumed through the balancer on
 * another replica. The figures are printed, not asserted (the machine is shared).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LoadBalancerTest {
    private static final int REPLICAS = 3;
    private static final int MAX_NEW_TOKENS = 192;
    private static final int CANDIDATES = 256;
    /** kill -9 / restart cycles at most, until one cuts a stream off. */
    private static final int KILLS = 3;
    /** Requests per replica before the measured runs. */
    private static final int WARM_UP = 8;
    /** A stream with tokens that receives nothing for this long is stalled (its replica is frozen). */
    private static final Duration STALL = Duration.ofMillis(350);
    /** Arrivals per second through HAProxy while replicas are killed. */
    private static final double KILL_RATE = 8;
    /** Requests of the topology check: per connection, over 2 connections per replica. */
    private static final int TOPOLOGY_REQUESTS = 2;
    /** Bounds every wait on the load: a killed process's sockets close at once, so this is generous. */
    private static final Duration DRAIN = Duration.ofSeconds(60);

    @TempDir
    static Path dir;

    private TestModel model;
    private List<int[]> sources;
    private List<int[]> expected;
    private final List<ShiftformerContainer> servers = new ArrayList<>();
    private HaproxyContainer lb;

    @BeforeAll
    void startTopology() {
        DockerSupport.requireDockerAndHaproxy();
        model = TestModel.random(dir, "small", 12);
        for (int i = 0; i < REPLICAS; i++) {
            servers.add(new ShiftformerContainer(DockerSupport.IMAGE).withModel(model.file)
                    .withServerProperty("maxQueued", "100000"));
        }
        // The replicas start together (JVM start and model load); local decoding of the pool meanwhile.
        List<CompletableFuture<Void>> starting = servers.stream()
                .map(s -> CompletableFuture.runAsync(s::start)).toList();
        long t = System.nanoTime();
        // Long streams, so that a kill finds some mid-stream: of random sources, those whose greedy output
        // has no EOS in its first 32 tokens (a short decode), then those of them with >= MAX_NEW_TOKENS / 2.
        List<int[]> candidates = model.sources(CANDIDATES, 4, 16, 21);
        List<int[]> first = model.expected(candidates, 32);
        List<int[]> longer = new ArrayList<>();
        for (int i = 0; i < candidates.size(); i++) {
            if (first.get(i).length == 32) {
                longer.add(candidates.get(i));
            }
        }
        List<int[]> outputs = model.expected(longer, MAX_NEW_TOKENS);
        sources = new ArrayList<>();
        expected = new ArrayList<>();
        for (int i = 0; i < longer.size(); i++) {
            if (outputs.get(i).length >= MAX_NEW_TOKENS / 2) {
                sources.add(longer.get(i));
                expected.add(outputs.get(i));
            }
        }
        System.out.printf("pool: %d of %d random sources, outputs of %d to %d tokens (local decoding %.1f s)%n",
                sources.size(), candidates.size(), expected.stream().mapToInt(e -> e.length).min().orElse(0),
                expected.stream().mapToInt(e -> e.length).max().orElse(0), (System.nanoTime() - t) / 1e9);
        assertTrue(sources.size() >= 2 * REPLICAS, "too few long outputs in the pool: " + sources.size());
        starting.forEach(CompletableFuture::join);
        lb = new HaproxyContainer(DockerSupport.HAPROXY_IMAGE)
                .withReplicas(servers.toArray(ShiftformerContainer[]::new));
        lb.start();
    }

    @AfterAll
    void stopTopology() {
        if (lb != null) {
            lb.stop();
        }
        servers.forEach(ShiftformerContainer::stop);
        if (model != null) {
            model.close();
        }
    }

    @Test
    @Order(1)
    void haproxyChecksEveryReplicaAndSpreadsConnectionsOverThem() throws Exception {
        Map<String, HaproxyContainer.Server> stats = lb.servers();
        assertEquals(List.of("r1", "r2", "r3"), List.copyOf(stats.keySet()), lb.config());
        for (int i = 0; i < REPLICAS; i++) {
            ShiftformerContainer s = servers.get(i);
            HaproxyContainer.Server st = stats.get("r" + (i + 1));
            assertTrue(st.up(), "r" + (i + 1) + ": " + st);
            assertEquals("L7OK", st.checkStatus(), "the health check is HTTP on /health/ready: " + st);
            assertTrue(lb.config().contains("server r" + (i + 1) + " 127.0.0.1:" + s.port() + " check port "
                    + s.adminPort() + "\n"), lb.config());
        }
        assertTrue(lb.config().contains("option httpchk GET /health/ready\n"), lb.config());
        assertTrue(lb.config().contains("mode tcp\n"), lb.config());

        long[] before = doneCounts();
        // 2 connections per replica through the balancer: least connections puts 2 on each.
        List<ShiftformerClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 2 * REPLICAS; i++) {
                clients.add(ShiftformerClient.connect(lb.getHost(), lb.port()));
            }
            Map<String, HaproxyContainer.Server> open = lb.servers();
            for (String name : open.keySet()) {
                assertEquals(2, open.get(name).sessionsNow(), "connections on " + name + ": " + open);
            }
            List<TranslationFuture> fs = new ArrayList<>();
            for (int k = 0; k < TOPOLOGY_REQUESTS; k++) {
                for (int c = 0; c < clients.size(); c++) {
                    fs.add(clients.get(c).translate(TranslationRequest.tokens(sources.get(c)).maxNewTokens(MAX_NEW_TOKENS)));
                }
            }
            for (int i = 0; i < fs.size(); i++) {
                assertArrayEquals(expected.get(i % clients.size()), fs.get(i).get(60, TimeUnit.SECONDS).tokens(),
                        "request " + i + " through HAProxy");
            }
        } finally {
            clients.forEach(ShiftformerClient::close);
        }
        long[] after = doneCounts();
        for (int i = 0; i < REPLICAS; i++) {
            assertEquals(2 * TOPOLOGY_REQUESTS, after[i] - before[i], "requests served by r" + (i + 1));
        }
    }

    @Test
    @Order(2)
    void killAndRestartOfAReplicaUnderLoadThroughHaproxyLosesNoToken() throws Exception {
        ReplicatedClient.Options options = ReplicatedClient.Options.defaults().withMaxAttempts(8)
                .withHealth(Duration.ofSeconds(1), Duration.ofSeconds(3), Duration.ofMillis(250));
        ShiftformerContainer direct = servers.get(0);
        List<ReplicatedClient> viaLb = new ArrayList<>();
        List<ReplicatedClient> toOne = new ArrayList<>();
        try {
            for (int i = 0; i < 2 * REPLICAS; i++) {
                viaLb.add(ReplicatedClient.connect(List.of(lb.address()), options));
            }
            for (int i = 0; i < 2; i++) {
                toOne.add(ReplicatedClient.connect(List.of(direct.getHost() + ":" + direct.port()), options));
            }

            warmUp();
            // 1. Side by side, at the same time on the same machine: the same load through HAProxy (over 3
            //    replicas) and directly to r1, both with ReplicatedClients (the only difference: the balancer).
            LoadRun.Spec steady = new LoadRun.Spec(2, 3, 45, Duration.ofSeconds(15), MAX_NEW_TOKENS, DRAIN);
            LoadRun balancedRun = new LoadRun(new LoadRun.Spec(viaLb.size(), 3, 45, Duration.ofSeconds(15),
                    MAX_NEW_TOKENS, DRAIN), sources, expected);
            LoadRun directRun = new LoadRun(steady, sources, expected);
            CompletableFuture<LoadRun.Result> balancedF = CompletableFuture.supplyAsync(
                    () -> balancedRun.runOn(senders(viaLb), null));
            CompletableFuture<LoadRun.Result> directF = CompletableFuture.supplyAsync(
                    () -> directRun.runOn(senders(toOne), null));
            LoadRun.Result balanced = balancedF.get(DRAIN.toSeconds() + 60, TimeUnit.SECONDS);
            LoadRun.Result directly = directF.get(DRAIN.toSeconds() + 60, TimeUnit.SECONDS);
            System.out.printf("load balancer, steady: through HAProxy%n%s  directly to r1%n%s", balanced.summary(),
                    directly.summary());
            assertClean(balanced, "through HAProxy, steady");
            assertClean(directly, "directly to r1, steady");
            assertEquals(0, balanced.resumes, "nothing failed: nothing resumed; " + balanced.summary());

            // 2. kill -9 of a replica mid-stream, through HAProxy, restarted while the load goes on. A stream
            //    lasts ~100 ms here: a kill sent when the replica's metrics show a live stream often lands after
            //    it ended. So the replica is frozen first (docker pause, the cgroup freezer: a stalled process),
            //    and killed only once the clients hold a stream that has tokens and is stalled (nothing for
            //    STALL); else it thaws and is tried again. If no stream was resumed mid-stream all the same, the
            //    next replica is killed (r3, then r2, then r1: each has connections then), KILLS at most.
            LoadRun killRun = new LoadRun(new LoadRun.Spec(viaLb.size(), KILL_RATE, 1000, Duration.ofSeconds(100),
                    MAX_NEW_TOKENS, DRAIN), sources, expected);
            CompletableFuture<LoadRun.Result> killF = CompletableFuture.supplyAsync(
                    () -> killRun.runOn(senders(viaLb), null));
            StringBuilder kills = new StringBuilder();
            int killCount = 0;
            ShiftformerContainer victim = null;
            while (killCount < KILLS && (killCount == 0 || killRun.resumedSoFar(true) == 0)) {
                victim = servers.get(REPLICAS - 1 - killCount);
                String name = "r" + (REPLICAS - killCount);
                int stalled = 0;
                int pauses = 0;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (stalled == 0 && System.nanoTime() < deadline) {
                    if (killRun.doneSoFar() < 6 || streamsLive(victim) < 1) {
                        Thread.sleep(5);
                        continue;
                    }
                    victim.getDockerClient().pauseContainerCmd(victim.getContainerId()).exec();
                    pauses++;
                    Thread.sleep(STALL.toMillis() + 150);
                    stalled = killRun.stalledStreams(STALL.toNanos());
                    if (stalled == 0) {
                        victim.getDockerClient().unpauseContainerCmd(victim.getContainerId()).exec();
                        Thread.sleep(200);
                    }
                }
                assertTrue(stalled >= 1, name + " streamed nothing that a pause could stall within 30 s ("
                        + pauses + " pauses): " + lb.servers());
                int sentAtKill = killRun.sentSoFar();
                victim.kill(); // SIGKILL reaches a frozen process too; Docker thaws the container as it stops
                killCount++;
                assertEquals(Long.valueOf(137), victim.exitCode(), "exit code of a SIGKILLed container");
                Duration markedDown = lb.awaitServer(name, false, Duration.ofSeconds(10));
                long restartStart = System.nanoTime();
                victim.restart();
                double restartS = (System.nanoTime() - restartStart) / 1e9;
                Duration markedUp = lb.awaitServer(name, true, Duration.ofSeconds(20));
                kills.append(String.format("  kill %d: %s frozen with %d stream(s) stalled mid-stream (after %d pause(s), "
                                + "%d requests sent); HAProxy marked it down %d ms after the kill; restart() %.1f s; "
                                + "marked up %d ms after%n", killCount, name, stalled, pauses, sentAtKill,
                        markedDown.toMillis(), restartS, markedUp.toMillis()));
                long ended = System.nanoTime() + DRAIN.toNanos();
                while (!killRun.endedUpTo(sentAtKill) && System.nanoTime() < ended) {
                    Thread.sleep(50); // the requests the kill cut off end (resumed elsewhere) before counting them
                }
                Thread.sleep(1000); // the load goes on with the replica back in the pool
            }
            killRun.stop();
            LoadRun.Result killed = killF.get(DRAIN.toSeconds() + 60, TimeUnit.SECONDS);
            System.out.printf("load balancer, kill -9 and restart under load, %d kill(s):%n%s%s", killCount, kills,
                    killed.summary());
            assertClean(killed, "through HAProxy, a replica killed and restarted");
            assertTrue(killed.resumedMidStream >= 1, "the kill cut streams off mid-stream; they must have been "
                    + "resumed after their first tokens: " + killed.summary());

            // 3. The restarted replica has no connection left (they died with it, and went elsewhere): HAProxy
            //    sends the next one to it (fewest connections), and it serves the right tokens.
            String name = "r" + (REPLICAS - killCount + 1);
            long victimBefore = LoadRun.requestsTotal(victim.metricsText(), "done");
            assertEquals(0, lb.servers().get(name).sessionsNow(), name + "'s connections died with it: " + lb.servers());
            try (ReplicatedClient fresh = ReplicatedClient.connect(List.of(lb.address()), options)) {
                for (int i = 0; i < 4; i++) {
                    ReplicatedClient.Result r = fresh.translate(TranslationRequest.tokens(sources.get(i))
                            .maxNewTokens(MAX_NEW_TOKENS)).get(60, TimeUnit.SECONDS);
                    assertArrayEquals(expected.get(i), r.translation().tokens(), "after the restart, request " + i);
                }
            }
            assertEquals(4, LoadRun.requestsTotal(victim.metricsText(), "done") - victimBefore,
                    "the restarted replica " + name + " serves the new connection");

            System.out.print(figures(balanced, directly, killed));
        } finally {
            viaLb.forEach(ReplicatedClient::close);
            toOne.forEach(ReplicatedClient::close);
        }
    }

    /** A few requests on each replica first, so that no run pays for a cold JIT more than the other. */
    private void warmUp() throws Exception {
        List<ShiftformerClient> clients = new ArrayList<>();
        try {
            List<TranslationFuture> fs = new ArrayList<>();
            for (ShiftformerContainer s : servers) {
                ShiftformerClient c = s.client();
                clients.add(c);
                for (int i = 0; i < WARM_UP; i++) {
                    fs.add(c.translate(TranslationRequest.tokens(sources.get(i)).maxNewTokens(MAX_NEW_TOKENS)));
                }
            }
            for (TranslationFuture f : fs) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            clients.forEach(ShiftformerClient::close);
        }
    }

    private static List<LoadRun.Sender> senders(List<ReplicatedClient> clients) {
        return clients.stream().map(LoadRun.Sender::of).toList();
    }

    private static void assertClean(LoadRun.Result r, String what) {
        assertEquals(0, r.lost, what + ": lost; " + r.summary());
        assertEquals(0, r.duplicated, what + ": duplicated; " + r.summary());
        assertEquals(0, r.gaps, what + ": token index gaps; " + r.summary());
        assertEquals(0, r.mismatched, what + ": mismatches; " + r.summary());
        assertEquals(0, r.errors(), what + ": errors; " + r.summary());
        assertEquals(r.sent, r.done, what + ": " + r.summary());
        assertTrue(r.sent >= 10, what + ": only " + r.sent + " requests were sent");
    }

    /** Each replica's {@code shiftformer_requests_total{status="done"}}. */
    private long[] doneCounts() {
        long[] n = new long[REPLICAS];
        for (int i = 0; i < REPLICAS; i++) {
            n[i] = LoadRun.requestsTotal(servers.get(i).metricsText(), "done");
        }
        return n;
    }

    /** {@code shiftformer_streams_live}: requests the server is streaming now. */
    private static int streamsLive(ShiftformerContainer s) {
        double sum = 0;
        for (String line : s.metricsText().split("\n")) {
            if (line.startsWith("shiftformer_streams_live ") || line.startsWith("shiftformer_streams_live{")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return (int) Math.round(sum);
    }

    /** The closing table: requests, resumes, lost/duplicated/mismatched, TTFT and inter-token p50/p99. */
    static String figures(LoadRun.Result balanced, LoadRun.Result direct, LoadRun.Result killed) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%nload balancer figures (%d CPUs, load average %.1f to %.1f)%n",
                Runtime.getRuntime().availableProcessors(), direct.loadBefore, killed.loadAfter));
        sb.append(String.format("| %-36s | %8s | %21s | %4s | %10s | %10s | %21s | %21s |%n", "run", "requests",
                "resumed (mid-stream)", "lost", "duplicated", "mismatches", "TTFT p50 / p99 (ms)", "inter-token p50 / p99"));
        for (var row : List.of(Map.entry("directly to r1 (steady)", direct),
                Map.entry("through HAProxy (steady, same time)", balanced),
                Map.entry("through HAProxy, kill -9 + restart", killed))) {
            LoadRun.Result r = row.getValue();
            sb.append(String.format("| %-36s | %8d | %21s | %4d | %10d | %10d | %9.1f / %9.1f | %9.2f / %9.2f |%n",
                    row.getKey(), r.sent, r.resumedRequests + " (" + r.resumedMidStream + ")", r.lost, r.duplicated + r.gaps, r.mismatched,
                    LoadRun.percentile(r.ttftMs, 0.5), LoadRun.percentile(r.ttftMs, 0.99),
                    LoadRun.percentile(r.itlMs, 0.5), LoadRun.percentile(r.itlMs, 0.99)));
        }
        return sb.toString();
    }
}
