package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.client.ReplicatedClient;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.server.FallbackPolicy;
import org.shiftformer.core.server.ModelLoader;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.Message;

/**
 * {@code rollout} under load: three replicas of model A, clients sending requests through
 * {@link ReplicatedClient} all the time, the fleet moved to model B one replica at a time. No request
 * fails, and each is answered by one model from its first token to its last: its tokens are exactly local
 * decoding's on the model its Done names. A rollout that meets an unexpected model stops there, leaving the
 * rest untouched and every replica serving.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class RolloutTest {
    private static final int MAX_NEW = 10;

    @RegisterExtension
    final CliOutput io = new CliOutput();

    private record Fleet(List<ShiftformerServer> servers, List<String> admins, List<String> protocol) implements AutoCloseable {
        @Override
        public void close() {
            servers.forEach(ShiftformerServer::close);
        }
    }

    private static Fleet fleet(ModelLoader loader, Path model, int n) {
        List<ShiftformerServer> servers = new ArrayList<>();
        List<String> admins = new ArrayList<>();
        List<String> protocol = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ShiftformerServer s = ShiftformerServer.start(ServerConfig.builder().port(0).adminPort(0)
                    .bindAddress("127.0.0.1").drainTimeoutMs(2_000).conclude(), loader.load(model), loader, null);
            servers.add(s);
            admins.add("127.0.0.1:" + s.adminAddress().getPort());
            protocol.add("127.0.0.1:" + s.localAddress().getPort());
        }
        return new Fleet(servers, admins, protocol);
    }

    private Path model(Path dir, String name, int seed) {
        Path f = dir.resolve(name);
        assertEquals(0, Main.run("random", "--preset", "tiny", "--vocab", "300", "--max-positions", "32", "--seed",
                Integer.toString(seed), "-o", f.toString()), io::err);
        return f;
    }

    @Test
    void aFleetMovesToAnotherModelUnderLoadWithoutAFailedOrMixedRequest(@TempDir Path dir) throws Exception {
        Path a = model(dir, "a.itm", 7);
        Path b = model(dir, "b.itm", 8);
        Artifact artA = ArtifactReader.read(a);
        Artifact artB = ArtifactReader.read(b);
        BackendProvider reference = Backends.select("reference");
        try (Backend backend = reference.open(Map.of());
             Fleet fleet = fleet(new ModelLoader(new FallbackPolicy.Choice(reference, backend, "reference", null), a), a, 3);
             ReplicatedClient client = ReplicatedClient.connect(fleet.protocol(), ReplicatedClient.Options.defaults())) {
            AtomicBoolean stop = new AtomicBoolean();
            Map<Integer, int[]> sources = new ConcurrentHashMap<>();
            List<Object[]> results = new CopyOnWriteArrayList<>(); // {source index, Result}
            List<Throwable> failures = new CopyOnWriteArrayList<>();
            List<Thread> load = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                int seed = t;
                load.add(Thread.ofVirtual().start(() -> {
                    SplittableRandom rnd = new SplittableRandom(seed);
                    for (int i = 0; !stop.get(); i++) {
                        int key = seed * 1_000_000 + i;
                        int[] src = rnd.ints(1 + rnd.nextInt(8), 3, 300).toArray();
                        sources.put(key, src);
                        try {
                            results.add(new Object[] {key, client.translate(TranslationRequest.tokens(src)
                                    .maxNewTokens(MAX_NEW)).get(60, TimeUnit.SECONDS)});
                        } catch (Exception e) {
                            failures.add(e);
                        }
                    }
                }));
            }
            Thread.sleep(500);
            int code = Main.run("rollout", "--admin", fleet.admins().get(0), "--admin", fleet.admins().get(1), "--admin",
                    fleet.admins().get(2), "--model-path", b.toString(), "--expect-sha256", artB.sha256Hex());
            assertEquals(0, code, io::err);
            assertTrue(io.out().contains("[3/3] " + fleet.admins().get(2) + ": serving") && io.out().contains("rollout done"),
                    io.out());
            Thread.sleep(500);
            stop.set(true);
            for (Thread t : load) {
                t.join(60_000);
            }
            assertEquals(List.of(), failures, "no request failed during the rollout");
            for (ShiftformerServer s : fleet.servers()) {
                assertEquals(artB.sha256Hex(), s.served().sha256());
            }
            // Each result is exactly one model's decoding of its source.
            DecodeParams params = new Message.Params(1, MAX_NEW, 0).resolve(32, ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
            Set<String> models = new HashSet<>();
            try (LoadedModel localA = backend.load(artA.model()); LoadedModel localB = backend.load(artB.model())) {
                for (Object[] r : results) {
                    ReplicatedClient.Result res = (ReplicatedClient.Result) r[1];
                    String sha = res.translation().modelSha256();
                    models.add(sha);
                    LoadedModel local = sha.equals(artA.sha256Hex()) ? localA : sha.equals(artB.sha256Hex()) ? localB : null;
                    assertTrue(local != null, "answered by an unknown model " + sha);
                    int[] src = sources.get((Integer) r[0]);
                    int[] withEos = Arrays.copyOf(src, src.length + 1);
                    withEos[src.length] = local.config().eosId();
                    assertArrayEquals(Decoding.decode(local, List.of(withEos), params, TokenListener.NONE).get(0).tokens(),
                            res.translation().tokens(), "request " + r[0] + " on " + res.replicas());
                }
            }
            assertEquals(Set.of(artA.sha256Hex(), artB.sha256Hex()), models, "requests before and after the rollout");
            assertTrue(results.size() >= 20, "requests during the test: " + results.size());
        }
    }

    @Test
    void aReplicaThatLoadsAnUnexpectedModelStopsTheRolloutThere(@TempDir Path dir) throws Exception {
        Path a = model(dir, "a.itm", 7);
        Path b = model(dir, "b.itm", 8);
        BackendProvider reference = Backends.select("reference");
        try (Backend backend = reference.open(Map.of());
             Fleet fleet = fleet(new ModelLoader(new FallbackPolicy.Choice(reference, backend, "reference", null), a), a, 2)) {
            String wrong = "0".repeat(64);
            assertEquals(1, Main.run("rollout", "--admin", fleet.admins().get(0), "--admin", fleet.admins().get(1),
                    "--model-path", b.toString(), "--expect-sha256", wrong));
            assertTrue(io.err().contains("[1/2] " + fleet.admins().get(0) + ": reloaded, but not the expected model"),
                    io.err());
            assertTrue(io.err().contains("rollout stopped: 0 replica(s) moved"), io.err());
            String shaA = ArtifactReader.read(a).sha256Hex();
            assertEquals(shaA, fleet.servers().get(1).served().sha256(), "the second replica was not touched");
            io.clearErr();
            assertEquals(1, Main.run("rollout", "--admin", fleet.admins().get(1), "--model-path", "missing.itm"));
            assertTrue(io.err().contains("reload refused, it keeps its model: 400"), io.err());
            assertEquals(shaA, fleet.servers().get(1).served().sha256());
        }
    }
}
