package org.shiftformer.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.client.TestServers.CFG;
import static org.shiftformer.client.TestServers.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.Message;

/**
 * {@link ReplicatedClient} against three real servers of one model on 127.0.0.1, each behind a TCP relay
 * that a test closes abruptly, as a replica that dies would go: requests spread over the replicas, the
 * streams of the dead one are resumed on the others, and every listener sees exactly the tokens of local
 * decoding, once each, in order; a replica that comes back is used again; with none up, a request gives up
 * within its bounds and says why.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ReplicatedClientTest {
    private static final int MAX_NEW = 30;

    @TempDir
    static Path dir;
    private static TestServers fx;

    @BeforeAll
    static void model() {
        fx = new TestServers(dir);
    }

    @AfterAll
    static void closeBackend() {
        fx.backend.close();
    }

    private static ReplicatedClient.Options options() {
        return ReplicatedClient.Options.defaults().withMaxAttempts(5)
                .withHealth(Duration.ofMillis(200), Duration.ofSeconds(2), Duration.ofMillis(300));
    }

    private record Sent(int[] source, List<TokenEvent> streamed, CompletableFuture<ReplicatedClient.Result> result) {
    }

    private static Sent send(ReplicatedClient client, int[] source) {
        List<TokenEvent> streamed = new CopyOnWriteArrayList<>();
        return new Sent(source, streamed, client.translate(TranslationRequest.tokens(source).maxNewTokens(MAX_NEW),
                streamed::add));
    }

    /** The listener saw exactly local decoding's tokens, indexes 0, 1, 2, ...; the result has them all. */
    private static ReplicatedClient.Result check(Sent s) throws Exception {
        ReplicatedClient.Result r = s.result.get(60, TimeUnit.SECONDS);
        DecodeParams params = new Message.Params(1, MAX_NEW, 0).resolve(CFG.maxPositions(),
                ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
        int[] expected;
        try (LoadedModel local = new NoEosModel(fx.reference())) {
            expected = TestServers.local(local, s.source, params).tokens();
        }
        assertEquals(MAX_NEW, expected.length);
        assertArrayEquals(expected, r.translation().tokens());
        assertEquals(expected.length, s.streamed.size(), () -> "streamed " + s.streamed + " via " + r.replicas());
        for (int i = 0; i < expected.length; i++) {
            assertEquals(i, s.streamed.get(i).index(), "indexes without gap or repeat");
            assertEquals(expected[i], s.streamed.get(i).token());
        }
        assertEquals(r.replicas().size() - 1, r.resumes());
        if (r.resumes() == 0) {
            assertEquals(0, r.translation().resumedFrom());
        }
        return r;
    }

    private static List<int[]> sources(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(rnd.ints(1 + rnd.nextInt(10), 3, CFG.vocabSize()).toArray());
        }
        return out;
    }

    @Test
    void streamsOfAReplicaThatDiesAreResumedOnTheOthersAndItIsUsedAgainWhenItReturns() throws Exception {
        List<ShiftformerServer> servers = new ArrayList<>();
        List<TestServers.Relay> relays = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                ShiftformerServer s = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 4));
                servers.add(s);
                relays.add(new TestServers.Relay(s.localAddress()));
            }
            List<String> addresses = relays.stream().map(r -> "127.0.0.1:" + r.port()).toList();
            try (ReplicatedClient client = ReplicatedClient.connect(addresses, options())) {
                List<Sent> sent = new ArrayList<>();
                for (int[] src : sources(24, 3)) {
                    sent.add(send(client, src));
                }
                // Kill replica 0 while its streams are half-way: its connections drop, it refuses new ones.
                await("replica 0 streaming", () -> servers.get(0).stats().tokens() >= 20);
                relays.get(0).close();
                Set<String> used = new HashSet<>();
                int resumed = 0;
                int midStream = 0;
                for (Sent s : sent) {
                    ReplicatedClient.Result r = check(s);
                    used.addAll(r.replicas());
                    if (r.resumes() > 0) {
                        resumed++;
                        assertEquals(addresses.get(0), r.replicas().get(0), "resumed streams started on the dead replica");
                        midStream += r.translation().resumedFrom() > 0 ? 1 : 0; // 0: it was still queued
                        assertTrue(!r.replicas().get(r.replicas().size() - 1).equals(addresses.get(0)));
                    }
                }
                assertEquals(Set.copyOf(addresses), used, "requests were spread over the three replicas");
                assertTrue(resumed >= 1 && midStream >= 1, "streams resumed: " + resumed + ", after tokens: " + midStream);
                String dead = client.replicaStates().get(0);
                assertTrue(!dead.contains(" up") && dead.contains("down"), client.replicaStates().toString());

                // Replica 0 comes back on the same address: after its backoff, requests go there again.
                relays.set(0, new TestServers.Relay(servers.get(0).localAddress(), relays.get(0).port()));
                long before = servers.get(0).stats().accepted();
                await("replica 0 used again", () -> {
                    List<Sent> more = new ArrayList<>();
                    for (int[] src : sources(6, 5)) {
                        more.add(send(client, src));
                    }
                    for (Sent s : more) {
                        try {
                            check(s);
                        } catch (Exception e) {
                            throw new AssertionError(e);
                        }
                    }
                    return servers.get(0).stats().accepted() > before;
                });
            }
        } finally {
            for (TestServers.Relay r : relays) {
                r.close();
            }
            for (ShiftformerServer s : servers) {
                s.close();
            }
        }
    }

    @Test
    void withNoReplicaUpARequestGivesUpWithinItsBoundsAndSaysWhy() throws Exception {
        TestServers.Relay gone;
        try (ShiftformerServer s = fx.start()) {
            gone = new TestServers.Relay(s.localAddress());
        }
        gone.close(); // nothing listens there now
        ReplicatedClient.Options o = options().withMaxAttempts(3);
        try (ReplicatedClient client = ReplicatedClient.connect(List.of("127.0.0.1:" + gone.port()), o)) {
            List<TokenEvent> none = new CopyOnWriteArrayList<>();
            long t0 = System.nanoTime();
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> client.translate(TranslationRequest.tokens(5, 6), none::add).get(30, TimeUnit.SECONDS));
            ShiftformerException se = assertInstanceOf(ShiftformerException.class, e.getCause());
            assertEquals(ErrorCode.IO_ERROR, se.code());
            assertTrue(se.getMessage().startsWith("gave up after 3 attempts"), se.getMessage());
            assertTrue(se.getMessage().contains("down"), se.getMessage());
            assertTrue(none.isEmpty());
            assertTrue(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0) < 20);
        }
        ShiftformerException bad = assertThrows(ShiftformerException.class,
                () -> ReplicatedClient.connect(List.of("nohostport"), options()));
        assertEquals(ErrorCode.INVALID_ARGUMENT, bad.code());
    }

    @Test
    void aRequestsOwnErrorIsNotRetried() throws Exception {
        try (ShiftformerServer a = fx.start(); ShiftformerServer b = fx.start();
             ReplicatedClient client = ReplicatedClient.connect(List.of("127.0.0.1:" + a.localAddress().getPort(),
                     "127.0.0.1:" + b.localAddress().getPort()), options())) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> client.translate(
                    TranslationRequest.tokens(CFG.vocabSize() + 5)).get(30, TimeUnit.SECONDS));
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertInstanceOf(ShiftformerException.class, e.getCause()).code());
            assertEquals(1, a.stats().rejected() + b.stats().rejected(), "sent once");
        }
    }
}
