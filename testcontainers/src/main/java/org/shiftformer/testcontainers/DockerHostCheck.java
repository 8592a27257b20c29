package org.shiftformer.testcontainers;

import java.net.URI;
import java.util.ArrayList;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import org.testcontainers.dockerclient.DockerClientConfigUtils;

/**
 * Whether Testcontainers would pull an image only to learn the Docker host's address, asked before it
 * builds its client (which always resolves that address).
 *
 * <p>With a local daemon ({@code unix://} socket) and a JVM that runs where {@code /.dockerenv} exists,
 * Testcontainers takes the gateway of the daemon's {@code bridge} network, and when that network has none
 * (dockerd started without {@code --bip}, as on these machines) it runs {@code alpine:3.17} to read the
 * default route: a pull, which fails where no registry is reachable, after two minutes of retries.
 * {@code TESTCONTAINERS_HOST_OVERRIDE} skips all of it. {@link ShiftformerContainer} needs no address but
 * 127.0.0.1 (host networking), so it checks first and fails at once, naming the image and the setting.
 */
final class DockerHostCheck {
    /** Testcontainers' environment variable that names the Docker host's address. */
    static final String HOST_OVERRIDE = "TESTCONTAINERS_HOST_OVERRIDE";

    private static final Pattern GATEWAY = Pattern.compile("\"Gateway\"\\s*:\\s*\"[^\"]+\"");
    private static String problem;
    private static boolean checked;

    private DockerHostCheck() {
    }

    /** The problem on this machine (asked once per JVM), or null when Testcontainers would pull nothing. */
    static synchronized String problem() {
        if (!checked) {
            String dockerHost = System.getenv("DOCKER_HOST");
            problem = problem(System.getenv(HOST_OVERRIDE), dockerHost == null ? DockerDaemon.DEFAULT_HOST : dockerHost,
                    DockerClientConfigUtils.IN_A_CONTAINER, DockerHostCheck::bridgeNetwork);
            checked = true;
        }
        return problem;
    }

    /**
     * The decision, from what it depends on.
     *
     * @param hostOverride  {@value #HOST_OVERRIDE}, or null
     * @param dockerHost    the daemon's address ({@code unix:///var/run/docker.sock}, {@code tcp://...})
     * @param inAContainer  whether {@code /.dockerenv} exists
     * @param bridgeNetwork the daemon's answer to {@code GET /networks/bridge}, or null if it cannot be asked
     * @return null when no image would be pulled, else what would be and how to avoid it
     */
    static String problem(String hostOverride, String dockerHost, boolean inAContainer, Supplier<String> bridgeNetwork) {
        if (hostOverride != null && !hostOverride.isBlank()) {
            return null;
        }
        String scheme = URI.create(dockerHost).getScheme();
        if (!inAContainer || !("unix".equals(scheme) || "npipe".equals(scheme))) {
            return null; // Testcontainers answers "localhost" or the tcp host without asking the daemon
        }
        String bridge = bridgeNetwork.get();
        if (bridge == null || GATEWAY.matcher(bridge).find()) {
            return null; // the gateway is known (or the daemon cannot be asked: Testcontainers reports that)
        }
        return "Testcontainers would pull " + LocalImagesOnly.HOST_DISCOVERY_IMAGE + " to find the Docker host's"
                + " address: this JVM runs where /.dockerenv exists, the daemon is local (" + dockerHost
                + ") and its bridge network has no gateway. Set " + HOST_OVERRIDE + "=127.0.0.1: the shiftformer"
                + " container uses host networking and listens on 127.0.0.1 (or start dockerd with --bip)";
    }

    private static String bridgeNetwork() {
        try {
            DockerDaemon.Answer a = DockerDaemon.get("/networks/bridge", new ArrayList<>());
            return a == null || !a.ok() ? null : a.body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
