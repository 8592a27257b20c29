package org.shiftformer.testcontainers;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Lets Testcontainers 2.x talk to Docker daemons older than API 1.44 (Docker Engine before 25).
 *
 * <p>Testcontainers 2.0.2 and later ask docker-java for API version 1.44 unless the {@code api.version}
 * property says otherwise, because Docker 29 refuses anything older; Docker 20.10 to 24 answer 1.44 with
 * "client version 1.44 is too new". {@link #negotiate()} does what the docker CLI does: it asks the daemon
 * for its version ({@code GET /version}, which every API version serves) and, only when the daemon's
 * highest API version is below 1.44, sets the system property {@code api.version} to it. A value the user
 * set (system property {@code api.version}, or {@code api.version} in {@code ~/.docker-java.properties})
 * is left alone, and so is a daemon that cannot be asked (Testcontainers then reports it).
 *
 * <p>{@link ShiftformerContainer} calls it when its class loads. docker-java reads the property when
 * Testcontainers makes its client, once per JVM: a suite that starts other containers before any
 * {@code ShiftformerContainer} should call {@code DockerApiVersion.negotiate()} first (or set
 * {@code -Dapi.version=1.41} for a Docker 20.10 daemon).
 *
 * <p>Daemons it can ask, in Testcontainers' order, the first that answers: {@code DOCKER_HOST} as
 * {@code unix://PATH} or plain {@code tcp://HOST:PORT} (without {@code DOCKER_TLS_VERIFY}), then
 * {@code /var/run/docker.sock} ({@link DockerDaemon}).
 */
public final class DockerApiVersion {
    /** The docker-java setting Testcontainers honours. */
    public static final String PROPERTY = "api.version";
    /** What Testcontainers 2.x asks for when {@link #PROPERTY} is unset. */
    public static final String TESTCONTAINERS_DEFAULT = "1.44";

    private static final Pattern API_VERSION = Pattern.compile("\"ApiVersion\"\\s*:\\s*\"(\\d+)\\.(\\d+)\"");
    private static String outcome;

    private DockerApiVersion() {
    }

    /**
     * Pins {@code api.version} to the daemon's API version when that is below
     * {@value #TESTCONTAINERS_DEFAULT} and nobody chose one; idempotent, thread-safe.
     *
     * @return what it did, for logs: the version it set, or why it set none
     */
    public static synchronized String negotiate() {
        if (outcome == null) {
            outcome = decide();
        }
        return outcome;
    }

    private static String decide() {
        String set = System.getProperty(PROPERTY);
        if (set != null) {
            return "api.version " + set + " (system property, kept)";
        }
        Path userFile = Path.of(System.getProperty("user.home"), ".docker-java.properties");
        if (Files.isReadable(userFile)) {
            Properties p = new Properties();
            try (InputStream in = Files.newInputStream(userFile)) {
                p.load(in);
            } catch (IOException e) {
                return "api.version unchanged: cannot read " + userFile + ": " + e.getMessage();
            }
            if (p.getProperty(PROPERTY) != null) {
                return "api.version " + p.getProperty(PROPERTY) + " (" + userFile + ", kept)";
            }
        }
        // Testcontainers tries DOCKER_HOST, then the default socket, and uses the first that answers: so does this.
        List<String> failures = new ArrayList<>();
        DockerDaemon.Answer answer;
        try {
            answer = DockerDaemon.get("/version", failures);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "api.version unchanged: interrupted";
        }
        if (answer == null) {
            return "api.version unchanged: " + String.join("; ", failures);
        }
        String host = answer.host();
        Matcher m = API_VERSION.matcher(answer.response());
        if (!m.find()) {
            return "api.version unchanged: no ApiVersion in " + host + "'s answer to GET /version";
        }
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        String daemon = major + "." + minor;
        if (major > 1 || minor >= 44) {
            return "api.version unchanged: the daemon speaks API " + daemon + ", Testcontainers' "
                    + TESTCONTAINERS_DEFAULT + " works";
        }
        System.setProperty(PROPERTY, daemon);
        return "api.version " + daemon + " (the daemon's highest, below Testcontainers' default "
                + TESTCONTAINERS_DEFAULT + ")";
    }
}
