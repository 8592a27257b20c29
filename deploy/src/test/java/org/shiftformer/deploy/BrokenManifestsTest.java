package org.shiftformer.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The check fails for what it is meant to catch: each case copies the base to a temporary directory,
 * breaks one thing, and expects a problem naming it. The unbroken copy passes, so each failure is the
 * break's.
 */
class BrokenManifestsTest {
    private static final String READINESS = "path: /health/ready\n" + " ".repeat(14) + "port: admin";

    static Stream<Arguments> breaks() {
        return Stream.of(
                // The Done-means case: the readiness probe on a port the container does not declare.
                Arguments.of("deployment.yaml", READINESS, READINESS.replace("port: admin", "port: 7435"),
                        "readinessProbe port 7435 is not a declared containerPort"),
                Arguments.of("deployment.yaml", READINESS, READINESS.replace("port: admin", "port: metrics"),
                        "readinessProbe port 'metrics' is not a declared containerPort"),
                Arguments.of("deployment.yaml", READINESS, READINESS.replace("port: admin", "port: protocol"),
                        "readinessProbe port 'protocol' is 7433, not the admin port 7434 (the only one that speaks HTTP)"),
                Arguments.of("deployment.yaml", "path: /health/ready", "path: /healthz",
                        "readinessProbe path '/healthz' is not /health/ready"),
                Arguments.of("deployment.yaml", "livenessProbe:\n" + indent(12, "httpGet:\n") + indent(14, "path: /health/live"),
                        "livenessProbe:\n" + indent(12, "httpGet:\n") + indent(14, "path: /health/ready"),
                        "livenessProbe path '/health/ready' is not /health/live"),
                Arguments.of("deployment.yaml", "readinessProbe:", "readinesProbe:",
                        "spec.template.spec.containers[0].readinesProbe: unknown field \"readinesProbe\""),
                Arguments.of("deployment.yaml", "apiVersion: apps/v1", "apiVersion: apps/v1beta1",
                        "apiVersion 'apps/v1beta1' kind 'Deployment' is not one of the kinds"),
                Arguments.of("deployment.yaml", "containerPort: 7434", "containerPort: 8080",
                        "containerPorts [7433, 8080] differ from the image's EXPOSE [7433, 7434]"),
                Arguments.of("deployment.yaml", "- \"7434\"", "- \"8080\"",
                        "serve listens on 7433 and 8080, not the server's defaults"),
                Arguments.of("deployment.yaml", "- 0.0.0.0", "- 127.0.0.1", "serve binds 127.0.0.1"),
                // TLS on the admin port: the probes must say HTTPS, and with client certificates required
                // the admin port must not ask the kubelet for one.
                Arguments.of("deployment.yaml", "- sim\n", "- sim\n" + indent(12, "- --tls-cert\n") + indent(12, "- /t/c.pem\n")
                        + indent(12, "- --tls-key\n") + indent(12, "- /t/k.pem\n"),
                        "readinessProbe scheme HTTP but the admin port speaks HTTPS"),
                Arguments.of("deployment.yaml", "- sim\n", "- sim\n" + indent(12, "- --tls-cert=/t/c.pem\n")
                        + indent(12, "- --tls-key=/t/k.pem\n") + indent(12, "- --tls-client-ca=/t/ca.pem\n"),
                        "with --tls-client-ca the admin port requires client certificates"),
                Arguments.of("deployment.yaml", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 15",
                        "terminationGracePeriodSeconds 15 is less than preStop 5 s + drain 10 s"),
                Arguments.of("deployment.yaml", "drainTimeoutMs=10000", "drainTimeoutMs=30000",
                        "terminationGracePeriodSeconds 30 is less than preStop 5 s + drain 30 s"),
                Arguments.of("deployment.yaml", "sleep:\n" + indent(16, "seconds: 5"),
                        "exec:\n" + indent(16, "command: [sleep, \"5\"]"), "the image has no shell and no sleep"),
                Arguments.of("deployment.yaml", "runAsUser: 10001", "runAsUser: 1000",
                        "runAsUser 1000 is not the image's user 10001"),
                Arguments.of("deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
                        "readOnlyRootFilesystem is not true"),
                Arguments.of("deployment.yaml", "mountPath: /tmp", "mountPath: /scratch",
                        "/tmp (java.io.tmpdir and the working directory) needs a writable emptyDir"),
                Arguments.of("deployment.yaml", "mountPath: /models", "mountPath: /model",
                        "the model directory /models (of --model /models/model.itm) is on no volume"),
                Arguments.of("deployment.yaml", "claimName: shiftformer-models", "claimName: models",
                        "the model volume's claim 'models' is not among the resources"),
                Arguments.of("deployment.yaml", "  revisionHistoryLimit: 5", "  replicas: 3\n  revisionHistoryLimit: 5",
                        "spec.replicas is set while HorizontalPodAutoscaler shiftformer scales it"),
                Arguments.of("service.yaml", "targetPort: admin", "targetPort: metrics",
                        "Service shiftformer: port 'admin' targetPort 'metrics' is not a containerPort"),
                Arguments.of("service.yaml", "selector:\n" + indent(4, "app.kubernetes.io/name: shiftformer\n"),
                        "selector:\n" + indent(4, "app.kubernetes.io/name: shiftformer-old\n"), "Service shiftformer: selector"),
                Arguments.of("pdb.yaml", "app.kubernetes.io/component: server", "app.kubernetes.io/component: web",
                        "PodDisruptionBudget shiftformer: selector"),
                Arguments.of("pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 0",
                        "PodDisruptionBudget shiftformer: allows no disruption at 2 replicas"),
                Arguments.of("hpa.yaml", "    name: shiftformer\n  minReplicas", "    name: shiftformer-server\n  minReplicas",
                        "scaleTargetRef apps/v1 Deployment shiftformer-server is not the Deployment"),
                Arguments.of("hpa.yaml", "name: shiftformer_queue_depth", "name: shiftformer_requests_total",
                        "metric 'shiftformer_requests_total' is not a per-replica gauge the server exports"),
                Arguments.of("kustomization.yaml", "  - name: shiftformer\n", "  - name: mt-server\n",
                        "image 'shiftformer' is not named in the kustomization's images [mt-server]"));
    }

