package org.shiftformer.fpga.xrt;

import java.io.File;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The XRT core library ({@code libxrt_coreutil.so.2}, or its host emulation) this process binds to.
 *
 * <p><b>Lookup order</b> (the first existing file wins):
 * <ol>
 *   <li>the system property {@value #PATH_PROPERTY}: the library file itself, or a directory holding it;</li>
 *   <li>{@code $XILINX_XRT/lib} (the variable XRT's {@code setup.sh} exports);</li>
 *   <li>{@value #DEFAULT_XRT_LIB}, XRT's default install location;</li>
 *   <li>the system path: each directory of {@code LD_LIBRARY_PATH}, then {@link #SYSTEM_DIRS}.</li>
 * </ol>
 * In each directory {@code libxrt_coreutil.so.2} is preferred to the unversioned development link
 * {@code libxrt_coreutil.so}. A library, once loaded, stays loaded for the life of the process (its
 * function handles are resolved once), so a later {@link #load()} that would pick another file fails
 * instead of silently using a different library.
 */
public final class XrtLibrary {
    /** System property naming the library file (or a directory with it); tried first. */
    public static final String PATH_PROPERTY = "shiftformer.xrt.lib";
    /** Environment variable set by XRT's {@code setup.sh}; {@code $XILINX_XRT/lib} is tried second. */
    public static final String XILINX_XRT_ENV = "XILINX_XRT";
    /** XRT's default library directory; tried third. */
    public static final String DEFAULT_XRT_LIB = "/opt/xilinx/xrt/lib";
    /** The library's file names, preferred first. */
    public static final List<String> FILE_NAMES = List.of("libxrt_coreutil.so.2", "libxrt_coreutil.so");
    /** Directories of the system path searched after {@code LD_LIBRARY_PATH}. */
    public static final List<String> SYSTEM_DIRS =
            List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib", "/lib/x86_64-linux-gnu");

    /** The XRT C API calls the binding resolves: a library without one of them is not usable. */
    static final List<String> REQUIRED_SYMBOLS = List.of(
            "xrtDeviceOpen", "xrtDeviceOpenByBDF", "xrtDeviceClose", "xrtDeviceLoadXclbinFile", "xrtDeviceGetXclbinUUID",
            "xrtPLKernelOpen", "xrtKernelClose", "xrtKernelArgGroupId",
            "xrtBOAlloc", "xrtBOFree", "xrtBOMap", "xrtBOWrite", "xrtBORead", "xrtBOSync",
            "xrtRunOpen", "xrtRunSetArg", "xrtRunStart", "xrtRunWaitFor", "xrtRunState", "xrtRunClose");

    /** The library loaded by this process; written once under the class lock. */
    private static XrtLibrary loaded;

    private final Path path;
    private final SymbolLookup lookup;

    private XrtLibrary(Path path, SymbolLookup lookup) {
        this.path = path;
        this.lookup = lookup;
    }

    /**
     * Loads the library found by the lookup order (or returns the one already loaded).
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_UNAVAILABLE} naming every place tried and how to
     *                              point at the library, or when a library that does not export the XRT
     *                              calls the binding needs is found
     */
    public static XrtLibrary load() {
        return load(System.getProperty(PATH_PROPERTY), System.getenv(XILINX_XRT_ENV), System.getenv("LD_LIBRARY_PATH"));
    }

    /** {@link #load()} with the property and environment values given (tests pass their own). */
    @SuppressWarnings("restricted") // loading the library is the point
    static synchronized XrtLibrary load(String property, String xilinxXrt, String ldLibraryPath) {
        List<Path> tried = candidates(property, xilinxXrt, ldLibraryPath);
        Path found = tried.stream().filter(Files::isRegularFile).findFirst().orElse(null);
        if (found == null) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, notFoundMessage(property, xilinxXrt, tried));
        }
        Path real = toRealPath(found);
        if (loaded != null) {
            if (loaded.path.equals(real)) {
                return loaded;
            }
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, "the XRT library " + loaded.path
                    + " is already loaded in this process; it cannot be switched to " + real
                    + " (found by the lookup order now); restart the process to use another library");
        }
        SymbolLookup lookup;
        try {
            // The global arena: the library stays mapped for the life of the process, as the handles need.
            lookup = SymbolLookup.libraryLookup(real, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE,
                    "cannot load the XRT library " + real + ": " + e.getMessage(), e);
        }
        List<String> missing = REQUIRED_SYMBOLS.stream().filter(s -> lookup.find(s).isEmpty()).toList();
        if (!missing.isEmpty()) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, real
                    + " is not a usable XRT core library: it does not export " + String.join(", ", missing));
        }
        loaded = new XrtLibrary(real, lookup);
        return loaded;
    }

    /** Where the lookup order finds the library now, without loading it (cheap: file checks only). */
    public static Optional<Path> locate() {
        return candidates(System.getProperty(PATH_PROPERTY), System.getenv(XILINX_XRT_ENV), System.getenv("LD_LIBRARY_PATH"))
                .stream().filter(Files::isRegularFile).findFirst();
    }

    /** The library file, symbolic links resolved. */
    public Path path() {
        return path;
    }

    /** True when the library is shiftformer's host emulation (it exports the {@code xrtEmu*} calls). */
    public boolean isEmulation() {
        return lookup.find(XrtEmulation.MARKER_SYMBOL).isPresent();
    }

    SymbolLookup lookup() {
        return lookup;
    }

    /** The library loaded by this process; only called after {@link #load()} succeeded. */
    static synchronized XrtLibrary loaded() {
        if (loaded == null) {
            throw new ShiftformerException(ErrorCode.INTERNAL, "the XRT binding was used before XrtLibrary.load()");
        }
        return loaded;
    }

    /** Every file the lookup order checks, in order. */
    static List<Path> candidates(String property, String xilinxXrt, String ldLibraryPath) {
        List<Path> out = new ArrayList<>();
        if (property != null && !property.isBlank()) {
            Path p = Path.of(property.strip());
            if (Files.isDirectory(p)) {
                addDir(out, p);
            } else {
                out.add(p);
            }
        }
        if (xilinxXrt != null && !xilinxXrt.isBlank()) {
            addDir(out, Path.of(xilinxXrt.strip(), "lib"));
        }
        addDir(out, Path.of(DEFAULT_XRT_LIB));
        if (ldLibraryPath != null) {
            for (String dir : ldLibraryPath.split(File.pathSeparator)) {
                if (!dir.isBlank()) {
                    addDir(out, Path.of(dir));
                }
            }
        }
        for (String dir : SYSTEM_DIRS) {
            addDir(out, Path.of(dir));
        }
        return out;
    }

    private static void addDir(List<Path> out, Path dir) {
        for (String name : FILE_NAMES) {
            out.add(dir.resolve(name));
        }
    }

    private static String notFoundMessage(String property, String xilinxXrt, List<Path> tried) {
        StringBuilder sb = new StringBuilder("the XRT core library (libxrt_coreutil.so.2) was not found; tried, in order:");
        for (Path p : tried) {
            sb.append("\n  ").append(p);
        }
        sb.append("\n(-D").append(PATH_PROPERTY).append(property == null ? " not set" : "=" + property)
                .append(", $").append(XILINX_XRT_ENV).append(xilinxXrt == null ? " not set" : "=" + xilinxXrt)
                .append(")\nInstall XRT and source /opt/xilinx/xrt/setup.sh, or point -D").append(PATH_PROPERTY)
                .append(" at the library file (for the host emulation: backend-fpga-pcie/target/native/libxrt_coreutil.so.2,"
                        + " built by the module's Maven build when a C++ compiler is installed)");
        return sb.toString();
    }

    private static Path toRealPath(Path p) {
        try {
            return p.toRealPath();
        } catch (java.io.IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }

    @Override
    public String toString() {
        return "XrtLibrary[" + path + (isEmulation() ? ", host emulation" : "") + "]";
    }
}
