package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.dockerjava.api.command.InspectContainerResponse;
import com.github.dockerjava.api.command.InspectImageResponse;
import com.github.dockerjava.api.model.ExposedPort;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationFuture;
import org.shiftformer.client.TranslationRequest;
import org.testcontainers.DockerClientFactory;

/** The image and {@link ShiftformerContainer}: what the image is, that it serves the right tokens, clear start-up errors. */
class ShiftformerContainerTest {
    @TempDir
    static Path dir;
    static TestModel model;

    @BeforeAll
    static void model() {
        model = TestModel.random(dir, "tiny", 11);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void imageRunsAsNonRootUserWithPortsHealthCheckAndThisBuildsJar() throws IOException {
        DockerSupport.requireDockerAndImage();
        InspectImageResponse image = DockerClientFactory.instance().client().inspectImageCmd(DockerSupport.IMAGE).exec();
        assertEquals("10001:10001", image.getConfig().getUser(), "numeric non-root user");
        assertEquals(List.of(ExposedPort.tcp(7433), ExposedPort.tcp(7434)),
                Arrays.stream(image.getConfig().getExposedPorts()).sorted((a, b) -> a.getPort() - b.getPort()).toList());
        assertEquals(List.of("CMD", "/opt/shiftformer/bin/healthcheck"), image.getConfig().getHealthcheck().getTest());
        assertEquals(List.of("--model", ShiftformerContainer.MODEL_PATH, "--bind", "0.0.0.0", "--port", "7433",
                "--admin-port", "7434"), Arrays.asList(image.getConfig().getCmd()));
        Path jar = Path.of(System.getProperty("shiftformer.cliJar", "../cli/target/shiftformer.jar"));
        assertEquals(sha256(jar), image.getConfig().getLabels().get("org.shiftformer.jar.sha256"),
                "the image holds this build's " + jar);
    }

    @Test
    void servesTheTokensOfLocalDecodingAndBecomesHealthy() {
        DockerSupport.requireDockerAndImage();
        List<int[]> sources = model.sources(24, 3, 20, 5);
        List<int[]> expected = model.expected(sources, 24);
        try (ShiftformerContainer server = new ShiftformerContainer(DockerSupport.IMAGE).withModel(model.file)) {
            server.start();
            ShiftformerContainer.AdminAnswer ready = server.readiness();
            assertEquals(200, ready.status());
            assertEquals("ready", ready.body().strip());
            try (ShiftformerClient client = server.client()) {
                assertEquals(model.artifact.sha256Hex(), client.modelInfo().sha256());
                assertEquals("sim", client.modelInfo().backend().backend());
                List<TranslationFuture> futures = new ArrayList<>();
                for (int[] s : sources) {
                    futures.add(client.translate(TranslationRequest.tokens(s).maxNewTokens(24)));
                }
                for (int i = 0; i < sources.size(); i++) {
                    Translation t = futures.get(i).orTimeout(60, TimeUnit.SECONDS).join();
                    assertArrayEquals(expected.get(i), t.tokens(), "request " + i);
                }
            }
            // The server process itself runs as the image's user, not root.
            // (A health check may be running beside it, as the same user.)
            var top = server.getDockerClient().topContainerCmd(server.getContainerId()).withPsArgs("-o pid,uid,comm").exec();
            assertEquals(List.of("PID", "UID", "COMMAND"), Arrays.asList(top.getTitles()));
            List<List<String>> processes = Arrays.stream(top.getProcesses()).map(Arrays::asList).toList();
            assertTrue(processes.stream().anyMatch(p -> p.get(2).equals("java")), processes.toString());
            assertTrue(processes.stream().allMatch(p -> p.get(1).equals("10001")), processes.toString());

            String metrics = server.metricsText();
            assertEquals(sources.size(), LoadRun.requestsTotal(metrics, "done"), metrics);

            // Docker's own health check (the static binary in the image) runs every 10 s.
            InspectContainerResponse.ContainerState state = server.getCurrentContainerInfo().getState();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!"healthy".equals(state.getHealth().getStatus()) && System.nanoTime() < deadline) {
                ShiftformerContainer.sleepMs(500);
                state = server.getCurrentContainerInfo().getState();
            }
            assertEquals("healthy", state.getHealth().getStatus(), () -> "health log: "
                    + server.getCurrentContainerInfo().getState().getHealth().getLog().stream()
                    .map(l -> l.getExitCodeLong() + " " + l.getOutput()).toList());
        }
    }

    @Test
    void corruptModelFailsStartWithTheServersError() throws IOException {
        DockerSupport.requireDockerAndImage();
        Path bad = dir.resolve("corrupt.itm");
        Files.write(bad, "not a model".getBytes());
        try (ShiftformerContainer server = new ShiftformerContainer(DockerSupport.IMAGE).withModel(bad)) {
            RuntimeException e = assertThrows(RuntimeException.class, server::start);
            String chain = causes(e);
            assertTrue(chain.contains("exited with code 2") && chain.contains("INVALID_ARTIFACT"), chain);
        }
    }

    @Test
    void unknownBackendFailsStartNamingIt() {
        DockerSupport.requireDockerAndImage();
        try (ShiftformerContainer server = new ShiftformerContainer(DockerSupport.IMAGE).withModel(model.file)
                .withBackend("no-such-backend")) {
            RuntimeException e = assertThrows(RuntimeException.class, server::start);
            String chain = causes(e);
            assertTrue(chain.contains("UNKNOWN_BACKEND") && chain.contains("no-such-backend"), chain);
        }
    }

    @Test
    void pinsTheDockerApiVersionOnlyForDaemonsOlderThanTestcontainersDefault() {
        DockerSupport.requireDockerAndImage();
        String daemon = DockerClientFactory.instance().client().versionCmd().exec().getApiVersion();
        String[] v = daemon.split("\\.");
        boolean older = Integer.parseInt(v[0]) == 1 && Integer.parseInt(v[1]) < 44;
        String outcome = DockerApiVersion.negotiate();
        if (outcome.contains("kept")) {
            assertTrue(System.getProperty(DockerApiVersion.PROPERTY) != null || outcome.contains(".docker-java.properties"));
        } else if (older) {
            assertEquals(daemon, System.getProperty(DockerApiVersion.PROPERTY), outcome);
        } else {
            assertTrue(outcome.contains("unchanged") || outcome.contains("kept"), outcome);
        }
    }

    @Test
    void rejectsAMissingModelFileAndAStartWithoutModel() {
        Path missing = dir.resolve("missing.itm");
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new ShiftformerContainer().withModel(missing));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
        assertThrows(ShiftformerException.class, () -> new ShiftformerContainer().withBackendOption("threads", "1").withBackend(" "));
        try (ShiftformerContainer noModel = new ShiftformerContainer()) {
            IllegalStateException s = assertThrows(IllegalStateException.class, noModel::configure);
            assertTrue(s.getMessage().contains("withModel"), s.getMessage());
        }
    }

    static String causes(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            sb.append(c).append('\n');
        }
        return sb.toString();
    }

    static String sha256(Path file) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
