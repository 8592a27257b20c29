package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** The fpga backend's settings: defaults, every key, and clear errors for bad values (no device needed). */
class FpgaSettingsTest {
    @Test
    void everyKeyIsParsed(@TempDir Path dir) throws IOException {
        Path x = Files.writeString(dir.resolve("k.xclbin"), "x");
        FpgaSettings s = FpgaSettings.parse(Map.of("bdf", "0000:65:00.1", "xclbin", x.toString(), "kernel", "k1",
                "timeout-ms", "250", "kv-slots", "3", "source-slots", "5"));
        assertEquals(new FpgaSettings(-1, "0000:65:00.1", x, "k1", 250, 3, 5), s);
        FpgaSettings d = FpgaSettings.parse(Map.of("device", "2", "xclbin", x.toString()));
        assertEquals(2, d.deviceIndex());
        assertEquals(FpgaSettings.DEFAULT_KERNEL, d.kernel());
        assertEquals(FpgaSettings.DERIVED_TIMEOUT, d.timeoutMs(), "no timeout-ms: derived per run");
    }

    @Test
    void badSettingsAreInvalidArgumentsNamingTheKey(@TempDir Path dir) throws IOException {
        String x = Files.writeString(dir.resolve("k.xclbin"), "x").toString();
        assertInvalid(Map.of("xclbin", x, "clock", "300"), "unknown setting(s) [clock]");
        assertInvalid(Map.of("xclbin", x, "device", "1", "bdf", "65:00.1"), "device and bdf");
        assertInvalid(Map.of("xclbin", x, "bdf", "card0"), "bdf='card0'");
        assertInvalid(Map.of("xclbin", x, "timeout-ms", "0"), "timeout-ms=0");
        assertInvalid(Map.of("xclbin", x, "kv-slots", "many"), "kv-slots='many'");
        assertInvalid(Map.of("xclbin", x, "kernel", "a b"), "kernel='a b'");
    }

    @Test
    void aMissingXclbinIsUnavailableNamingTheSetting(@TempDir Path dir) {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> FpgaSettings.parse(Map.of("xclbin", dir.resolve("none.xclbin").toString())));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains("none.xclbin") && e.getMessage().contains("setting xclbin"), e::getMessage);
        String saved = System.getProperty(FpgaSettings.EMU_XCLBIN_PROPERTY);
        String saved2 = System.getProperty(FpgaSettings.XCLBIN_PROPERTY);
        System.clearProperty(FpgaSettings.EMU_XCLBIN_PROPERTY);
        System.clearProperty(FpgaSettings.XCLBIN_PROPERTY);
        try {
            if (System.getenv(FpgaSettings.XCLBIN_ENV) == null) {
                ShiftformerException none = assertThrows(ShiftformerException.class, () -> FpgaSettings.parse(Map.of()));
                assertEquals(ErrorCode.BACKEND_UNAVAILABLE, none.code());
                assertTrue(none.getMessage().contains("needs an xclbin") && none.getMessage().contains("xclbin=PATH"),
                        none::getMessage);
            }
        } finally {
            restore(FpgaSettings.EMU_XCLBIN_PROPERTY, saved);
            restore(FpgaSettings.XCLBIN_PROPERTY, saved2);
        }
    }

    private static void restore(String key, String value) {
        if (value != null) {
            System.setProperty(key, value);
        }
    }

    private static void assertInvalid(Map<String, String> settings, String expected) {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> FpgaSettings.parse(settings));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(expected), e::getMessage);
    }
}
