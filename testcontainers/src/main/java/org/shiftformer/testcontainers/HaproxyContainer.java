package org.shiftformer.testcontainers;

import java.net.http.HttpClient;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntSupplier;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.images.builder.Transferable;
import org.testcontainers.utility.DockerImageName;

/**
 * HAProxy in front of shiftformer replicas, for tests: one TCP frontend on 127.0.0.1 that balances protocol
 * connections over the replicas (least connections), with a health check per replica on its admin
 * {@code GET /health/ready}, and an admin HTTP frontend with HAProxy's statistics and its own readiness.
 *
 * <pre>{@code
 * try (ShiftformerContainer r1 = ..., r2 = ..., r3 = ...) {       // started
 *     try (HaproxyContainer lb = new HaproxyContainer().withReplicas(r1, r2, r3)) {
 *         lb.start();                                              // returns when every replica is UP
 *         try (ReplicatedClient c = ReplicatedClient.connect(List.of(lb.address()), options)) { ... }
 *     }
 * }
 * }</pre>
 *
 * <p>The image defaults to {@code shiftformer-haproxy:VERSION}, Debian's haproxy binary packaged by this
 * module's build offline ({@code src/main/docker/haproxy/build-image.sh}); it is never pulled
 * ({@link LocalImagesOnly}). Like {@link ShiftformerContainer} it uses host networking: HAProxy binds
 * 127.0.0.1 on two free ports ({@link #port()}, {@link #adminPort()}) and reaches the replicas at
 * 127.0.0.1 on theirs, so the replicas must be started first (their ports are read when this container
 * starts). The generated configuration ({@link #config()}) is copied to {@value #CONFIG_PATH}:
 *
 * <ul>
 *   <li>{@code mode tcp}, {@code balance leastconn} (protocol connections are long-lived);
 *   <li>{@code option httpchk GET /health/ready}, {@code check port ADMIN} per replica, every
 *       {@link #withHealthCheckInterval} (default 500 ms), down after 2 failed checks, up after 2 good ones;
 *   <li>{@code retries 3} and {@code option redispatch 1}: a connection to a replica that refuses it (killed,
 *       not yet marked down) is sent to another one;
 *   <li>on {@link #adminPort()}: {@code /stats} (and {@code /stats;csv}, read by {@link #servers()}) and
 *       {@code /health/ready}, 200 while at least {@link #withMinReplicasUp} replicas are UP (default all),
 *       which {@link #start()} waits for.
 * </ul>
 */
public class HaproxyContainer extends LoopbackContainer<HaproxyContainer> {
    /** The image this module's build made: {@code shiftformer-haproxy:VERSION}. */
    public static final String DEFAULT_IMAGE = ShiftformerContainer.moduleProperty("haproxy.image",
            "shiftformer-haproxy:latest");
    /** Where the generated configuration is inside the container. */
    public static final String CONFIG_PATH = "/etc/haproxy/haproxy.cfg";
    /** The backend's name in the configuration and the statistics. */
    public static final String BACKEND = "replicas";
    /** How long {@link #start()} waits for HAProxy and the replicas' first health checks. */
    public static final Duration STARTUP_TIMEOUT_DEFAULT = Duration.ofSeconds(60);

    /** One server line: a name, and its protocol and admin ports on 127.0.0.1 (read when the container starts). */
    private record Replica(String name, IntSupplier port, IntSupplier adminPort) {
    }

    private final List<Replica> replicas = new ArrayList<>();
    private Duration checkInterval = Duration.ofMillis(500);
    private int minReplicasUp = -1;
    private String config;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** The module's {@link #DEFAULT_IMAGE}. */
    public HaproxyContainer() {
        this(DockerImageName.parse(DEFAULT_IMAGE));
    }

    /** An image by name whose entry point is {@code haproxy -db} (the configuration file comes as arguments). */
    public HaproxyContainer(String image) {
        this(DockerImageName.parse(image));
    }

    /** An image; one named without a registry is never pulled. */
    public HaproxyContainer(DockerImageName image) {
        // start() then also waits for each replica's first health check, within STARTUP_TIMEOUT_DEFAULT
        super(image, "haproxy", STARTUP_TIMEOUT_DEFAULT);
    }

    // ---- configuration ----------------------------------------------------------------------------------

    /** Replicas to balance over, named {@code r1}, {@code r2}, ... in this order (after any added before). */
    public HaproxyContainer withReplicas(ShiftformerContainer... servers) {
        for (ShiftformerContainer s : servers) {
            Objects.requireNonNull(s, "server");
            replicas.add(new Replica("r" + (replicas.size() + 1), s::port, s::adminPort));
        }
        return this;
    }

