/**
 * Run the shiftformer server's container image from a test suite with Testcontainers: {@link
 * org.shiftformer.testcontainers.ShiftformerContainer} serves a model file on the sim (or another) backend,
 * waits for {@code /health/ready}, and hands out connected {@link org.shiftformer.client.ShiftformerClient}s.
 * {@link org.shiftformer.testcontainers.DockerApiVersion} lets Testcontainers 2.x talk to Docker daemons
 * older than API 1.44, and {@link org.shiftformer.testcontainers.LocalImagesOnly} makes any image pull fail at
 * once, naming the image (no registry is used). The image itself is built by {@code ./shiftformer image}
 * ({@code src/main/docker/build-image.sh}); see this module's README.md. {@link
 * org.shiftformer.testcontainers.HaproxyContainer} runs HAProxy (image {@code shiftformer-haproxy:VERSION},
 * {@code src/main/docker/haproxy/build-image.sh}) in front of several server containers.
 */
package org.shiftformer.testcontainers;
