package org.shiftformer.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The manifests under {@code deploy/kubernetes}: every resource of the base read strictly into the
 * Kubernetes API model, and consistent with itself, the image and the server ({@link ManifestCheck}); the
 * optional component, the overlays' patches and the Prometheus Adapter rules too.
 */
class KubernetesManifestsTest {
    static final Path KUBE = Path.of("kubernetes");
    static final Path BASE = KUBE.resolve("base");
    static final Path ADAPTER_RULES = KUBE.resolve("prometheus-adapter/adapter-rules.yaml");

    @Test
    void everyResourceOfTheBaseLoadsStrictly() {
        Kustomization k = Kustomization.load(BASE);
        assertEquals(List.of("Deployment", "Service", "PersistentVolumeClaim", "PodDisruptionBudget",
                "HorizontalPodAutoscaler"), k.resources().stream().map(l -> l.object().getKind()).toList());
        assertEquals(Map.of("shiftformer", "shiftformer:0.1.0-SNAPSHOT"), k.images());
    }

    @Test
    void theBaseAgreesWithTheImageAndTheServer() {
        ImageFacts image = ImageFacts.read();
        assertEquals(10001, image.uid(), "the image's user (Dockerfile)");
        assertEquals(List.of(), ManifestCheck.checkKustomization(BASE, image));
    }

    @Test
    void theBaseListsEveryManifestInItsDirectory() throws IOException {
        Set<Path> listed = new TreeSet<>();
        Kustomization.load(BASE).resources().forEach(l -> listed.add(l.file().normalize()));
        try (Stream<Path> files = Files.list(BASE)) {
            Set<Path> present = new TreeSet<>(files.filter(f -> f.toString().endsWith(".yaml"))
                    .filter(f -> !f.getFileName().toString().equals("kustomization.yaml")).map(Path::normalize).toList());
            assertEquals(present, listed, "every manifest file of the base is a resource of its kustomization");
        }
    }

    @Test
    void theDrainFitsTheGracePeriod() {
        Deployment d = deployment(BASE);
        var c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        long grace = d.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds();
        long preStop = c.getLifecycle().getPreStop().getSleep().getSeconds();
        long drainMs = Long.parseLong(ManifestCheck.jvmProperty(c, org.shiftformer.core.server.ServerConfig.DRAIN_TIMEOUT_MS_PROP));
        assertEquals(org.shiftformer.core.server.ServerConfig.DRAIN_TIMEOUT_MS_DEFAULT, drainMs, "the server's default, spelt out");
        assertTrue(grace > preStop + drainMs / 1000, () -> grace + " s <= " + preStop + " s + " + drainMs + " ms");
    }

    @Test
    void thePrometheusAdapterRulesServeTheHpaMetrics() {
        List<StrictModel.Loaded> rules = StrictModel.readAll(ADAPTER_RULES);
        assertEquals(1, rules.size());
        ConfigMap adapter = (ConfigMap) rules.get(0).object();
        assertEquals(List.of(), ManifestCheck.adapterProblems(adapter, objects(Kustomization.load(BASE))));
    }

    @Test
    void theServiceMonitorComponentSelectsTheAdminPort() {
        Kustomization component = Kustomization.load(KUBE.resolve("components/servicemonitor"));
        assertEquals("Component", component.kind());
        assertEquals(List.of("ServiceMonitor"), component.resources().stream().map(l -> l.object().getKind()).toList());
        List<HasMetadata> all = objects(Kustomization.load(BASE));
        all.addAll(objects(component));
        assertEquals(List.of(), ManifestCheck.problems(all, ImageFacts.read(), Map.of()));
        Kustomization overlay = Kustomization.load(KUBE.resolve("overlays/prometheus-operator"));
        assertEquals(List.of(KUBE.resolve("components/servicemonitor").normalize()), overlay.components());
    }

    @Test
    void theTlsOverlaysPatchIsStrictToo() {
        Kustomization overlay = Kustomization.load(KUBE.resolve("overlays/tls"));
        assertEquals(1, overlay.patchFiles().size());
        List<StrictModel.Loaded> patch = StrictModel.readAll(overlay.patchFiles().get(0));
        assertEquals("Deployment", patch.get(0).object().getKind());
        var c = ((Deployment) patch.get(0).object()).getSpec().getTemplate().getSpec().getContainers().get(0);
        assertEquals("false", ManifestCheck.jvmProperty(c, org.shiftformer.core.server.ServerConfig.ADMIN_CLIENT_AUTH_PROP),
                "client certificates on, so the admin port must not ask the kubelet's probes for one");
    }

    static Deployment deployment(Path dir) {
        return (Deployment) Kustomization.load(dir).resources().stream().map(StrictModel.Loaded::object)
                .filter(o -> o instanceof Deployment).findFirst().orElseThrow();
    }

    static List<HasMetadata> objects(Kustomization k) {
        List<HasMetadata> out = new ArrayList<>();
        k.resources().forEach(l -> out.add(l.object()));
        return out;
    }
}
