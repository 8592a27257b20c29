package org.shiftformer.fpga.xrt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class XrtLibraryLookupTest {
    @TempDir
    Path tmp;

    @Test
    void candidatesFollowTheDocumentedOrder() {
        List<Path> c = XrtLibrary.candidates("/p/libxrt_coreutil.so.2", "/xrt", "/ld1:/ld2");
        assertEquals(Path.of("/p/libxrt_coreutil.so.2"), c.get(0));
        assertEquals(Path.of("/xrt/lib/libxrt_coreutil.so.2"), c.get(1));
        assertEquals(Path.of("/xrt/lib/libxrt_coreutil.so"), c.get(2));
        assertEquals(Path.of("/opt/xilinx/xrt/lib/libxrt_coreutil.so.2"), c.get(3));
        assertEquals(Path.of("/opt/xilinx/xrt/lib/libxrt_coreutil.so"), c.get(4));
        assertEquals(Path.of("/ld1/libxrt_coreutil.so.2"), c.get(5));
        assertEquals(Path.of("/ld2/libxrt_coreutil.so.2"), c.get(7));
        assertEquals(Path.of(XrtLibrary.SYSTEM_DIRS.get(0), "libxrt_coreutil.so.2"), c.get(9));
        assertEquals(9 + 2 * XrtLibrary.SYSTEM_DIRS.size(), c.size());
    }

    @Test
    void unsetPropertyAndVariableAreLeftOut() {
        List<Path> c = XrtLibrary.candidates(null, null, null);
        assertEquals(Path.of("/opt/xilinx/xrt/lib/libxrt_coreutil.so.2"), c.get(0));
        assertEquals(2 + 2 * XrtLibrary.SYSTEM_DIRS.size(), c.size());
    }

    @Test
    void propertyNamingADirectoryLooksForBothNamesInIt() {
        List<Path> c = XrtLibrary.candidates(tmp.toString(), null, null);
        assertEquals(tmp.resolve("libxrt_coreutil.so.2"), c.get(0));
        assertEquals(tmp.resolve("libxrt_coreutil.so"), c.get(1));
    }

    @Test
    void propertyPointingAtAMissingFileListsEveryPlaceTried() {
        assumeTrue(XrtLibrary.candidates(null, null, null).stream().noneMatch(Files::isRegularFile),
                "an XRT library is installed on this machine's default paths");
        Path missing = tmp.resolve("nowhere/libxrt_coreutil.so.2");
        Path xrt = tmp.resolve("xrt");
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> XrtLibrary.load(missing.toString(), xrt.toString(), null));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code());
        String m = e.getMessage();
        assertTrue(m.contains("not found"), m);
        for (Path p : XrtLibrary.candidates(missing.toString(), xrt.toString(), null)) {
            assertTrue(m.contains(p.toString()), "message lists " + p + ": " + m);
        }
        assertTrue(m.indexOf(missing.toString()) < m.indexOf(xrt.resolve("lib").toString()), m);
        assertTrue(m.indexOf(xrt.resolve("lib").toString()) < m.indexOf("/opt/xilinx/xrt/lib"), m);
        assertTrue(m.contains("-Dshiftformer.xrt.lib=" + missing), m);
        assertTrue(m.contains("XILINX_XRT=" + xrt), m);
    }
}
