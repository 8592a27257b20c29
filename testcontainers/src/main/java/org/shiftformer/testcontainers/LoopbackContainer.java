package org.shiftformer.testcontainers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * What {@link ShiftformerContainer} and {@link HaproxyContainer} share: host networking, a service port
 * and an admin HTTP port on 127.0.0.1 picked free before the container starts, readiness from
 * {@code GET /health/ready} on the admin port, images named without a registry never pulled
 * ({@link LocalImagesOnly}), and {@link #start()} failing at once where Testcontainers would pull an
 * image to find the Docker host's address. Loading it calls {@link DockerApiVersion#negotiate()}.
 *
 * @param <SELF> the container class, for Testcontainers' fluent setters
 */
public abstract class LoopbackContainer<SELF extends LoopbackContainer<SELF>> extends GenericContainer<SELF> {
    static {
        DockerApiVersion.negotiate();
    }

    private int port;
    private int adminPort;

    /**
     * @param what           what runs, in readiness messages ("the shiftformer server", "haproxy")
     * @param startupTimeout how long {@link #start()} waits for {@code /health/ready}
     */
    @SuppressWarnings("this-escape") // GenericContainer's own setters, on a fully built superclass
    protected LoopbackContainer(DockerImageName image, String what, Duration startupTimeout) {
        super(image);
        if (image.getRegistry().isEmpty()) {
            // No registry in the name: only a local build can have made it; never pull.
            withImagePullPolicy(new LocalImagesOnly());
        }
        withNetworkMode("host");
        waitingFor(new HealthReadyWaitStrategy(what, this::adminPort).withStartupTimeout(startupTimeout));
    }

    /** Picks the two ports once (a restart keeps them); call it first in {@link #configure()}. */
    protected final void choosePorts() {
        if (port == 0) {
            int[] free = freePorts(2);
            port = free[0];
            adminPort = free[1];
        }
    }

    /**
     * Starts the container and waits until {@code /health/ready} answers 200.
     *
     * @throws ContainerLaunchException at once, before Testcontainers contacts the daemon, when it would
     *         have to pull an image to find the Docker host's address (the message says what to set)
     */
    @Override
    public void start() {
        String problem = DockerHostCheck.problem();
        if (problem != null) {
            throw new ContainerLaunchException(problem);
        }
        super.start();
    }

    /** The address clients use: always the loopback address, 127.0.0.1. */
    @Override
    public String getHost() {
        return "127.0.0.1";
    }

    /** The service port on 127.0.0.1 (the server's protocol port, HAProxy's balanced one); 0 before {@link #start()}. */
    public int port() {
        return port;
    }

    /** The admin HTTP port on 127.0.0.1 ({@code /health/ready} and more); 0 before {@link #start()}. */
    public int adminPort() {
        return adminPort;
    }

    /** Free TCP ports on 127.0.0.1 (the container binds them a moment later; host networking shares the host's). */
    static int[] freePorts(int n) {
        ServerSocket[] sockets = new ServerSocket[n];
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                sockets[i] = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ports[i] = sockets[i].getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port on 127.0.0.1", e);
        } finally {
            for (ServerSocket s : sockets) {
                if (s != null) {
                    try {
                        s.close();
                    } catch (IOException ignored) {
                        // the port was found; closing a listening socket does not fail in a way that matters here
                    }
                }
            }
        }
    }
}
