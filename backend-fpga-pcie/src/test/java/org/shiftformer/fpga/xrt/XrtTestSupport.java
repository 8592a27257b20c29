package org.shiftformer.fpga.xrt;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the Maven build put the host-emulation library and the test xclbin (surefire passes the paths as
 * system properties); tests that need them skip, saying why, when the native build could not run.
 */
final class XrtTestSupport {
    static final String TEST_XCLBIN_PROPERTY = "shiftformer.xrt.test.xclbin";

    private XrtTestSupport() {
    }

    /** The emulation library; skips the test when it was not built. */
    static Path emulationLibrary() {
        String lib = System.getProperty(XrtLibrary.PATH_PROPERTY);
        assumeTrue(lib != null, "-D" + XrtLibrary.PATH_PROPERTY + " is not set (run the tests through Maven)");
        Path path = Path.of(lib);
        if (!Files.isRegularFile(path)) {
            String reason = "the host-emulation XRT library " + path + " was not built: " + skipReason(path.getParent());
            announceOnce(reason);
            assumeTrue(false, reason);
        }
        return path;
    }

    /** The loaded emulation; skips when it was not built, fails when another (real) XRT got loaded. */
    static XrtEmulation emulation() {
        emulationLibrary();
        XrtLibrary lib = XrtLibrary.load();
        return XrtEmulation.of(lib).orElseThrow(() -> new AssertionError(lib + " is not the host emulation"));
    }

    /** The test kernels' emulated xclbin (vadd, fill64, noop, fail_with, overrun, words); skips when it was not built. */
    static Path testXclbin() {
        String p = System.getProperty(TEST_XCLBIN_PROPERTY);
        assumeTrue(p != null, "-D" + TEST_XCLBIN_PROPERTY + " is not set (run the tests through Maven)");
        Path path = Path.of(p);
        assumeTrue(Files.isRegularFile(path), () -> "the test xclbin " + path + " was not built: "
                + skipReason(path.getParent()));
        return path;
    }

    /** Surefire's console shows only a skip count: say once, where the build log is read, why. */
    private static void announceOnce(String reason) {
        synchronized (XrtTestSupport.class) {
            if (!announced) {
                announced = true;
                System.err.println("[xrt tests] SKIPPED: " + reason);
            }
        }
    }

    private static boolean announced;

    private static String skipReason(Path nativeDir) {
        Path skipped = nativeDir == null ? null : nativeDir.resolve("SKIPPED");
        try {
            return skipped != null && Files.isRegularFile(skipped)
                    ? Files.readString(skipped).strip()
                    : "the native build did not run (-Dshiftformer.native.skip=true?)";
        } catch (IOException e) {
            return "cannot read " + skipped + ": " + e;
        }
    }
}
