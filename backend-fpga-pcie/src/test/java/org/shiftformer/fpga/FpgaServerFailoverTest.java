package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TokenEvent;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationListener;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.FallbackPolicy;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.fpga.xrt.XrtEmulation;

/**
 * The device fails while a real server streams from it (the host emulation injects a kernel error or a
 * timeout mid-decode) and the server's fallback policy names the simulator: every request completes on
 * the simulator with exactly the tokens local decoding gives, none lost or repeated, its Done naming the
 * backend that finished it; the failover shows in the counter and in readiness; no device buffer leaks.
 * The timeout case is the fault test of issue 16: a kernel that never finishes (it keeps the emulated
 * compute unit), on the strict emulation, where closing the hung run or freeing its buffers would be a
 * fatal error (real XRT aborts the process).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FpgaServerFailoverTest {
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 40, 2, 0, 1, 2);
    private static final int REQUESTS = 6;
    private static final int MAX_NEW = 30;

    @TempDir
    static Path dir;
    private static Artifact artifact;
    private static List<int[]> sources;
    private static List<DecodeResult> expected;
    private XrtEmulation emu;

    @BeforeAll
    static void model() {
        Path f = dir.resolve("failover.itm");
        RandomArtifacts.write(CFG, 5, f, "FpgaServerFailoverTest");
        artifact = ArtifactReader.read(f);
        SplittableRandom rnd = new SplittableRandom(3);
        sources = new ArrayList<>();
        for (int i = 0; i < REQUESTS; i++) {
            int[] ids = rnd.ints(4 + rnd.nextInt(10), 3, CFG.vocabSize()).toArray();
            sources.add(ids);
        }
        try (Backend sim = Backends.select("sim").open(Map.of()); LoadedModel local = sim.load(artifact.model())) {
            List<int[]> withEos = new ArrayList<>();
            for (int[] s : sources) {
                int[] e = Arrays.copyOf(s, s.length + 1);
                e[s.length] = CFG.eosId();
                withEos.add(e);
            }
            expected = Decoding.decode(local, withEos, DecodeParams.greedy(MAX_NEW), TokenListener.NONE);
        }
    }

    @BeforeEach
    void emulation() {
        emu = EmulatedCard.emulation();
        emu.configure("");
    }

    @AfterEach
    void noFaultsLeft() {
        if (emu != null) {
            emu.configure("");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"run-error=7, ERROR", "run-timeout=7, TIMEOUT"})
    void aDeviceFailureMidStreamMovesTheStreamsToTheSimulator(String fault, String state) throws Exception {
        assertTrue(expected.stream().filter(r -> r.tokens().length > 8).count() >= 2, "streams outlive the fault");
        long fatal = emu.fatalErrors();
        FallbackPolicy policy = FallbackPolicy.parse("sim");
        FallbackPolicy.Choice choice = policy.open(FpgaBackendProvider.NAME, Map.of("timeout-ms", "300"));
        assertEquals(FpgaBackendProvider.NAME, choice.backend().identity().backend(), "the emulated card opened");
        try (Backend fpga = choice.backend()) {
            ServerConfig config = ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").fallback("sim")
                    .conclude();
            try (ShiftformerServer server = ShiftformerServer.start(config,
                    ServedModel.of(artifact, fpga.load(artifact.model()), fpga.identity()));
                 ShiftformerClient client = ShiftformerClient.connect("127.0.0.1", server.localAddress().getPort())) {
                emu.configure(fault); // counted from here: the 7th kernel run fails, a few steps into the decode
                List<List<Integer>> streamed = new ArrayList<>();
                List<CompletableFuture<Translation>> done = new ArrayList<>();
                for (int[] s : sources) {
                    List<Integer> tokens = new CopyOnWriteArrayList<>();
                    streamed.add(tokens);
                    TranslationListener listener = (TokenEvent t) -> tokens.add(t.token());
                    done.add(client.translate(TranslationRequest.tokens(s).maxNewTokens(MAX_NEW), listener));
                }
                int moved = 0;
                for (int i = 0; i < REQUESTS; i++) {
                    Translation t = done.get(i).get(60, TimeUnit.SECONDS);
                    int[] want = expected.get(i).tokens();
                    assertArrayEquals(want, t.tokens(), "request " + i);
                    assertArrayEquals(want, streamed.get(i).stream().mapToInt(Integer::intValue).toArray(),
                            "streamed tokens of request " + i + ": each exactly once, in order");
                    if (t.backend().backend().equals("sim")) {
                        moved++;
                    }
                }
                assertTrue(moved >= 2, moved + " requests finished on the simulator");
                assertEquals(0, server.stats().errors(), server.stats().toString());
                assertEquals(1.0, server.meterRegistry().get(ServerMeters.FAILOVERS).tag(ServerMeters.BACKEND, "sim")
                        .tag(ServerMeters.REQUESTED_BACKEND, FpgaBackendProvider.NAME).counter().count());
                HttpResponse<String> ready = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                        "http://127.0.0.1:" + server.adminAddress().getPort() + "/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, ready.statusCode(), ready.body());
                assertTrue(ready.body().contains("backend 'fpga' failed while serving") && ready.body().contains(state)
                        && ready.body().contains("fell back to 'sim'"), ready.body());

                // later requests run on the simulator too
                Translation later = client.translate(TranslationRequest.tokens(sources.get(0)).maxNewTokens(MAX_NEW))
                        .get(60, TimeUnit.SECONDS);
                assertArrayEquals(expected.get(0).tokens(), later.tokens());
                assertEquals("sim", later.backend().backend());
            }
        }
        assertEquals(0, emu.liveBuffers(), "device buffers left after the server and the card closed");
        assertEquals(0, emu.liveRuns(), "runs left after the server and the card closed");
        // on the strict emulation: no run closed in flight, no buffer freed under a live run (real XRT aborts)
        assertEquals(fatal, emu.fatalErrors(), () -> "fatal errors in the emulation; the last: " + emu.lastFatal());
    }

    /**
     * The card computes one wrong bit and says nothing (run-flip: the 5th kernel run completes normally
     * with bit 4 of its first logit flipped), under {@code --shadow sim --on-mismatch failover}: the
     * simulator's shadow catches it at that decoder step, before the logits are used, and the stream
     * finishes on the simulator with exactly local decoding's tokens; the metric and readiness say so.
     */
    @Test
    void aSilentlyWrongBitIsCaughtByTheShadowAndTheStreamFinishesOnTheSimulator() throws Exception {
        int[] source = null;
        int[] want = null;
        for (int i = 0; i < REQUESTS && source == null; i++) {
            if (expected.get(i).tokens().length > 8) {
                source = sources.get(i);
                want = expected.get(i).tokens();
            }
        }
        assertTrue(source != null, "a stream that outlives the fault");
        long fatal = emu.fatalErrors();
        try (Backend fpga = new FpgaBackendProvider().open(Map.of())) {
            ServerConfig config = ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").fallback("sim")
                    .shadow("sim", 1.0, "failover").conclude();
            try (ShiftformerServer server = ShiftformerServer.start(config,
                    ServedModel.of(artifact, fpga.load(artifact.model()), fpga.identity()));
                 ShiftformerClient client = ShiftformerClient.connect("127.0.0.1", server.localAddress().getPort())) {
                // One request alone: run 1 is its encoder pass, runs 2, 3, ... its decoder steps 0, 1, ...
                emu.configure("run-flip=5");
                List<Integer> streamed = new CopyOnWriteArrayList<>();
                Translation t = client.translate(TranslationRequest.tokens(source).maxNewTokens(MAX_NEW),
                        (TokenEvent e) -> streamed.add(e.token())).get(60, TimeUnit.SECONDS);
                assertArrayEquals(want, t.tokens(), "no token computed from the wrong bit");
                assertArrayEquals(want, streamed.stream().mapToInt(Integer::intValue).toArray());
                assertEquals("sim", t.backend().backend(), "finished on the simulator");
                org.shiftformer.core.engine.ShadowModel.Mismatch m = server.shadowCounters().first();
                assertEquals("logits", m.kind(), String.valueOf(m));
                assertEquals(3, m.step(), "caught at the decoder step of the 5th run: " + m);
                assertEquals(0, m.index(), "the first logit: " + m);
                assertEquals(16, Math.abs(m.primary() - m.shadow()), "bit 4: " + m);
                assertEquals(1.0, server.meterRegistry().get(ServerMeters.SHADOW_MISMATCHES)
                        .tag(ServerMeters.SHADOW, "sim").functionCounter().count());
                assertEquals(1.0, server.meterRegistry().get(ServerMeters.FAILOVERS).tag(ServerMeters.BACKEND, "sim")
                        .tag(ServerMeters.REQUESTED_BACKEND, FpgaBackendProvider.NAME).counter().count());
                HttpResponse<String> ready = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
                        "http://127.0.0.1:" + server.adminAddress().getPort() + "/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertTrue(ready.body().contains("shadow sim: 1 mismatch(es), the first: logits of decoder step 3")
                        && ready.body().contains("fell back to 'sim'"), ready.body());
            }
        }
        assertEquals(0, emu.liveBuffers(), "device buffers left after the server and the card closed");
        assertEquals(fatal, emu.fatalErrors(), () -> "fatal errors in the emulation; the last: " + emu.lastFatal());
    }
}
