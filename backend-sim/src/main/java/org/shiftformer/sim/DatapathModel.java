package org.shiftformer.sim;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.BackendSettings;
import org.shiftformer.api.backend.StepCost;

/**
 * An analytical model of an FPGA datapath running SPEC.md, reporting the device cycles and time of
 * every encoder run and decoder step. It is a model, not a measurement: its purpose is to show where
 * a step's time would go on a device of the given size and to attach a per-token cost to results.
 *
 * <h2>Datapath</h2>
 * <ul>
 * <li><b>PE array</b>: {@code R x C} int8 MACs ({@code pe.rows x pe.cols}), weight-stationary: a tile holds
 *     {@code R} inputs x {@code C} outputs of a weight matrix and the {@code M} input rows stream through it,
 *     one row per cycle. The next tile's weights load while the current one streams (double buffering),
 *     so a tile takes at least {@code R} cycles. A matmul {@code M x K x N} costs
 *     <pre>  matmul(M, K, N) = ceil(K / R) * ceil(N / C) * max(M, R) + R + C</pre>
 *     ({@code R + C}: filling and draining the array once). Requantization and the residual add are fused
 *     into the array's output stage and cost no extra cycles. Q·K^T and attention·V run on the same array
 *     per sequence and head: {@code matmul(Tq, d_k, keys)} and {@code matmul(Tq, keys, d_k)}.</li>
 * <li><b>Vector unit</b>: {@code C} lanes next to the array for LayerNorm, softmax and the embedding:
 *     <pre>  layerNorm(rows, d) = rows * 3 * ceil(d / C) + 64     (sum, centred squares, normalise; 64: isqrt + reciprocal latency)
 *  softmax(rows, L)   = rows * 3 * ceil(L / C) + 48     (max, exp-LUT + sum, normalise; 48: reciprocal latency)
 *  embed(rows, d)     = rows * ceil(d / C)</pre></li>
 * <li><b>On-chip buffer</b> ({@code onchip.kib}): when every packed weight of the model fits, weights are
 *     resident (loaded once with the model, not charged per step); otherwise each step streams every
 *     weight matrix it uses from off-chip memory.</li>
 * <li><b>Off-chip memory</b> ({@code offchip.gbps}, DDR or HBM; 1 GB/s = 1 byte/ns): holds the KV caches.
 *     A decoder step reads the cached self-attention K and V of every sequence and layer
 *     ({@code 2 * keys * d} bytes), writes the new row ({@code 2 * d}) and reads the cross-attention K and V
 *     ({@code 2 * sourceLength * d}); an encoder run writes the cross K and V of every source.
 *     Off-chip traffic overlaps compute (double buffering), so
 *     <pre>  deviceNanos = max(cycles * 1000 / clock.mhz, offchipBytes / offchip.gbps) + pcieNanos</pre></li>
 * <li><b>PCIe</b> ({@code pcie.gbps}, {@code pcie.latency.ns} per transfer), not overlapped: an encoder run
 *     sends the token ids (4 bytes each) in one transfer; a decoder step sends the step's tokens and state
 *     slots (8 bytes per sequence) and returns the int32 logits ({@code 4 * vocab} bytes per sequence):
 *     <pre>  pcieNanos = transfers * pcie.latency.ns + bytes / pcie.gbps</pre></li>
 * </ul>
 * {@link StepCost#deviceCycles()} reports the datapath cycles; {@link StepCost#deviceNanos()} the time
 * above. Floating point here is only used for this report, never for inference.
 */
public final class DatapathModel {
    /** Setting names, accepted ranges and defaults. */
    public static final String PE_ROWS = "pe.rows";
    public static final String PE_COLS = "pe.cols";
    public static final String CLOCK_MHZ = "clock.mhz";
    public static final String ONCHIP_KIB = "onchip.kib";
    public static final String OFFCHIP_GBPS = "offchip.gbps";
    public static final String PCIE_GBPS = "pcie.gbps";
    public static final String PCIE_LATENCY_NS = "pcie.latency.ns";

