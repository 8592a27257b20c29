package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.dockerjava.api.model.Network;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.images.PullPolicy;
import org.testcontainers.utility.DockerImageName;

/**
 * The rule of these test runs: nothing is pulled. A pull fails at once, naming the image, and the
 * Docker host's address never needs Testcontainers' alpine helper.
 */
class NoPullTest {
    /** Far below Testcontainers' two minutes of pull retries; the refusal itself takes milliseconds. */
    private static final Duration AT_ONCE = Duration.ofSeconds(30);

    @TempDir
    static Path dir;
    static TestModel model;

    @BeforeAll
    static void model() {
        model = TestModel.random(dir, "tiny", 5);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void theTestRunsPullPolicyIsLocalImagesOnly() {
        assertInstanceOf(LocalImagesOnly.class, PullPolicy.defaultPolicy(),
                "src/test/resources/testcontainers.properties sets pull.policy for the whole run");
    }

    @Test
    void aContainerWhoseImageIsNotLocalFailsAtOnceNamingTheImage() {
        DockerSupport.requireDockerAndImage();
        DockerImageName missing = DockerImageName.parse("registry.invalid/shiftformer-test/never-built:0");
        long start = System.nanoTime();
        try (GenericContainer<?> c = new GenericContainer<>(missing).withCommand("true")) {
            RuntimeException e = assertThrows(RuntimeException.class, c::start);
            String chain = ShiftformerContainerTest.causes(e);
            assertTrue(chain.contains(LocalImagesOnly.ImagePullRefusedException.class.getName())
                    && chain.contains(missing.asCanonicalNameString()), chain);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(took.compareTo(AT_ONCE) < 0, "refused after " + took);
    }

    @Test
    void shiftformerContainerNeverPullsAnImageNamedWithoutRegistry() {
        DockerSupport.requireDockerAndImage();
        long start = System.nanoTime();
        try (ShiftformerContainer server = new ShiftformerContainer("shiftformer:no-such-tag").withModel(model.file)) {
            RuntimeException e = assertThrows(RuntimeException.class, server::start);
            String chain = ShiftformerContainerTest.causes(e);
            assertTrue(chain.contains("shiftformer:no-such-tag is not in the local Docker daemon")
                    && chain.contains("./shiftformer image"), chain);
        }
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(AT_ONCE) < 0);
    }

    @Test
    void hostCheckFailsOnlyWhereTestcontainersWouldPullItsHelper() {
        String noGateway = "{\"Name\":\"bridge\",\"IPAM\":{\"Driver\":\"default\",\"Config\":[{\"Subnet\":\"172.17.0.0/16\"}]}}";
        String gateway = "{\"Name\":\"bridge\",\"IPAM\":{\"Config\":[{\"Subnet\":\"172.17.0.0/16\",\"Gateway\":\"172.17.0.1\"}]}}";
        String sock = "unix:///var/run/docker.sock";
        String problem = DockerHostCheck.problem(null, sock, true, () -> noGateway);
        assertTrue(problem != null && problem.contains("alpine:3.17") && problem.contains("TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"),
                String.valueOf(problem));
        assertNull(DockerHostCheck.problem("127.0.0.1", sock, true, () -> noGateway), "override set");
        assertNull(DockerHostCheck.problem(" ", sock, false, () -> noGateway), "not in a container");
        assertNull(DockerHostCheck.problem(null, "tcp://127.0.0.1:2375", true, () -> noGateway), "tcp daemon");
        assertNull(DockerHostCheck.problem(null, sock, true, () -> gateway), "the bridge has a gateway");
        assertNull(DockerHostCheck.problem(null, sock, true, () -> null), "daemon not asked: Testcontainers reports");
        // The refusal's hint for the same image says the same thing.
        String refused = new LocalImagesOnly.ImagePullRefusedException(DockerImageName.parse("alpine:3.17")).getMessage();
        assertTrue(refused.contains("alpine:3.17") && refused.contains("TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"), refused);
    }

    @Test
    void hostCheckReadsTheRealBridgeNetworkAsDockerJavaDoes() {
        DockerSupport.requireDockerAndImage();
        Network bridge = DockerClientFactory.instance().client().inspectNetworkCmd().withNetworkId("bridge").exec();
        boolean hasGateway = bridge.getIpam().getConfig().stream().map(Network.Ipam.Config::getGateway).anyMatch(Objects::nonNull);
        List<String> failures = new ArrayList<>();
        String raw = bridgeNetworkJson(failures);
        String problem = DockerHostCheck.problem(null, DockerDaemon.DEFAULT_HOST, true, () -> raw);
        assertEquals(!hasGateway, problem != null, "bridge " + raw + " / " + failures);
        // and this run sets the override, as the module's surefire configuration does
        assertEquals("127.0.0.1", System.getenv(DockerHostCheck.HOST_OVERRIDE));
        assertNull(DockerHostCheck.problem());
    }

    private static String bridgeNetworkJson(List<String> failures) {
        try {
            DockerDaemon.Answer a = DockerDaemon.get("/networks/bridge", failures);
            assertTrue(a != null && a.ok(), failures + " " + (a == null ? "" : a.response()));
            return a.body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
