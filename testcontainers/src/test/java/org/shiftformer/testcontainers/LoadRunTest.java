package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;

/**
 * The load checker itself, without Docker: against an in-process server it finds a clean run clean, and it
 * counts wrong tokens as mismatches (so the container tests' "zero mismatches" can fail); the figures'
 * arithmetic (percentiles, the server's counter, the histogram).
 */
class LoadRunTest {
    @TempDir
    static Path dir;
    static TestModel model;
    static ShiftformerServer server;

    @BeforeAll
    static void serve() {
        model = TestModel.random(dir, "tiny", 21);
        server = ShiftformerServer.start(ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").conclude(),
                ServedModel.of(model.artifact, model.loadAgain(), model.identity()));
    }

    @AfterAll
    static void stop() {
        server.close();
        model.close();
    }

    private static LoadRun.Result run(List<int[]> sources, List<int[]> expected) {
        LoadRun.Spec spec = new LoadRun.Spec(3, 40, 60, Duration.ofSeconds(10), 12, Duration.ofSeconds(60));
        HttpClient http = HttpClient.newHttpClient();
        List<ShiftformerClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < spec.clients(); i++) {
                clients.add(ShiftformerClient.connect("127.0.0.1", server.localAddress().getPort()));
            }
            return new LoadRun(spec, sources, expected).run(clients,
                    () -> ShiftformerContainer.get(server.adminAddress().getPort(), "/metrics", http).body());
        } finally {
            clients.forEach(ShiftformerClient::close);
        }
    }

    @Test
    void runAgainstTheRightModelIsCleanAndTheServerCountsTheSame() {
        List<int[]> sources = model.sources(16, 2, 10, 1);
        LoadRun.Result r = run(sources, model.expected(sources, 12));
        assertEquals(60, r.sent, r.summary());
        assertTrue(r.clean(), r.summary());
        assertEquals(60L, r.serverRequests.get("done"), r.summary());
        assertEquals(60, r.ttftMs.length);
        assertTrue(r.tokens > 0 && r.tokensPerSecond() > 0, r.summary());
    }

    @Test
    void tokensThatDifferFromLocalDecodingAreMismatches() {
        List<int[]> sources = model.sources(16, 2, 10, 1);
        List<int[]> wrong = new ArrayList<>();
        for (int[] e : model.expected(sources, 12)) {
            int[] w = e.clone();
            w[w.length - 1] ^= 1; // one token off at the end
            wrong.add(w);
        }
        LoadRun.Result r = run(sources, wrong);
        assertEquals(r.sent, r.mismatched, r.summary());
        assertFalse(r.clean());
        assertTrue(r.samples.getFirst().contains("expected"), r.samples.toString());
    }

    @Test
    void percentilesAreNearestRank() {
        double[] v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        assertEquals(5, LoadRun.percentile(v, 0.5));
        assertEquals(10, LoadRun.percentile(v, 0.99));
        assertEquals(1, LoadRun.percentile(v, 0.01));
        assertTrue(Double.isNaN(LoadRun.percentile(new double[0], 0.5)));
    }

    @Test
    void requestsTotalSumsOneStatusOverItsCodes() {
        String text = """
                # TYPE shiftformer_requests_total counter
                shiftformer_requests_total{code="none",status="done"} 41.0
                shiftformer_requests_total{code="OVERLOADED",status="rejected"} 2.0
                shiftformer_requests_total{code="DEADLINE_EXCEEDED",status="error"} 3.0
                shiftformer_requests_total{code="INTERNAL",status="error"} 1.0
                shiftformer_tokens_total{backend="sim",model="ab"} 900.0
                """;
        assertEquals(41, LoadRun.requestsTotal(text, "done"));
        assertEquals(4, LoadRun.requestsTotal(text, "error"));
        assertEquals(0, LoadRun.requestsTotal(text, "cancelled"));
    }

    @Test
    void serverHistogramQuantileIsTheBucketBoundReachingIt() {
        String before = "m_bucket{model=\"a\",le=\"0.001\"} 5.0\nm_bucket{model=\"a\",le=\"0.01\"} 5.0\n"
                + "m_bucket{model=\"a\",le=\"+Inf\"} 5.0\n";
        String after = "m_bucket{model=\"a\",le=\"0.001\"} 55.0\nm_bucket{model=\"a\",le=\"0.01\"} 104.0\n"
                + "m_bucket{model=\"a\",le=\"+Inf\"} 105.0\n";
        var delta = LoadRun.bucketDelta(before, after, "m_bucket");
        assertEquals(100.0, delta.lastEntry().getValue());
        assertEquals(0.001, LoadRun.bucketQuantile(delta, 0.5));
        assertEquals(0.01, LoadRun.bucketQuantile(delta, 0.99));
        assertEquals(Double.POSITIVE_INFINITY, LoadRun.bucketQuantile(delta, 1.0));
        assertTrue(Double.isNaN(LoadRun.bucketQuantile(LoadRun.bucketDelta(before, before, "m_bucket"), 0.5)));
    }

    @Test
    void histogramHasFortyBinsHoldingEveryValue() {
        double[] v = new double[1000];
        for (int i = 0; i < v.length; i++) {
            v[i] = i / 10.0;
        }
        String svg = LoadReport.histogram("t", v);
        Matcher m = Pattern.compile(": (\\d+)</title></rect>").matcher(svg);
        int bins = 0;
        long total = 0;
        while (m.find()) {
            bins++;
            total += Long.parseLong(m.group(1));
        }
        assertEquals(40, bins);
        assertEquals(1000, total);
        assertTrue(svg.contains("p50 49.90") && svg.contains("p99 98.90"), svg);
    }
}
