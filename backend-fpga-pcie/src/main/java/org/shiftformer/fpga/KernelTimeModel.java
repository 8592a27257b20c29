package org.shiftformer.fpga;

import org.shiftformer.api.ModelConfig;

/**
 * How long one run of the kernel as written ({@code src/main/hls}) would take on a card, and the run
 * timeout derived from it.
 *
 * <p>The model is the one of FPGA-REVIEW.md section 4.1 for this kernel (8-bit m_axi ports, no bursts,
 * no on-chip reuse): every output of a dot product costs its length in cycles plus
 * {@value #CYCLES_PER_OUTPUT} cycles of AXI latency and pipeline fill, at {@value #CLOCK_MHZ} MHz.
 * Linear layers cost {@code rows x N x (K + 200)}; attention per row and head {@code keys x (d_head + 200)}
 * for the scores, {@code d_head x (keys + 200)} for the context and {@code 4 x keys} for the softmax;
 * a LayerNorm {@code 3 d + 200} per row. It gives, for example, 122 ms for a base-preset decoder step at
 * batch 1 (the review: about 130 ms) and 3.2 s for one base encoder source of 32 tokens (the review:
 * 3.2 s). It is an estimate of the as-written kernel, not of {@code DatapathModel}'s design; a card
 * that closes timing below 300 MHz is slower by the ratio, which {@link #SAFETY_FACTOR} covers.
 *
 * <p>Timeout of a run: {@code max(}{@value #FLOOR_MS}{@code  ms, }{@value #SAFETY_FACTOR}{@code  x
 * estimate)}, unless the {@code timeout-ms} setting fixes it for every run.
 */
final class KernelTimeModel {
    static final int CLOCK_MHZ = 300;
    static final long CYCLES_PER_OUTPUT = 200;
    static final int SAFETY_FACTOR = 4;
    /** No run gets less: covers launch and DMA latency, a loaded host and small shapes. */
    static final long FLOOR_MS = 10_000;

    private KernelTimeModel() {
    }

    /** The timeout of a run estimated at {@code estimateNanos}: the setting when given (> 0), else derived. */
    static long timeoutMs(long settingMs, long estimateNanos) {
        if (settingMs > 0) {
            return settingMs;
        }
        long ns = estimateNanos > Long.MAX_VALUE / SAFETY_FACTOR ? Long.MAX_VALUE : estimateNanos * SAFETY_FACTOR;
        return Math.min(Integer.MAX_VALUE, Math.max(FLOOR_MS, Math.ceilDiv(ns, 1_000_000L)));
    }

    static long nanos(long cycles) {
        return cycles / CLOCK_MHZ * 1000 + cycles % CLOCK_MHZ * 1000 / CLOCK_MHZ;
    }

    /** {@code rows x n} outputs of length {@code k}. */
    static long linear(long rows, long k, long n) {
        return rows * n * (k + CYCLES_PER_OUTPUT);
    }

    /** One query row attending over {@code keys} keys in every head. */
    private static long attention(ModelConfig c, long keys) {
        long dh = c.dHead();
        return c.heads() * (keys * (dh + CYCLES_PER_OUTPUT) + dh * (keys + CYCLES_PER_OUTPUT) + 4 * keys);
    }

    private static long layerNorm(ModelConfig c, long rows) {
        return rows * (3L * c.dModel() + CYCLES_PER_OUTPUT);
    }

    private static long ffn(ModelConfig c, long rows) {
        return linear(rows, c.dModel(), c.dFf()) + linear(rows, c.dFf(), c.dModel());
    }

    /** Cycles of one ENCODE run over sources of these lengths (with every decoder layer's cross K and V). */
    static long encodeCycles(ModelConfig c, int[] lengths) {
        long d = c.dModel();
        long cycles = 0;
        for (int n : lengths) {
            long perLayer = linear(n, d, 4 * d) + (long) n * attention(c, n) + 2 * layerNorm(c, n) + ffn(c, n);
            cycles += n * d + c.encoderLayers() * perLayer + layerNorm(c, n)
                    + c.decoderLayers() * linear(n, d, 2 * d);
        }
        return cycles;
    }

    /**
     * Cycles of one DECODE_STEP run: sequence {@code b} attends over {@code positions[b] + 1} of its own keys
     * and {@code sourceLengths[b]} encoder positions.
     */
    static long decodeStepCycles(ModelConfig c, int[] positions, int[] sourceLengths) {
        long d = c.dModel();
        long cycles = 0;
        for (int b = 0; b < positions.length; b++) {
            long perLayer = linear(1, d, 6 * d) + attention(c, positions[b] + 1L) + attention(c, sourceLengths[b])
                    + 3 * layerNorm(c, 1) + ffn(c, 1);
            cycles += d + c.decoderLayers() * perLayer + layerNorm(c, 1) + linear(1, d, c.vocabSize());
        }
        return cycles;
    }

    /** Cycles of one COPY_KV run of {@code rows} positions: every layer's K and V rows, a byte per cycle. */
    static long copyKvCycles(ModelConfig c, int rows) {
        return 2L * c.decoderLayers() * rows * c.dModel() + CYCLES_PER_OUTPUT;
    }
}
