package org.shiftformer.api.backend;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/**
 * Builds backend plugin jars while a test runs, with the JDK's compiler against the test's class path
 * (runtime-api): each a provider class and its {@code META-INF/services} entry, as a third party's build
 * would make them.
 */
public final class PluginJars {
    private PluginJars() {
    }

    /** A provider class body that delegates to the reference backend; {@code extra} goes into the class. */
    public static String provider(String pkg, String cls, String name, String spiVersion, String constructorBody) {
        return "package " + pkg + ";\n"
                + "import java.util.Map;\n"
                + "import org.shiftformer.api.backend.*;\n"
                + "import org.shiftformer.api.spec.ReferenceBackendProvider;\n"
                + "public final class " + cls + " implements BackendProvider {\n"
                + "  private final ReferenceBackendProvider reference = new ReferenceBackendProvider();\n"
                + "  public " + cls + "() { " + constructorBody + " }\n"
                + "  @Override public int spiVersion() { return " + spiVersion + "; }\n"
                + "  @Override public String name() { return \"" + name + "\"; }\n"
                + "  @Override public int rank() { return -100; }\n"
                + "  @Override public Availability availability() { return reference.availability(); }\n"
                + "  @Override public Capabilities capabilities() { return reference.capabilities(); }\n"
                + "  @Override public Backend open(Map<String, String> settings) { return reference.open(settings); }\n"
                + "}\n";
    }

    /**
     * Compiles {@code sources} (fully qualified class name to source) into {@code jar}, with a services file
     * naming {@code services} (none when empty).
     */
    public static Path build(Path work, Path jar, Map<String, String> sources, List<String> services) {
        try {
            Path src = Files.createTempDirectory(work, "src");
            Path classes = Files.createTempDirectory(work, "classes");
            List<String> args = new java.util.ArrayList<>(List.of("-d", classes.toString(), "-classpath",
                    System.getProperty("java.class.path"), "-proc:none", "-Xlint:none", "-nowarn"));
            for (Map.Entry<String, String> e : sources.entrySet()) {
                Path f = src.resolve(e.getKey().replace('.', '/') + ".java");
                Files.createDirectories(f.getParent());
                Files.writeString(f, e.getValue());
                args.add(f.toString());
            }
            JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
            int rc = javac.run(null, null, null, args.toArray(String[]::new));
            if (rc != 0) {
                throw new IllegalStateException("javac failed for " + sources.keySet());
            }
            try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out)) {
                try (var files = Files.walk(classes)) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        j.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                        j.write(Files.readAllBytes(f));
                        j.closeEntry();
                    }
                }
                if (!services.isEmpty()) {
                    j.putNextEntry(new JarEntry("META-INF/services/" + BackendProvider.class.getName()));
                    j.write((String.join("\n", services) + "\n").getBytes(StandardCharsets.UTF_8));
                    j.closeEntry();
                }
            }
            return jar;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
