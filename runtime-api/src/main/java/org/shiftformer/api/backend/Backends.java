package org.shiftformer.api.backend;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Discovery and selection of backends. An explicit name selects that provider (an unknown name fails
 * with the installed names; an unavailable one fails with its reason). Without a name, the available
 * provider with the highest {@link BackendProvider#rank()} is chosen, ties by name.
 */
public final class Backends {
    /** The SPI versions ({@link BackendProvider#spiVersion()}) this runtime installs providers of. */
    public static final java.util.Set<Integer> SUPPORTED_SPI_VERSIONS = java.util.Set.of(BackendProvider.SPI_VERSION);
    /** System property naming a plugin directory, loaded at first use ({@link Plugins}). */
    public static final String PLUGINS_PROP = "shiftformer.plugins";

    private static final List<BackendProvider> PLUGINS = new java.util.concurrent.CopyOnWriteArrayList<>();
    private static final List<String> PROBLEMS = new java.util.concurrent.CopyOnWriteArrayList<>();
    private static final java.util.Set<Path> LOADED_DIRS = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private Backends() {
    }

    /**
     * Every installed provider, highest rank first: those on the class path ({@code META-INF/services})
     * and those of plugin directories ({@link #addPlugins}, {@value #PLUGINS_PROP}). A provider of an SPI
     * version this runtime does not speak is left out and reported in {@link #problems()}.
     */
    public static List<BackendProvider> installed() {
        String dir = System.getProperty(PLUGINS_PROP);
        if (dir != null && !dir.isBlank()) {
            addPlugins(Path.of(dir));
        }
        List<BackendProvider> all = new ArrayList<>();
        Plugins.each(ServiceLoader.load(BackendProvider.class), e -> problem("class path: " + Plugins.describe(e)), p -> {
            String problem = Plugins.check(p);
            if (problem != null) {
                problem("class path: provider " + p.getClass().getName() + ": " + problem);
            } else {
                all.add(p);
            }
        });
        for (BackendProvider p : PLUGINS) {
            if (all.stream().noneMatch(q -> q.name().equals(p.name()))) {
                all.add(p);
            }
        }
        all.sort(Comparator.comparingInt(BackendProvider::rank).reversed().thenComparing(BackendProvider::name));
        return all;
    }

    /**
     * Loads the backend plugins of {@code dir} once ({@link Plugins}): their providers are installed from
     * now on. Jars that cannot be used are reported (in the result and in {@link #problems()}) and skipped.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if {@code dir} is not a directory
     */
    public static synchronized Plugins.Report addPlugins(Path dir) {
        Path key = dir.toAbsolutePath().normalize();
        if (!LOADED_DIRS.add(key)) {
            return new Plugins.Report(List.of(), List.of(), List.of());
        }
        List<String> names = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            names.add(p.name());
        }
        PLUGINS.forEach(p -> names.add(p.name()));
        Plugins.Report r;
        try {
            r = Plugins.load(key, names);
        } catch (ShiftformerException e) {
            LOADED_DIRS.remove(key);
            throw e;
        }
        PLUGINS.addAll(r.providers());
        r.problems().forEach(Backends::problem);
        return r;
    }

    /** Providers and plugin jars that could not be installed, with the reason (deduplicated). */
    public static List<String> problems() {
        return List.copyOf(PROBLEMS);
    }

    private static void problem(String p) {
        if (!PROBLEMS.contains(p)) {
            PROBLEMS.add(p);
        }
    }

    /**
     * The provider named {@code name}, or the best available one when {@code name} is null or empty.
     *
     * @throws ShiftformerException {@code UNKNOWN_BACKEND} or {@code BACKEND_UNAVAILABLE}, naming the cause
     */
    public static BackendProvider select(String name) {
        List<BackendProvider> all = installed();
        if (name == null || name.isEmpty()) {
            StringBuilder reasons = new StringBuilder();
            for (BackendProvider p : all) {
                Availability a = p.availability();
                if (a.available()) {
                    return p;
                }
                reasons.append("; ").append(p.name()).append(": ").append(a.reason());
            }
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, "no available backend" + reasons);
        }
        for (BackendProvider p : all) {
            if (p.name().equals(name)) {
                Availability a = p.availability();
                if (!a.available()) {
                    throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE,
                            "backend '" + name + "' is unavailable: " + a.reason());
                }
                return p;
            }
        }
        throw new ShiftformerException(ErrorCode.UNKNOWN_BACKEND, "unknown backend '" + name + "'; installed: "
                + all.stream().map(BackendProvider::name).collect(Collectors.joining(", ")));
    }
}
