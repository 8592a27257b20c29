package org.shiftformer.testcontainers;

import com.github.dockerjava.api.command.InspectContainerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.client.ClientOptions;
import org.shiftformer.client.ShiftformerClient;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.utility.DockerImageName;
import org.testcontainers.utility.MountableFile;

/**
 * The shiftformer server in a container, for tests: a model file, a backend, the server's ports on the
 * host's loopback, readiness from {@code /health/ready}, and connected clients.
 *
 * <pre>{@code
 * try (ShiftformerContainer server = new ShiftformerContainer().withModel(Path.of("model.itm"))) {
 *     server.start();                                   // returns once /health/ready answers 200
 *     try (ShiftformerClient client = server.client()) {
 *         Translation t = client.translate(TranslationRequest.text("zweihundert")).join();
 *     }
 * }
 * }</pre>
 *
 * <p>The container runs with host networking and the server bound to 127.0.0.1 on two free ports this
 * class picks ({@link #port()} for the protocol, {@link #adminPort()} for admin HTTP), so clients reach it
 * at 127.0.0.1 and nothing listens on other interfaces. The model file is copied into the container at
 * {@value #MODEL_PATH} (so a remote Docker host works too). {@link #start()} waits (up to
 * {@link #withStartupTimeout}, default 120 s) until {@code GET /health/ready} answers 200; a server that
 * exits first (a bad model file, an unknown backend) fails it with the server's last output, which names
 * the problem.
 *
 * <p>The image defaults to {@code shiftformer:VERSION} of this module, built by {@code ./shiftformer image}.
 * An image named without a registry is never pulled ({@link LocalImagesOnly}): a missing one fails
 * {@link #start()} at once, naming it. {@link #start()} also fails at once, naming the image and
 * {@code TESTCONTAINERS_HOST_OVERRIDE}, where Testcontainers would pull {@code alpine:3.17} to find the
 * Docker host's address (a JVM where {@code /.dockerenv} exists, a local daemon whose bridge network has no
 * gateway); set {@code TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1} there.
 * Testcontainers' Ryuk cannot be pulled where no registry is reachable: set
 * {@code TESTCONTAINERS_RYUK_DISABLED=true} there, and stop containers yourself (try-with-resources).
 * Loading this class calls {@link DockerApiVersion#negotiate()}, so Docker daemons older than API 1.44 work.
 *
 * <p>For fault tests, {@link #kill()} SIGKILLs the server (no drain, no goodbye frames) and
 * {@link #restart()} starts the same container again on the same ports.
 */
public class ShiftformerContainer extends LoopbackContainer<ShiftformerContainer> {
    /** Where the model file is inside the container (the image's default {@code --model}). */
    public static final String MODEL_PATH = "/models/model.itm";
    /** The image this module's build made: {@code shiftformer:VERSION}. */
    public static final String DEFAULT_IMAGE = defaultImage();
    /** Default {@link #withStartupTimeout}: JVM start, model load and checksum on a busy machine. */
    public static final Duration STARTUP_TIMEOUT_DEFAULT = Duration.ofSeconds(120);

    private Path model;
    private String backend = "sim";
    private String fallback;
    private final Map<String, String> backendOptions = new LinkedHashMap<>();
    private final Map<String, String> serverProperties = new LinkedHashMap<>();
    private final List<String> jvmOptions = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** The module's {@link #DEFAULT_IMAGE}. */
    public ShiftformerContainer() {
        this(DockerImageName.parse(DEFAULT_IMAGE));
    }

    /** An image by name, e.g. {@code "shiftformer:latest"}. */
    public ShiftformerContainer(String image) {
        this(DockerImageName.parse(image));
    }

    /** An image; one named without a registry (only {@code ./shiftformer image} makes those) is never pulled. */
    public ShiftformerContainer(DockerImageName image) {
        super(image, "the shiftformer server", STARTUP_TIMEOUT_DEFAULT);
    }

    private static String defaultImage() {
        return moduleProperty("image", "shiftformer:latest");
    }

    /** A setting of this module's build ({@code shiftformer-testcontainers.properties}: image tags, version). */
    static String moduleProperty(String key, String fallback) {
        Properties p = new Properties();
        try (InputStream in = ShiftformerContainer.class.getResourceAsStream("/shiftformer-testcontainers.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p.getProperty(key, fallback);
    }

    // ---- configuration ----------------------------------------------------------------------------------

    /**
     * The artifact ({@code .itm}) to serve, copied into the container read-only for the server's user.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if it is not a readable file
     */
    public ShiftformerContainer withModel(Path file) {
        Objects.requireNonNull(file, "file");
        if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "model file " + file.toAbsolutePath()
                    + " is not a readable file");
        }
        this.model = file.toAbsolutePath();
        return this;
    }

    /** The backend to serve on ({@code --backend}; default {@code sim}). */
    public ShiftformerContainer withBackend(String name) {
        this.backend = requireText(name, "backend");
        return this;
    }

