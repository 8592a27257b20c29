package org.shiftformer.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.autoscaling.v2.MetricSpec;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;

/**
 * The manifest's probes and scrape target asked of a real server (runtime-core's, a small random model on
 * the reference backend, 127.0.0.1 and ephemeral ports): each probe's path answers 200 on the admin port,
 * and the metrics the HPA scales on are series of its {@code /metrics}.
 */
class ProbesAgainstServerTest {
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 32, 2, 0, 1, 2);

    @Test
    void theProbePathsAndTheScalingMetricsAreServed(@TempDir Path dir) throws Exception {
        Kustomization base = Kustomization.load(KubernetesManifestsTest.BASE);
        List<HasMetadata> objects = KubernetesManifestsTest.objects(base);
        Container c = KubernetesManifestsTest.deployment(KubernetesManifestsTest.BASE).getSpec().getTemplate().getSpec()
                .getContainers().get(0);
        Map<String, String> paths = new LinkedHashMap<>();
        paths.put("startupProbe", path(c.getStartupProbe()));
        paths.put("livenessProbe", path(c.getLivenessProbe()));
        paths.put("readinessProbe", path(c.getReadinessProbe()));
        List<String> hpaMetrics = objects.stream().filter(o -> o instanceof HorizontalPodAutoscaler)
                .flatMap(o -> ((HorizontalPodAutoscaler) o).getSpec().getMetrics().stream())
                .map(MetricSpec::getPods).map(p -> p.getMetric().getName()).toList();
        assertEquals(List.of("shiftformer_streams_live", "shiftformer_queue_depth"), hpaMetrics);
        String scrapePath = objects.stream().filter(o -> o instanceof Deployment).findFirst()
                .map(d -> ((Deployment) d).getSpec().getTemplate().getMetadata().getAnnotations().get("prometheus.io/path"))
                .orElseThrow();

        Path model = dir.resolve("model.itm");
        RandomArtifacts.write(CFG, 11, model, "deploy probes");
        Artifact artifact = ArtifactReader.read(model);
        ServerConfig config = ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").drainTimeoutMs(1_000)
                .conclude();
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        try (Backend backend = Backends.select("reference").open(Map.of());
             ShiftformerServer server = ShiftformerServer.start(config,
                     ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()))) {
            String admin = "http://127.0.0.1:" + server.adminAddress().getPort();
            for (Map.Entry<String, String> e : paths.entrySet()) {
                HttpResponse<String> r = get(http, admin + e.getValue());
                assertEquals(200, r.statusCode(), () -> e.getKey() + " GET " + e.getValue() + ": " + r.body());
            }
            HttpResponse<String> metrics = get(http, admin + scrapePath);
            assertEquals(200, metrics.statusCode(), () -> "GET " + scrapePath + ": " + metrics.body());
            for (String m : hpaMetrics) {
                assertTrue(metrics.body().lines().anyMatch(l -> l.startsWith(m + " ") || l.startsWith(m + "{")),
                        () -> "no series " + m + " in " + scrapePath);
            }
        }
    }

    private static String path(Probe p) {
        return p.getHttpGet().getPath();
    }

    private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