    @ParameterizedTest(name = "{0}: {3}")
    @MethodSource("breaks")
    void aBrokenCopyFailsNamingTheProblem(String file, String from, String to, String expected, @TempDir Path dir)
            throws IOException {
        Path copy = copyOfBase(dir);
        Path f = copy.resolve(file);
        String text = Files.readString(f);
        assertTrue(text.contains(from), () -> file + " no longer contains the text this case breaks: " + from);
        Files.writeString(f, text.replace(from, to));
        List<String> problems = ManifestCheck.checkKustomization(copy, ImageFacts.read());
        assertTrue(problems.stream().anyMatch(p -> p.contains(expected)),
                () -> "expected a problem containing \"" + expected + "\", got " + problems);
    }

    @Test
    void theUnbrokenCopyPasses(@TempDir Path dir) throws IOException {
        assertEquals(List.of(), ManifestCheck.checkKustomization(copyOfBase(dir), ImageFacts.read()));
    }

    @Test
    void theReadinessProbeOnAnUndeclaredPortIsTheOnlyProblemOfThatCopy(@TempDir Path dir) throws IOException {
        Path copy = copyOfBase(dir);
        Path f = copy.resolve("deployment.yaml");
        Files.writeString(f, Files.readString(f).replace(READINESS, READINESS.replace("port: admin", "port: 7435")));
        assertEquals(List.of("Deployment shiftformer container shiftformer: readinessProbe port 7435 is not a declared "
                + "containerPort [protocol=7433, admin=7434]"), ManifestCheck.checkKustomization(copy, ImageFacts.read()));
    }

    private static String indent(int spaces, String line) {
        return " ".repeat(spaces) + line;
    }

    static Path copyOfBase(Path dir) throws IOException {
        Path copy = dir.resolve("base");
        Files.createDirectories(copy);
        try (Stream<Path> files = Files.list(KubernetesManifestsTest.BASE)) {
            for (Path p : files.toList()) {
                Files.copy(p, copy.resolve(p.getFileName()));
            }
        }
        return copy;
    }
}
