package org.shiftformer.testcontainers;

import org.testcontainers.containers.ContainerFetchException;
import org.testcontainers.images.AbstractImagePullPolicy;
import org.testcontainers.images.ImageData;
import org.testcontainers.utility.DockerImageName;

/**
 * A Testcontainers image pull policy that never pulls: an image the local Docker daemon lacks fails at
 * once with an {@link ImagePullRefusedException} naming it, where Testcontainers' default would try a
 * registry and retry for two minutes. Made for machines that reach no image registry, where every image
 * is built locally (as {@code ./shiftformer image} builds the server's).
 *
 * <p>For a whole test run (every container, and the images Testcontainers starts for itself), put
 * {@code pull.policy=org.shiftformer.testcontainers.LocalImagesOnly} in a {@code testcontainers.properties}
 * on the test class path, as this module's own tests do. {@link ShiftformerContainer} uses it for images
 * named without a registry, which only a local build can have made.
 */
public final class LocalImagesOnly extends AbstractImagePullPolicy {
    /** Testcontainers' helper image that finds the Docker host's address from inside a container. */
    static final String HOST_DISCOVERY_IMAGE = "alpine:3.17";

    /** Needed by Testcontainers' {@code pull.policy} setting, which instantiates the class by name. */
    public LocalImagesOnly() {
    }

    /**
     * @return false when the image is local
     * @throws ImagePullRefusedException when it is not: pulling it is what this policy refuses
     */
    @Override
    public boolean shouldPull(DockerImageName imageName) {
        if (super.shouldPull(imageName)) {
            throw new ImagePullRefusedException(imageName);
        }
        return false;
    }

    @Override
    protected boolean shouldPullCached(DockerImageName imageName, ImageData localImageData) {
        return false;
    }

    /** A pull that {@link LocalImagesOnly} refused; the message names the image and how to do without it. */
    public static final class ImagePullRefusedException extends ContainerFetchException {
        private static final long serialVersionUID = 1L;

        ImagePullRefusedException(DockerImageName image) {
            super("image " + image.asCanonicalNameString() + " is not in the local Docker daemon and "
                    + LocalImagesOnly.class.getSimpleName() + " does not pull (no image registry is used): "
                    + hint(image));
        }

        private static String hint(DockerImageName image) {
            String name = image.asCanonicalNameString();
            if (name.equals(DockerImageName.parse(HOST_DISCOVERY_IMAGE).asCanonicalNameString())) {
                return "Testcontainers starts it to find the Docker host's address when this JVM runs where"
                        + " /.dockerenv exists and the daemon's bridge network has no gateway; set "
                        + DockerHostCheck.HOST_OVERRIDE + "=127.0.0.1 (the daemon is local; containers use host"
                        + " networking)";
            }
            if (image.getRepository().contains("ryuk")) {
                return "Testcontainers' Ryuk cleans up after the JVM; set TESTCONTAINERS_RYUK_DISABLED=true and"
                        + " stop containers yourself";
            }
            if (image.getRepository().startsWith("shiftformer")) {
                return "build it with ./shiftformer image (mvn verify in the testcontainers module does)";
            }
            return "build or load it locally first (docker build, docker import, docker load)";
        }
    }
}