    public static final int DEFAULT_PE_ROWS = 32;
    public static final int DEFAULT_PE_COLS = 32;
    public static final int DEFAULT_CLOCK_MHZ = 300;
    /** 4 MiB: the block RAM and UltraRAM of a mid-size card. */
    public static final long DEFAULT_ONCHIP_KIB = 4096;
    /** One DDR4-2400 channel. */
    public static final double DEFAULT_OFFCHIP_GBPS = 19.2;
    /** PCIe Gen3 x16, effective. */
    public static final double DEFAULT_PCIE_GBPS = 12.0;
    public static final long DEFAULT_PCIE_LATENCY_NS = 2000;

    static final int LAYER_NORM_LATENCY = 64;
    static final int SOFTMAX_LATENCY = 48;

    private static final Set<String> KEYS = Set.of(PE_ROWS, PE_COLS, CLOCK_MHZ, ONCHIP_KIB, OFFCHIP_GBPS, PCIE_GBPS,
            PCIE_LATENCY_NS);

    private final int rows;
    private final int cols;
    private final int clockMhz;
    private final long onchipKib;
    private final double offchipGbps;
    private final double pcieGbps;
    private final long pcieLatencyNs;

    public DatapathModel(int rows, int cols, int clockMhz, long onchipKib, double offchipGbps, double pcieGbps,
                         long pcieLatencyNs) {
        this.rows = checkInt(PE_ROWS, rows, 1, 4096);
        this.cols = checkInt(PE_COLS, cols, 1, 4096);
        this.clockMhz = checkInt(CLOCK_MHZ, clockMhz, 1, 5000);
        this.onchipKib = checkLong(ONCHIP_KIB, onchipKib, 0, 1L << 30);
        this.offchipGbps = checkDouble(OFFCHIP_GBPS, offchipGbps);
        this.pcieGbps = checkDouble(PCIE_GBPS, pcieGbps);
        this.pcieLatencyNs = checkLong(PCIE_LATENCY_NS, pcieLatencyNs, 0, 1_000_000_000L);
    }

    /** The default datapath: 32x32 PEs at 300 MHz, 4 MiB on chip, DDR4 19.2 GB/s, PCIe 12 GB/s + 2 us. */
    public static DatapathModel defaults() {
        return new DatapathModel(DEFAULT_PE_ROWS, DEFAULT_PE_COLS, DEFAULT_CLOCK_MHZ, DEFAULT_ONCHIP_KIB,
                DEFAULT_OFFCHIP_GBPS, DEFAULT_PCIE_GBPS, DEFAULT_PCIE_LATENCY_NS);
    }

    /**
     * Parses the settings of {@code BackendProvider.open}; missing keys take their defaults.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming an unknown key, or a bad value
     *         with the key's accepted range
     */
    public static DatapathModel fromSettings(Map<String, String> settings) {
        return fromSettings(settings, Set.of());
    }

