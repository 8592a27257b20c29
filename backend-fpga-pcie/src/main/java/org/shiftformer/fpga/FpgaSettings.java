package org.shiftformer.fpga;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.BackendSettings;

/**
 * The settings of the {@code fpga} backend ({@code --backend-option key=value}); unknown keys are an
 * error.
 *
 * <ul>
 *   <li>{@code device}: device index (default 0), or {@code bdf}: PCIe address such as
 *       {@code 0000:65:00.1} (not both);</li>
 *   <li>{@code xclbin}: the bitstream file (default: system property {@value #XCLBIN_PROPERTY}, then
 *       {@value #EMU_XCLBIN_PROPERTY}, then environment variable {@value #XCLBIN_ENV});</li>
 *   <li>{@code kernel}: the kernel name in the xclbin (default {@value #DEFAULT_KERNEL});</li>
 *   <li>{@code timeout-ms}: longest wait for every kernel run; by default each run's timeout is derived from
 *       its modelled time ({@link KernelTimeModel#timeoutMs}: 4x the estimate, at least 10 s);</li>
 *   <li>{@code kv-slots}: decoder states a loaded model can hold at once (KV-cache slots, default
 *       {@value #DEFAULT_KV_SLOTS}); it also bounds the batch of a decoder step;</li>
 *   <li>{@code source-slots}: encoded sources a loaded model can hold at once (default
 *       {@value #DEFAULT_SOURCE_SLOTS}).</li>
 * </ul>
 *
 * @param deviceIndex device index, or -1 when {@code bdf} is given
 * @param bdf         PCIe address, or null
 * @param xclbin      the xclbin file
 * @param kernel      kernel name
 * @param timeoutMs   run timeout in milliseconds, or {@value #DERIVED_TIMEOUT} to derive it per run
 * @param kvSlots     KV-cache slots per model
 * @param sourceSlots source slots per model
 */
record FpgaSettings(int deviceIndex, String bdf, Path xclbin, String kernel, long timeoutMs, int kvSlots,
                    int sourceSlots) {
    static final String DEVICE = "device";
    static final String BDF = "bdf";
    static final String XCLBIN = "xclbin";
    static final String KERNEL = "kernel";
    static final String TIMEOUT_MS = "timeout-ms";
    static final String KV_SLOTS = "kv-slots";
    static final String SOURCE_SLOTS = "source-slots";
    static final Set<String> KEYS = Set.of(DEVICE, BDF, XCLBIN, KERNEL, TIMEOUT_MS, KV_SLOTS, SOURCE_SLOTS);

    static final String XCLBIN_PROPERTY = "shiftformer.fpga.xclbin";
    static final String EMU_XCLBIN_PROPERTY = "shiftformer.fpga.emu.xclbin";
    static final String XCLBIN_ENV = "SHIFTFORMER_FPGA_XCLBIN";
    static final String DEFAULT_KERNEL = "shiftformer_step";
    /** {@code timeoutMs} when {@code timeout-ms} is not set: each run's timeout comes from {@link KernelTimeModel}. */
    static final long DERIVED_TIMEOUT = 0;
    static final int DEFAULT_KV_SLOTS = 64;
    static final int DEFAULT_SOURCE_SLOTS = 64;
    static final int MAX_SLOTS = 65_536;

    /**
     * Parses and checks {@code settings}.
     *
     * @throws ShiftformerException {@code INVALID_ARGUMENT} naming an unknown key or a bad value,
     *         {@code BACKEND_UNAVAILABLE} when no xclbin is given anywhere or the file does not exist
     */
    static FpgaSettings parse(Map<String, String> settings) {
        Set<String> unknown = new TreeSet<>(settings.keySet());
        unknown.removeAll(KEYS);
        if (!unknown.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "unknown setting(s) " + unknown
                    + " for backend 'fpga'; known: " + new TreeSet<>(KEYS));
        }
        if (settings.containsKey(DEVICE) && settings.containsKey(BDF)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "settings device and bdf both given for backend 'fpga': choose the card by one of them");
        }
        String bdf = settings.get(BDF);
        if (bdf != null && !bdf.matches("([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]")) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "setting bdf='" + bdf + "' is not a PCIe address like 0000:65:00.1");
        }
        int device = bdf != null ? -1 : (int) integer(settings, DEVICE, 0, 0, 1023);
        Path xclbin = xclbin(settings.get(XCLBIN));
        String kernel = settings.getOrDefault(KERNEL, DEFAULT_KERNEL).trim();
        if (!kernel.matches("[A-Za-z_][A-Za-z0-9_:]*")) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "setting kernel='" + kernel + "' is not a kernel name");
        }
        long timeout = integer(settings, TIMEOUT_MS, DERIVED_TIMEOUT, 1, 3_600_000);
        int kv = (int) integer(settings, KV_SLOTS, DEFAULT_KV_SLOTS, 1, MAX_SLOTS);
        int src = (int) integer(settings, SOURCE_SLOTS, DEFAULT_SOURCE_SLOTS, 1, MAX_SLOTS);
        return new FpgaSettings(device, bdf, xclbin, kernel, timeout, kv, src);
    }

    /** The default xclbin (properties, then environment), or null. */
    static String defaultXclbin() {
        String v = System.getProperty(XCLBIN_PROPERTY);
        if (v == null || v.isBlank()) {
            v = System.getProperty(EMU_XCLBIN_PROPERTY);
        }
        if (v == null || v.isBlank()) {
            v = System.getenv(XCLBIN_ENV);
        }
        return v == null || v.isBlank() ? null : v;
    }

    private static Path xclbin(String setting) {
        String v = setting != null ? setting : defaultXclbin();
        if (v == null) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, "backend 'fpga' needs an xclbin: set "
                    + XCLBIN + "=PATH (--backend-option " + XCLBIN + "=PATH), the system property " + XCLBIN_PROPERTY
                    + " or the environment variable " + XCLBIN_ENV);
        }
        Path p = Path.of(v);
        if (!Files.isRegularFile(p)) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, "xclbin " + p.toAbsolutePath()
                    + " (setting " + XCLBIN + ") does not exist or is not a file");
        }
        return p;
    }

    private static long integer(Map<String, String> settings, String key, long dflt, long min, long max) {
        return BackendSettings.integer(settings, key, dflt, min, max);
    }

    /** The device as users name it. */
    String deviceName() {
        return bdf != null ? "bdf " + bdf : "device " + deviceIndex;
    }
}