    /** A backend setting ({@code --backend-option KEY=VALUE}), e.g. {@code threads=2} for sim. */
    public ShiftformerContainer withBackendOption(String key, String value) {
        backendOptions.put(requireText(key, "backend option key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /** What to do when the backend cannot run ({@code --fallback}: none, next, or a list of names). */
    public ShiftformerContainer withFallback(String policy) {
        this.fallback = requireText(policy, "fallback");
        return this;
    }

    /**
     * A server setting of {@code ServerConfig} as {@code -Dshiftformer.server.KEY=VALUE}, e.g.
     * {@code withServerProperty("maxQueued", "4096")}. The server checks it at start-up.
     */
    public ShiftformerContainer withServerProperty(String key, String value) {
        serverProperties.put(requireText(key, "server property"), Objects.requireNonNull(value, "value"));
        return this;
    }

    /** Options for the server's JVM (e.g. {@code -Xmx512m}), passed in {@code JDK_JAVA_OPTIONS}. */
    public ShiftformerContainer withJvmOptions(String... options) {
        for (String o : options) {
            jvmOptions.add(requireText(o, "JVM option"));
        }
        return this;
    }

    private static String requireText(String s, String what) {
        if (s == null || s.isBlank() || s.chars().anyMatch(Character::isWhitespace)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, what + " '" + s
                    + "' must be non-empty and without spaces");
        }
        return s;
    }

    @Override
    protected void configure() {
        if (model == null) {
            throw new IllegalStateException("ShiftformerContainer needs a model: call withModel(Path) before start()");
        }
        choosePorts();
        withCopyFileToContainer(MountableFile.forHostPath(model, 0644), MODEL_PATH);
        List<String> cmd = new ArrayList<>(List.of("--model", MODEL_PATH, "--backend", backend,
                "--bind", "127.0.0.1", "--port", Integer.toString(port()), "--admin-port", Integer.toString(adminPort())));
        if (fallback != null) {
            cmd.addAll(List.of("--fallback", fallback));
        }
        backendOptions.forEach((k, v) -> cmd.addAll(List.of("--backend-option", k + "=" + v)));
        setCommand(cmd.toArray(String[]::new));
        List<String> jvm = new ArrayList<>(jvmOptions);
        serverProperties.forEach((k, v) -> jvm.add("-Dshiftformer.server." + k + "=" + v));
        if (!jvm.isEmpty()) {
            withEnv("JDK_JAVA_OPTIONS", String.join(" ", jvm));
        }
    }

    // ---- the running server -----------------------------------------------------------------------------

    /** A new connection to the server with default options; close it when done. */
    public ShiftformerClient client() {
        return client(ClientOptions.defaults());
    }

    /** A new connection to the server; close it when done. */
    public ShiftformerClient client(ClientOptions options) {
        requireStarted();
        return ShiftformerClient.connect(getHost(), port(), options);
    }

    /** {@code GET /metrics}: the Prometheus text exposition. */
    public String metricsText() {
        AdminAnswer a = admin("/metrics");
        if (a.status() != 200) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "GET /metrics answered " + a.status() + ": " + a.body());
        }
        return a.body();
    }

    /** {@code GET /health/ready}: status 200 with {@code ready}, or 503 with {@code not ready: REASON}. */
    public AdminAnswer readiness() {
        return admin("/health/ready");
    }

    /** One admin HTTP answer. */
    public record AdminAnswer(int status, String body) {
    }

    /** {@code GET path} on the admin port. */
    public AdminAnswer admin(String path) {
        requireStarted();
        return get(adminPort(), path, http);
    }

    static AdminAnswer get(int adminPort, String path, HttpClient http) {
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path))
                .timeout(Duration.ofSeconds(10)).GET().build();
        try {
            HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
            return new AdminAnswer(r.statusCode(), r.body());
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "GET http://127.0.0.1:" + adminPort + path + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ShiftformerException(ErrorCode.IO_ERROR, "interrupted during GET " + path, e);
        }
    }

    private void requireStarted() {
        if (port() == 0 || getContainerId() == null) {
            throw new IllegalStateException("the shiftformer container is not started: call start() first");
        }
    }

    // ---- faults -----------------------------------------------------------------------------------------

    /**
     * Sends SIGKILL to the server (Docker's {@code kill --signal KILL}) and returns once Docker reports the
     * container stopped (bounded by 60 s). Connections drop without any terminal frame.
     */
    public void kill() {
        requireStarted();
        getDockerClient().killContainerCmd(getContainerId()).withSignal("KILL").exec();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (Boolean.TRUE.equals(getCurrentContainerInfo().getState().getRunning())) {
            if (System.nanoTime() > deadline) {
                throw new ContainerLaunchException("container " + getContainerId() + " still runs 60 s after SIGKILL");
            }
            sleepMs(50);
        }
    }

    /** The exit code Docker recorded (137 after {@link #kill()}), or null while it runs. */
    public Long exitCode() {
        InspectContainerResponse.ContainerState s = getCurrentContainerInfo().getState();
        return Boolean.TRUE.equals(s.getRunning()) ? null : s.getExitCodeLong();
    }

    /**
     * Starts this (stopped or killed) container again (Docker's {@code start}: same model copy, same ports)
     * and waits until {@code /health/ready} answers 200, within the startup timeout.
     */
    public void restart() {
        requireStarted();
        getDockerClient().startContainerCmd(getContainerId()).exec();
        getWaitStrategy().waitUntilReady(this);
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
