package org.shiftformer.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What kustomize builds (kubectl's built-in kustomize, {@code kubectl kustomize DIR}) from the base and each
 * overlay, read strictly and checked like the base: the patches and the component applied. Skipped with the
 * reason where kubectl is not installed; the base's own checks ({@link KubernetesManifestsTest}) do not
 * need it.
 */
class RenderedOverlaysTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"base", "overlays/tls", "overlays/prometheus-operator"})
    void theBuildIsStrictAndConsistent(String dir, @TempDir Path tmp) throws Exception {
        List<HasMetadata> objects = render(KubernetesManifestsTest.KUBE.resolve(dir), tmp);
        assertEquals(List.of(), ManifestCheck.problems(objects, ImageFacts.read(), Map.of()));
        Deployment d = objects.stream().filter(o -> o instanceof Deployment).map(Deployment.class::cast).findFirst()
                .orElseThrow();
        Container c = d.getSpec().getTemplate().getSpec().getContainers().get(0);
        assertEquals("shiftformer:0.1.0-SNAPSHOT", c.getImage(), "the kustomization's images entry applied");
        switch (dir) {
            case "overlays/tls" -> {
                assertTrue(c.getArgs().containsAll(List.of("--tls-cert", "--tls-key", "--tls-client-ca", "--tokens-file")));
                assertEquals("HTTPS", c.getReadinessProbe().getHttpGet().getScheme());
                assertEquals("/health/ready", c.getReadinessProbe().getHttpGet().getPath(), "the base's path kept");
                assertEquals(java.util.Set.of("model", "tmp", "tls", "tokens"), d.getSpec().getTemplate().getSpec()
                        .getVolumes().stream().map(v -> v.getName()).collect(java.util.stream.Collectors.toSet()));
            }
            case "overlays/prometheus-operator" -> {
                assertTrue(objects.stream().anyMatch(o -> o.getKind().equals("ServiceMonitor")));
                Map<String, String> annotations = d.getSpec().getTemplate().getMetadata().getAnnotations();
                assertTrue(annotations == null || annotations.isEmpty(), () -> "scrape annotations left: " + annotations);
            }
            default -> assertEquals(5, objects.size());
        }
    }

    static List<HasMetadata> render(Path dir, Path tmp) throws Exception {
        Assumptions.assumeTrue(onPath("kubectl"), "kubectl is not installed: kustomize builds are not checked");
        Path out = tmp.resolve("rendered.yaml");
        Path err = tmp.resolve("kubectl.err");
        Process p = new ProcessBuilder("kubectl", "kustomize", dir.toString()).redirectOutput(out.toFile())
                .redirectError(err.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("kubectl kustomize " + dir + " did not finish within 120 s");
        }
        assertEquals(0, p.exitValue(), () -> "kubectl kustomize " + dir + ": " + read(err));
        return StrictModel.readAll(out).stream().map(StrictModel.Loaded::object).toList();
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    private static String read(Path f) {
        try {
            return Files.readString(f, StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }
}
