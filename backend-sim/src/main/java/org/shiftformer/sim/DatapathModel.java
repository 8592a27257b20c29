package org.shiftformer.sim;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.BackendSettings;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.backend.StepCost;

/**
 * The device cycles and time of every encoder run and decoder step on shiftformer's FPGA kernel
 * (backend-fpga-pcie, {@code src/main/hls}), as the kernel itself would count them: the cycles are
 * {@link DatapathCycles}' walk of the kernel's loop nest (trip counts x initiation intervals + pipeline
 * depths, a burst's beats on a 512-bit port), which backend-fpga-pcie's {@code FpgaCycleAgreementTest}
 * proves equal to the count the emulated kernel returns for every op and whole steps. It is a model of a
 * card, not a measurement: no card ran here.
 *
 * <p>The card ({@code card}: {@code u250} or {@code u55c}, {@link DatapathCycles.Card}: clock, MAC array,
 * port width, bank bandwidths in one place) turns cycles and per-port traffic into time:
 * <pre>  deviceNanos = max(cycles * 1000 / clock MHz, max over ports of bytes / bank GB/s) + pcieNanos</pre>
 * The loop nest and the banks overlap (the slower binds); PCIe does not. An encoder run sends the token ids
 * (4 bytes each) in one transfer; a decoder step sends 8 bytes per sequence and returns the int32 logits
 * ({@code 4 * vocab} bytes per sequence), two transfers:
 * <pre>  pcieNanos = transfers * pcie.latency.ns + bytes / pcie.gbps</pre>
 * {@link StepCost#deviceCycles()} reports the cycles; {@link StepCost#deviceNanos()} the time above.
 * Floating point here is only used for this report, never for inference.
 */
public final class DatapathModel {
    /** Setting names, accepted values and defaults. */
    public static final String CARD = "card";
    public static final String PCIE_GBPS = "pcie.gbps";
    public static final String PCIE_LATENCY_NS = "pcie.latency.ns";

    public static final DatapathCycles.Card DEFAULT_CARD = DatapathCycles.Card.U250;
    /** PCIe Gen3 x16, effective. */
    public static final double DEFAULT_PCIE_GBPS = 12.0;
    public static final long DEFAULT_PCIE_LATENCY_NS = 2000;

    private static final Set<String> KEYS = Set.of(CARD, PCIE_GBPS, PCIE_LATENCY_NS);

    private final DatapathCycles.Card card;
    private final double pcieGbps;
    private final long pcieLatencyNs;

    public DatapathModel(DatapathCycles.Card card, double pcieGbps, long pcieLatencyNs) {
        this.card = card;
        this.pcieGbps = checkDouble(PCIE_GBPS, pcieGbps);
        this.pcieLatencyNs = BackendSettings.inRange(PCIE_LATENCY_NS, pcieLatencyNs, 0, 1_000_000_000L);
    }

    /** The default: the U250, PCIe 12 GB/s + 2 us per transfer. */
    public static DatapathModel defaults() {
        return new DatapathModel(DEFAULT_CARD, DEFAULT_PCIE_GBPS, DEFAULT_PCIE_LATENCY_NS);
    }

    /**
     * Parses the settings of {@code BackendProvider.open}; missing keys take their defaults.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming an unknown key, or a bad value
     *         with the key's accepted values
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
        return new DatapathModel(parseCard(settings.get(CARD)), parseDouble(settings, PCIE_GBPS, DEFAULT_PCIE_GBPS),
                BackendSettings.integer(settings, PCIE_LATENCY_NS, DEFAULT_PCIE_LATENCY_NS, 0, 1_000_000_000L));
    }

    private static DatapathCycles.Card parseCard(String v) {
        if (v == null) {
            return DEFAULT_CARD;
        }
        for (DatapathCycles.Card c : DatapathCycles.Card.values()) {
            if (c.name().equalsIgnoreCase(v.trim())) {
                return c;
            }
        }
        throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "setting " + CARD + "='" + v + "' is not one of [u250, u55c]");
    }

    /** The settings this model was made from, with every default filled in. */
    public Map<String, String> settings() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(CARD, card.name().toLowerCase(Locale.ROOT));
        m.put(PCIE_GBPS, Double.toString(pcieGbps));
        m.put(PCIE_LATENCY_NS, Long.toString(pcieLatencyNs));
        return m;
    }

    public DatapathCycles.Card card() {
        return card;
    }

    /** {@code <card> <R>x<C>@<mhz>MHz}. */
    public String describe() {
        return card.name().toLowerCase(Locale.ROOT) + " " + DatapathCycles.PE_R + "x" + DatapathCycles.PE_C + "@"
                + card.clockMhz + "MHz";
    }

    /** The cost of an encoder run over sources of these lengths (one kernel run). */
    public StepCost encodeCost(ModelConfig cfg, int[] lengths) {
        long tokens = 0;
        for (int n : lengths) {
            tokens += n;
        }
        return cost(DatapathCycles.encode(cfg, lengths, false), 1, 4 * tokens);
    }

    /** The cost of a decoder step of sequences at these positions with sources of these lengths (one kernel run). */
    public StepCost decodeStepCost(ModelConfig cfg, int[] positions, int[] sourceLengths) {
        return decodeStepCost(cfg, positions, sourceLengths, new DatapathCycles());
    }

    /** {@link #decodeStepCost(ModelConfig, int[], int[])} counted in {@code walk} (reset first): only the result allocates. */
    public StepCost decodeStepCost(ModelConfig cfg, int[] positions, int[] sourceLengths, DatapathCycles walk) {
        long b = positions.length;
        return cost(walk.reset().addDecodeStep(cfg, positions, sourceLengths, false), 2, 8 * b + 4 * b * cfg.vocabSize());
    }

    /** The cost of one kernel run walked as {@code run} plus {@code pcieTransfers} moving {@code pcieBytes}. */
    public StepCost cost(DatapathCycles run, int pcieTransfers, long pcieBytes) {
        double pcieNs = pcieTransfers * (double) pcieLatencyNs + pcieBytes / pcieGbps;
        return new StepCost(run.cycles(), (long) Math.ceil(card.nanos(run) + pcieNs));
    }

    // ---- parsing ------------------------------------------------------------------------------------

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

    private static double checkDouble(String key, double v) {
        if (!(v > 0 && v <= 100000)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "setting " + key + "=" + v + " is outside (0, 100000]");
        }
        return v;
    }
}
