package org.shiftformer.api.conformance;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;

/**
 * Runs the conformance kit ({@link BackendConformanceKit}) against any installed backend, outside a build:
 * what {@code ./shiftformer conformance} prints. The kit's checks run through the JUnit Platform launcher,
 * as they do in a backend's own test suite, so a check means the same in both places.
 */
public final class ConformanceRunner {
    private ConformanceRunner() {
    }

    /**
     * One check of the kit.
     *
     * @param check   the check's method name, e.g. {@code requantizeMatchesReferenceIncludingTiesAndSaturation}
     * @param passed  true when every case was bit-exact
     * @param failure the first failure (the op, its inputs, the index and both values), or null
     * @param millis  how long it ran
     */
    public record Check(String check, boolean passed, String failure, long millis) {
    }

    /**
     * The kit's result for one backend.
     *
     * @param backend the backend's name
     * @param checks  every check, in the order they ran
     * @param setup   why the kit could not run at all (the backend is unavailable, fails to open), or null
     */
    public record Report(String backend, List<Check> checks, String setup) {
        public Report {
            checks = List.copyOf(checks);
        }

        /** True when the kit ran and every check passed. */
        public boolean passed() {
            return setup == null && !checks.isEmpty() && checks.stream().allMatch(Check::passed);
        }

        /** Plain text, one line per check, then a summary line. */
        public String text() {
            StringBuilder sb = new StringBuilder();
            for (Check c : checks) {
                sb.append(String.format("%-4s %-62s %6d ms%n", c.passed() ? "ok" : "FAIL", c.check(), c.millis()));
                if (!c.passed()) {
                    sb.append("     ").append(c.failure().replace("\n", "\n     ")).append('\n');
                }
            }
            if (setup != null) {
                sb.append("the kit could not run: ").append(setup).append('\n');
            }
            long ok = checks.stream().filter(Check::passed).count();
            sb.append(String.format("backend %s: %s (%d of %d checks bit-exact)%n", backend,
                    passed() ? "CONFORMS" : "DOES NOT CONFORM", ok, checks.size()));
            return sb.toString();
        }

        /** The same as JSON, for CI systems. */
        public String json() {
            StringBuilder sb = new StringBuilder("{\"backend\": ").append(quote(backend)).append(", \"passed\": ")
                    .append(passed()).append(", \"setup_error\": ").append(setup == null ? "null" : quote(setup))
                    .append(", \"checks\": [");
            for (int i = 0; i < checks.size(); i++) {
                Check c = checks.get(i);
                sb.append(i == 0 ? "" : ", ").append("{\"check\": ").append(quote(c.check())).append(", \"passed\": ")
                        .append(c.passed()).append(", \"millis\": ").append(c.millis()).append(", \"failure\": ")
                        .append(c.failure() == null ? "null" : quote(c.failure())).append('}');
            }
            return sb.append("]}").toString();
        }
    }

    /** The provider and settings the kit instance launched by {@link #run} tests (one run at a time). */
    private static volatile BackendProvider provider;
    private static volatile Map<String, String> settings = Map.of();

    /** The kit as a concrete class the launcher can instantiate, over the backend {@link #run} names. */
    public static final class Named extends BackendConformanceKit {
        @Override
        protected BackendProvider provider() {
            return provider;
        }

        @Override
        protected Map<String, String> settings() {
            return settings;
        }
    }

    /**
     * Runs every check of the kit against {@code provider} opened with {@code settings}.
     */
    public static synchronized Report run(BackendProvider provider, Map<String, String> settings) {
        ConformanceRunner.provider = provider;
        ConformanceRunner.settings = Map.copyOf(settings);
        List<Check> checks = new ArrayList<>();
        String[] setup = {null};
        TestExecutionListener listener = new TestExecutionListener() {
            private final Map<String, Long> started = new java.util.concurrent.ConcurrentHashMap<>();

            @Override
            public void executionStarted(TestIdentifier id) {
                started.put(id.getUniqueId(), System.nanoTime());
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                long ms = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1_000_000;
                String why = result.getThrowable().map(ConformanceRunner::describe).orElse(
                        result.getStatus() == TestExecutionResult.Status.SUCCESSFUL ? null : result.getStatus().name());
                if (id.isTest()) {
                    checks.add(new Check(id.getDisplayName().replaceAll("\\(\\)$", ""),
                            result.getStatus() == TestExecutionResult.Status.SUCCESSFUL, why, ms));
                } else if (why != null && id.getSource().isPresent()) {
                    setup[0] = why; // a class-level failure: the backend did not open
                }
            }
        };
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectClass(Named.class))
                .build();
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, listener);
        return new Report(provider.name(), checks, setup[0]);
    }

    /** Runs the kit against the installed backend {@code name} ({@link Backends#select}). */
    public static Report run(String name, Map<String, String> settings) {
        return run(Backends.select(name), settings);
    }

    private static String describe(Throwable t) {
        String m = t.getMessage() == null ? t.getClass().getName() : t.getMessage();
        return t instanceof AssertionError ? m : t.getClass().getSimpleName() + ": " + m;
    }

    private static String quote(String s) {
        return org.shiftformer.api.JsonText.quote(s);
    }
}