    /** {@link #fromSettings(Map)} where {@code otherKeys} (handled by the caller, absent here) are also listed as accepted. */
    static DatapathModel fromSettings(Map<String, String> settings, Set<String> otherKeys) {
        for (String key : settings.keySet()) {
            if (!KEYS.contains(key)) {
                java.util.TreeSet<String> accepted = new java.util.TreeSet<>(KEYS);
                accepted.addAll(otherKeys);
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "unknown setting '" + key
                        + "' for backend 'sim'; accepted: " + String.join(", ", accepted));
            }
        }
        return new DatapathModel(
                (int) parseLong(settings, PE_ROWS, DEFAULT_PE_ROWS, 1, 4096),
                (int) parseLong(settings, PE_COLS, DEFAULT_PE_COLS, 1, 4096),
                (int) parseLong(settings, CLOCK_MHZ, DEFAULT_CLOCK_MHZ, 1, 5000),
                parseLong(settings, ONCHIP_KIB, DEFAULT_ONCHIP_KIB, 0, 1L << 30),
                parseDouble(settings, OFFCHIP_GBPS, DEFAULT_OFFCHIP_GBPS),
                parseDouble(settings, PCIE_GBPS, DEFAULT_PCIE_GBPS),
                parseLong(settings, PCIE_LATENCY_NS, DEFAULT_PCIE_LATENCY_NS, 0, 1_000_000_000L));
    }

    /** The settings this model was made from, with every default filled in. */
    public Map<String, String> settings() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(PE_ROWS, Integer.toString(rows));
        m.put(PE_COLS, Integer.toString(cols));
        m.put(CLOCK_MHZ, Integer.toString(clockMhz));
        m.put(ONCHIP_KIB, Long.toString(onchipKib));
        m.put(OFFCHIP_GBPS, Double.toString(offchipGbps));
        m.put(PCIE_GBPS, Double.toString(pcieGbps));
        m.put(PCIE_LATENCY_NS, Long.toString(pcieLatencyNs));
        return m;
    }

    public int peRows() {
        return rows;
    }

    public int peCols() {
        return cols;
    }

    public int clockMhz() {
        return clockMhz;
    }

    /** {@code <rows>x<cols>@<mhz>MHz}. */
    public String describe() {
        return rows + "x" + cols + "@" + clockMhz + "MHz";
    }

    // ---- unit costs -----------------------------------------------------------------------------

    /** Cycles of an {@code m x k x n} matmul on the PE array ({@code m >= 1}). */
    public long matmulCycles(long m, long k, long n) {
        if (m <= 0 || k <= 0 || n <= 0) {
            return 0;
        }
        return ceilDiv(k, rows) * ceilDiv(n, cols) * Math.max(m, rows) + rows + cols;
    }

    /** Cycles of LayerNorm over {@code r} rows of width {@code d}. */
    public long layerNormCycles(long r, long d) {
        return r <= 0 ? 0 : r * 3 * ceilDiv(d, cols) + LAYER_NORM_LATENCY;
    }

    /** Cycles of softmax over {@code r} rows of length {@code len}. */
    public long softmaxCycles(long r, long len) {
        return r <= 0 ? 0 : r * 3 * ceilDiv(len, cols) + SOFTMAX_LATENCY;
    }

    /** Cycles of the embedding of {@code r} rows of width {@code d}. */
    public long embedCycles(long r, long d) {
        return r * ceilDiv(d, cols);
    }

    /** Cycles of one sequence's attention core (all heads): scores, softmax, attention·V, for {@code tq} queries over {@code keys} keys. */
    public long attentionCoreCycles(ModelConfig cfg, long tq, long keys) {
        long dk = cfg.dHead();
        return cfg.heads() * (matmulCycles(tq, dk, keys) + softmaxCycles(tq, keys) + matmulCycles(tq, keys, dk));
    }

    /** Whether a model with {@code packedWeightBytes} of weights stays resident on chip. */
    public boolean weightsResident(long packedWeightBytes) {
        return packedWeightBytes <= onchipKib * 1024;
    }

    /**
     * The cost of a step of {@code cycles} datapath cycles, {@code offchipBytes} of off-chip traffic and
     * {@code pcieTransfers} PCIe transfers moving {@code pcieBytes}.
     */
    public StepCost cost(long cycles, long offchipBytes, int pcieTransfers, long pcieBytes) {
        double computeNs = cycles * 1000.0 / clockMhz;
        double memoryNs = offchipBytes / offchipGbps;
        double pcieNs = pcieTransfers * (double) pcieLatencyNs + pcieBytes / pcieGbps;
        return new StepCost(cycles, (long) Math.ceil(Math.max(computeNs, memoryNs) + pcieNs));
    }

    // ---- parsing ------------------------------------------------------------------------------------

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    private static long parseLong(Map<String, String> s, String key, long dflt, long min, long max) {
        return BackendSettings.integer(s, key, dflt, min, max);
    }

    private static double parseDouble(Map<String, String> s, String key, double dflt) {
        String v = s.get(key);
        if (v == null) {
            return dflt;
        }
        double x;
        try {
            x = Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "setting " + key + "='" + v + "' is not a number in (0, 100000]", e);
        }
        return checkDouble(key, x);
    }

    private static int checkInt(String key, int v, int min, int max) {
        return (int) checkLong(key, v, min, max);
    }

    private static long checkLong(String key, long v, long min, long max) {
        return BackendSettings.inRange(key, v, min, max);
    }

    private static double checkDouble(String key, double v) {
        if (!(v > 0 && v <= 100000)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "setting " + key + "=" + v + " is outside (0, 100000]");
        }
        return v;
    }
}
