package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.fail;

import com.github.dockerjava.api.exception.NotFoundException;
import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;

/**
 * Whether the tests can run: a Docker daemon and the image this build made. Outside CI a missing daemon or
 * image skips them with the reason (like the other modules' optional tools); with {@code CI=true} it fails.
 */
final class DockerSupport {
    /** The image under test (surefire passes the one the build made). */
    static final String IMAGE = System.getProperty("shiftformer.image", ShiftformerContainer.DEFAULT_IMAGE);

    private DockerSupport() {
    }

    /** The HAProxy image of the load-balancer topology (surefire passes the one the build made). */
    static final String HAPROXY_IMAGE = System.getProperty("shiftformer.haproxyImage", HaproxyContainer.DEFAULT_IMAGE);

    static void requireDockerAndImage() {
        requireDockerAndImages(IMAGE);
    }

    /** A Docker daemon and the server's image, and {@link #HAPROXY_IMAGE}. */
    static void requireDockerAndHaproxy() {
        requireDockerAndImages(IMAGE, HAPROXY_IMAGE);
    }

    private static void requireDockerAndImages(String... images) {
        DockerApiVersion.negotiate();
        boolean ci = "true".equals(System.getenv("CI"));
        String problem = null;
        if (!DockerClientFactory.instance().isDockerAvailable()) {
            problem = "no Docker daemon answers (start dockerd; .ci/run does)";
        } else {
            for (String image : images) {
                try {
                    DockerClientFactory.instance().client().inspectImageCmd(image).exec();
                } catch (NotFoundException e) {
                    problem = "image " + image + " does not exist: build it with "
                            + (image.equals(IMAGE) ? "./shiftformer image" : "src/main/docker/haproxy/build-image.sh")
                            + " (mvn verify does)";
                    break;
                }
            }
        }
        if (problem != null) {
            if (ci) {
                fail(problem + " (CI=true: the container tests must run)");
            }
            Assumptions.abort(problem);
        }
    }
}
