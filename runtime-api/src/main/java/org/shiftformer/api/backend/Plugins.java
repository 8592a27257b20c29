package org.shiftformer.api.backend;

import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.jar.JarFile;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Backend plugins: every {@code *.jar} of a directory, each in a class loader of its own whose parent
 * sees the JDK and {@code org.shiftformer.api} only (not the runtime, not another plugin, not the
 * application's other libraries), and whose {@link BackendProvider}s ({@code META-INF/services}) join
 * the installed ones ({@link Backends#installed()}). A jar that cannot be used (not a jar, a provider
 * class missing or failing to construct, a provider of an SPI version this runtime does not speak, a
 * name already installed) is reported with the jar and the reason and does not stop the others.
 *
 * <p>A plugin jar carries its own dependencies (shaded, or nested under the same jar) except
 * {@code runtime-api}, which the runtime provides.
 */
public final class Plugins {
    /** Package whose classes plugins see from the runtime: the SPI and its value types. */
    static final String API_PACKAGE = "org.shiftformer.api.";

    private Plugins() {
    }

    /**
     * What loading a directory gave.
     *
     * @param loaded   each provider loaded, as {@code name (jar)}
     * @param problems each jar or provider that could not be used, with the reason
     */
    public record Report(List<BackendProvider> providers, List<String> loaded, List<String> problems) {
        public Report {
            providers = List.copyOf(providers);
            loaded = List.copyOf(loaded);
            problems = List.copyOf(problems);
        }
    }

    /**
     * Loads every {@code *.jar} of {@code dir} (sorted by name, not recursively).
     *
     * @param installedNames names already taken (a plugin may not replace an installed backend)
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if {@code dir} is not a readable directory
     */
    public static Report load(Path dir, List<String> installedNames) {
        if (!Files.isDirectory(dir)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "plugin directory " + dir + " is not a directory");
        }
        List<Path> jars = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.jar")) {
            ds.forEach(jars::add);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "cannot list plugin directory " + dir + ": " + e, e);
        }
        jars.sort(null);
        List<BackendProvider> providers = new ArrayList<>();
        List<String> loaded = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        List<String> names = new ArrayList<>(installedNames);
        for (Path jar : jars) {
            loadJar(jar, names, providers, loaded, problems);
        }
        return new Report(providers, loaded, problems);
    }

    private static void loadJar(Path jar, List<String> names, List<BackendProvider> providers, List<String> loaded,
                                List<String> problems) {
        String where = "plugin " + jar.getFileName();
        try (JarFile check = new JarFile(jar.toFile())) {
            if (check.getEntry("META-INF/services/" + BackendProvider.class.getName()) == null) {
                problems.add(where + ": declares no backend (no META-INF/services/" + BackendProvider.class.getName() + ")");
                return;
            }
        } catch (IOException e) {
            problems.add(where + ": not a readable jar (" + e.getMessage() + ")");
            return;
        }
        URLClassLoader loader;
        try {
            loader = new URLClassLoader("shiftformer-plugin-" + jar.getFileName(), new URL[] {jar.toUri().toURL()},
                    new ApiOnly(Plugins.class.getClassLoader()));
        } catch (MalformedURLException e) {
            problems.add(where + ": " + e.getMessage());
            return;
        }
        int before = providers.size();
        each(ServiceLoader.load(BackendProvider.class, loader), e -> problems.add(where + ": " + describe(e)), p -> {
            String problem = check(p);
            if (problem == null && names.contains(p.name())) {
                problem = "backend name '" + p.name() + "' is already installed";
            }
            if (problem != null) {
                problems.add(where + ": provider " + p.getClass().getName() + ": " + problem);
                return;
            }
            names.add(p.name());
            providers.add(p);
            loaded.add(p.name() + " (" + jar.getFileName() + ")");
        });
        if (providers.size() == before) {
            try {
                loader.close();
            } catch (IOException e) {
                // nothing of it is in use
            }
        }
    }

    /**
     * Every provider {@code services} finds, one at a time: one that cannot be loaded or constructed goes to
     * {@code failed} and the iteration goes on with the next.
     */
    static void each(ServiceLoader<BackendProvider> services, java.util.function.Consumer<Throwable> failed,
                     java.util.function.Consumer<BackendProvider> found) {
        Iterator<BackendProvider> it = services.iterator();
        while (true) {
            BackendProvider p;
            try {
                if (!it.hasNext()) {
                    return;
                }
                p = it.next();
            } catch (ServiceConfigurationError | LinkageError e) {
                failed.accept(e);
                continue;
            }
            found.accept(p);
        }
    }

    /** Null when this runtime can use {@code p}: its SPI version is one it speaks and it answers its name. */
    static String check(BackendProvider p) {
        int version;
        try {
            version = p.spiVersion();
        } catch (AbstractMethodError e) {
            return "declares no SPI version (built against a runtime-api older than SPI version 1)";
        } catch (RuntimeException | LinkageError e) {
            return "spiVersion() failed: " + describe(e);
        }
        if (!Backends.SUPPORTED_SPI_VERSIONS.contains(version)) {
            return "built for SPI version " + version + ", this runtime speaks " + Backends.SUPPORTED_SPI_VERSIONS;
        }
        try {
            String name = p.name();
            if (name == null || !name.matches("[a-z0-9][a-z0-9._-]{0,63}")) {
                return "its name '" + name + "' is not 1 to 64 of a-z 0-9 . _ - (starting with a letter or digit)";
            }
        } catch (RuntimeException | LinkageError e) {
            return "name() failed: " + describe(e);
        }
        return null;
    }

    static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(e.getClass().getSimpleName() + ": " + e.getMessage());
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            sb.append(" <- ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        return sb.toString();
    }

    /**
     * The parent of each plugin's class loader: the JDK (platform class loader), and of the runtime's
     * classes only {@code org.shiftformer.api.*}, so a plugin links against the SPI and nothing else of
     * the runtime (its own copies of other libraries win, and cannot clash with the runtime's).
     */
    static final class ApiOnly extends ClassLoader {
        private final ClassLoader runtime;

        ApiOnly(ClassLoader runtime) {
            super("shiftformer-api-only", ClassLoader.getPlatformClassLoader());
            this.runtime = runtime;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (name.startsWith(API_PACKAGE)) {
                return runtime.loadClass(name);
            }
            return super.loadClass(name, resolve); // the platform loader: the JDK, nothing of the application
        }
    }
}
