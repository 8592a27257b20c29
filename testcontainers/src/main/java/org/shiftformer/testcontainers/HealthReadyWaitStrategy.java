package org.shiftformer.testcontainers;

import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.function.IntSupplier;
import org.shiftformer.api.ShiftformerException;
import org.testcontainers.containers.ContainerLaunchException;
import org.testcontainers.containers.output.OutputFrame;
import org.testcontainers.containers.wait.strategy.AbstractWaitStrategy;

/**
 * Waits until {@code GET /health/ready} on an admin port of 127.0.0.1 answers 200 (the shiftformer
 * server's, or {@link HaproxyContainer}'s monitor URI). Testcontainers' own
 * {@code HttpWaitStrategy} looks ports up in the container's port mappings, which host networking does
 * not have; this one asks the admin port directly. If the container stops first, it fails at once with the
 * exit code and the server's last output lines (which name the problem: a bad model file, an unknown
 * backend, a port in use); on timeout, with the last answer.
 */
final class HealthReadyWaitStrategy extends AbstractWaitStrategy {
    private static final int LOG_LINES = 20;
    private final String what;
    private final IntSupplier adminPort;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** @param what what is waited for, in messages: "the shiftformer server", "haproxy" */
    HealthReadyWaitStrategy(String what, IntSupplier adminPort) {
        this.what = what;
        this.adminPort = adminPort;
    }

    @Override
    protected void waitUntilReady() {
        int port = adminPort.getAsInt();
        long deadline = System.nanoTime() + startupTimeout.toNanos();
        String last = "no answer yet";
        while (true) {
            try {
                ShiftformerContainer.AdminAnswer a = ShiftformerContainer.get(port, "/health/ready", http);
                if (a.status() == 200) {
                    return;
                }
                last = a.status() + " " + a.body().strip();
            } catch (ShiftformerException e) {
                last = e.getMessage();
            }
            if (!waitStrategyTarget.isRunning()) {
                Long code = waitStrategyTarget.getCurrentContainerInfo().getState().getExitCodeLong();
                throw new ContainerLaunchException(what + " exited with code " + code
                        + " before /health/ready answered 200 on 127.0.0.1:" + port + "; its last output:\n"
                        + tail(waitStrategyTarget.getLogs(OutputFrame.OutputType.STDOUT, OutputFrame.OutputType.STDERR)));
            }
            if (System.nanoTime() > deadline) {
                throw new ContainerLaunchException(what + " was not ready within " + startupTimeout
                        + " (GET http://127.0.0.1:" + port + "/health/ready: " + last + "); its last output:\n"
                        + tail(waitStrategyTarget.getLogs()));
            }
            ShiftformerContainer.sleepMs(200);
        }
    }

    private static String tail(String logs) {
        List<String> lines = logs.lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - LOG_LINES), lines.size()));
    }
}