    /** A replica that is not a {@link ShiftformerContainer}: a server on 127.0.0.1 at these ports. */
    public HaproxyContainer withReplica(String name, int port, int adminPort) {
        if (name == null || !name.matches("[A-Za-z0-9_.-]+") || port < 1 || port > 65535 || adminPort < 1
                || adminPort > 65535) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "replica '" + name + "' at " + port + "/"
                    + adminPort + ": a name of letters, digits, '_', '.', '-' and two ports in [1, 65535]");
        }
        replicas.add(new Replica(name, () -> port, () -> adminPort));
        return this;
    }

    /** How often each replica's {@code /health/ready} is asked (default 500 ms; 2 failures mark it down). */
    public HaproxyContainer withHealthCheckInterval(Duration interval) {
        if (interval.toMillis() < 10) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "health check interval " + interval
                    + " must be at least 10 ms");
        }
        this.checkInterval = interval;
        return this;
    }

    /** How many replicas must be UP for HAProxy's {@code /health/ready} (and so {@link #start()}); default all. */
    public HaproxyContainer withMinReplicasUp(int n) {
        if (n < 1) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "min replicas up " + n + " must be >= 1");
        }
        this.minReplicasUp = n;
        return this;
    }

    @Override
    protected void configure() {
        if (replicas.isEmpty()) {
            throw new IllegalStateException("HaproxyContainer needs replicas: call withReplicas(...) before start()");
        }
        if (minReplicasUp > replicas.size()) {
            throw new IllegalStateException("min replicas up " + minReplicasUp + " > " + replicas.size() + " replicas");
        }
        choosePorts();
        config = render();
        withCopyToContainer(Transferable.of(config, 0644), CONFIG_PATH);
        setCommand("-f", CONFIG_PATH);
    }

    private String render() {
        long inter = checkInterval.toMillis();
        StringBuilder sb = new StringBuilder();
        sb.append("# Generated by org.shiftformer.testcontainers.HaproxyContainer\n");
        sb.append("global\n");
        sb.append("    log stdout format raw local0 info\n");
        sb.append("    nbthread 1\n");
        sb.append("    maxconn 4096\n");
        sb.append("defaults\n");
        sb.append("    log global\n");
        sb.append("    mode tcp\n");
        sb.append("    option tcplog\n");
        sb.append("    timeout connect 2s\n");
        // Protocol connections are long-lived; the server closes idle ones itself (idleTimeoutMs, 300 s).
        sb.append("    timeout client 5m\n");
        sb.append("    timeout server 5m\n");
        sb.append("    timeout check 2s\n");
        sb.append("    retries 3\n");
        sb.append("    option redispatch 1\n");
        sb.append("frontend shiftformer\n");
        sb.append("    bind 127.0.0.1:").append(port()).append('\n');
        sb.append("    default_backend ").append(BACKEND).append('\n');
        sb.append("backend ").append(BACKEND).append('\n');
        sb.append("    balance leastconn\n");
        sb.append("    option httpchk GET /health/ready\n");
        sb.append("    http-check expect status 200\n");
        sb.append("    default-server inter ").append(inter).append("ms fastinter ").append(Math.max(10, inter / 2))
                .append("ms downinter ").append(inter).append("ms fall 2 rise 2\n");
        for (Replica r : replicas) {
            int p = r.port().getAsInt();
            int a = r.adminPort().getAsInt();
            if (p == 0 || a == 0) {
                throw new IllegalStateException("replica " + r.name() + " has no ports yet: start the replicas before HAProxy");
            }
            sb.append("    server ").append(r.name()).append(" 127.0.0.1:").append(p).append(" check port ").append(a)
                    .append('\n');
        }
        sb.append("frontend admin\n");
        sb.append("    mode http\n");
        sb.append("    timeout client 10s\n");
        sb.append("    bind 127.0.0.1:").append(adminPort()).append('\n');
        sb.append("    stats enable\n");
        sb.append("    stats uri /stats\n");
        sb.append("    monitor-uri /health/ready\n");
        sb.append("    monitor fail if { nbsrv(").append(BACKEND).append(") lt ")
                .append(minReplicasUp < 0 ? replicas.size() : minReplicasUp).append(" }\n");
        return sb.toString();
    }

    /**
     * Starts HAProxy and waits (up to {@link #STARTUP_TIMEOUT_DEFAULT}, 60 s) until its {@code /health/ready}
     * answers 200 and at least {@link #withMinReplicasUp} replicas (default all) have passed a health check
     * (HAProxy counts a server UP before its first check). A configuration HAProxy rejects fails at once with
     * its output.
     */
    @Override
    public void start() {
        super.start();
        int min = minReplicasUp < 0 ? replicas.size() : minReplicasUp;
        long deadline = System.nanoTime() + STARTUP_TIMEOUT_DEFAULT.toNanos();
        Map<String, Server> s;
        while ((s = servers()).values().stream().filter(v -> v.up() && v.checkStatus().startsWith("L7OK")).count() < min) {
            if (System.nanoTime() > deadline) {
                throw new ContainerLaunchException("fewer than " + min + " replicas passed HAProxy's health check within "
                        + STARTUP_TIMEOUT_DEFAULT + ": " + s);
            }
            ShiftformerContainer.sleepMs(50);
        }
    }

    // ---- the running balancer ---------------------------------------------------------------------------

    /** {@code 127.0.0.1:PORT}: the one address clients use (e.g. a {@code ReplicatedClient}'s only address). */
    public String address() {
        return getHost() + ":" + port();
    }

    /** The configuration this container runs with (null before {@link #start()}). */
    public String config() {
        return config;
    }

    /**
     * One replica as HAProxy's statistics show it.
     *
     * @param status        {@code UP}, {@code DOWN}, {@code UP 1/2} (going down), {@code DOWN 1/2} (coming up), ...
     * @param sessionsNow   connections open to it now
     * @param sessionsTotal connections ever sent to it
     * @param downs         times it went from UP to DOWN
     * @param checkStatus   the last health check's result, e.g. {@code L7OK}, {@code L4CON} (refused), {@code L7STS}
     */
    public record Server(String status, long sessionsNow, long sessionsTotal, long downs, String checkStatus) {
        public boolean up() {
            return status.equals("UP") || status.startsWith("UP ");
        }
    }

    /** The replicas by name, from {@code GET /stats;csv}, in configuration order. */
    public Map<String, Server> servers() {
        if (port() == 0 || getContainerId() == null) {
            throw new IllegalStateException("the haproxy container is not started: call start() first");
        }
        ShiftformerContainer.AdminAnswer a = ShiftformerContainer.get(adminPort(), "/stats;csv", http);
        if (a.status() != 200) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "GET /stats;csv answered " + a.status() + ": " + a.body());
        }
        return parseStats(a.body());
    }

    static Map<String, Server> parseStats(String csv) {
        List<String> lines = csv.lines().toList();
        if (lines.isEmpty() || !lines.getFirst().startsWith("# ")) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "not HAProxy's CSV statistics: " + csv);
        }
        List<String> header = Arrays.asList(lines.getFirst().substring(2).split(",", -1));
        int px = header.indexOf("pxname");
        int sv = header.indexOf("svname");
        int status = header.indexOf("status");
        int scur = header.indexOf("scur");
        int stot = header.indexOf("stot");
        int chkdown = header.indexOf("chkdown");
        int check = header.indexOf("check_status");
        Map<String, Server> out = new LinkedHashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",", -1);
            if (f.length > check && f[px].equals(BACKEND) && !f[sv].equals("BACKEND") && !f[sv].equals("FRONTEND")) {
                out.put(f[sv], new Server(f[status], number(f[scur]), number(f[stot]), number(f[chkdown]), f[check]));
            }
        }
        return out;
    }

    private static long number(String s) {
        return s.isEmpty() ? 0 : Long.parseLong(s);
    }

    /**
     * Waits until HAProxy shows replica {@code name} up (or down), polling its statistics every 100 ms.
     *
     * @return how long it took
     * @throws ContainerLaunchException after {@code timeout}, with the statistics
     */
    public Duration awaitServer(String name, boolean up, Duration timeout) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        while (true) {
            Server s = servers().get(name);
            if (s == null) {
                throw new IllegalArgumentException("no replica '" + name + "' in " + servers().keySet());
            }
            if (s.up() == up) {
                return Duration.ofNanos(System.nanoTime() - start);
            }
            if (System.nanoTime() > deadline) {
                throw new ContainerLaunchException("HAProxy did not mark " + name + (up ? " up" : " down") + " within "
                        + timeout + ": " + servers());
            }
            ShiftformerContainer.sleepMs(100);
        }
    }
}
