package org.shiftformer.api.backend;

import java.util.Arrays;
import org.shiftformer.api.ModelConfig;

/**
 * The cycles and the off-chip traffic of one run of shiftformer's FPGA datapath, the HLS kernel of
 * backend-fpga-pcie ({@code src/main/hls}): the same loop nest, walked with the same formulas
 * ({@code datapath.h}: a pipelined loop costs {@code depth + (trips - 1) x II}, a burst of {@code b} bytes on a
 * 512-bit port {@code ceil(b / 64)} beats after {@link #LAT_MEM} cycles of latency). The emulated kernel
 * counts its own cycles per run with those formulas and returns them in {@code out[2..3]};
 * backend-fpga-pcie's {@code FpgaCycleAgreementTest} requires this walk to give the same number for every
 * op and whole encoder runs and decoder steps. backend-sim's {@code DatapathModel} reports it for every
 * step, backend-fpga-pcie derives its run timeouts from it.
 *
 * <p>The datapath: a weight-stationary {@link #PE_R} x {@link #PE_C} int8 MAC array; up to {@link #ROW_TILE}
 * activation rows on chip per pass (a decoder step's batch), each weight read once per row block in blocks of
 * 64 rows (one burst per row, {@link #WEIGHT_STRIPES} rows at once: the weight matrices are split by rows over
 * that many ports) through a DATAFLOW region load -> MAC -> store ({@link Flow3}: max(stage) per block plus fill
 * and drain), requantization, ReLU and the residual fused into the store; attention with a head's keys and
 * values on chip, a decoder query row's heads through a DATAFLOW region too (load K/V -> scores and softmax ->
 * weighted sum); LayerNorm, softmax and the embedding element-wise ({@link #DOT_LANES} multipliers for the
 * attention's dot products, {@link #VEC_LANES} elements per cycle elsewhere); every port 512 bits wide, the
 * in, out and taps ports carrying int32 words 16 to a beat. Integer arithmetic only; floating point appears
 * only in {@link Card} times.
 *
 * <p>A walk also adds up the bytes each port moves ({@link #weightBytes} and of them {@link #stripeBytes},
 * {@link #kvBytes},
 * {@link #srcBytes}, {@link #scratchBytes}, {@link #ioBytes}: the memory bound on a card's banks, not
 * counted by the kernel). A burst's bytes are counted as moved; a segment that is not 64-byte aligned
 * costs the same beats in this model (every preset's rows are aligned).
 */
public final class DatapathCycles {
    /** Bytes per beat of every data port (512 bits). */
    public static final int WORD_BYTES = 64;
    /** MAC array rows: inputs of a weight tile. */
    public static final int PE_R = 64;
    /** MAC array columns: outputs of a weight tile. */
    public static final int PE_C = 64;
    /** Activation rows on chip per pass of a linear. */
    public static final int ROW_TILE = 64;
    /** Inputs of an on-chip activation row; longer rows go in chunks, re-read per output block. */
    public static final int K_CHUNK = 4096;
    /** Weight-matrix ports: row {@code r} of every weight matrix is on stripe {@code r % WEIGHT_STRIPES}. */
    public static final int WEIGHT_STRIPES = 4;
    /** Multipliers of the attention datapath. */
    public static final int DOT_LANES = 64;
    /** Elements per cycle of LayerNorm, softmax and the embedding. */
    public static final int VEC_LANES = 16;
    /** Pipeline depths: burst latency, MAC column, output stage, element-wise loop, divider. */
    public static final int LAT_MEM = 64;
    public static final int LAT_MAC = 10;
    public static final int LAT_OUT = 6;
    public static final int LAT_VEC = 4;
    public static final int LAT_DIV = 72;
    /** Bytes of a head's keys (and of its values) attention holds on chip; larger heads stream per key. */
    public static final int KV_ON_CHIP = 262144;
    /** int32 words per on-chip chunk of an op-level operand or result stream. */
    public static final int IO_CHUNK = 1024;
    /** Descriptor table words (shiftformer_kernel.h): header, per encoder layer, per decoder layer. */
    public static final int HDR_WORDS = 32;
    public static final int ENC_LAYER_WORDS = 33;
    public static final int DEC_LAYER_WORDS = 54;

    /** Output stage of a linear. */
    public enum Out { INT8, UINT8, RESIDUAL, OUT32 }

    private long cycles;
    private long weightBytes;
    private final long[] stripeBytes = new long[WEIGHT_STRIPES];
    private long kvBytes;
    private long srcBytes;
    private long scratchBytes;
    private long ioBytes;
    /** The DATAFLOW region {@link #linear} and {@link #attentionRow} count in (neither nests the other). */
    private final Flow3 flow = new Flow3();

    public DatapathCycles() {
    }

    /**
     * Zeroes the cycles and every port's bytes, so that one walker can count run after run without allocating
     * (backend-sim counts a decoder step per token this way).
     */
    public DatapathCycles reset() {
        cycles = 0;
        weightBytes = 0;
        Arrays.fill(stripeBytes, 0);
        kvBytes = 0;
        srcBytes = 0;
        scratchBytes = 0;
        ioBytes = 0;
        return this;
    }

    public long cycles() {
        return cycles;
    }

    /** Bytes of weights read: through the weights port and the weight stripes together. */
    public long weightBytes() {
        return weightBytes;
    }

    /** Bytes read through weight stripe {@code s} (the matrices' rows {@code r} with {@code r % WEIGHT_STRIPES == s}). */
    public long stripeBytes(int s) {
        return stripeBytes[s];
    }

    private long maxStripeBytes() {
        long max = 0;
        for (long b : stripeBytes) {
            max = Math.max(max, b);
        }
        return max;
    }

    private long allStripeBytes() {
        long total = 0;
        for (long b : stripeBytes) {
            total += b;
        }
        return total;
    }

    /** Bytes read or written through the kv port (KV caches). */
    public long kvBytes() {
        return kvBytes;
    }

    /** Bytes read or written through the src port (encoder memory, cross-attention K/V). */
    public long srcBytes() {
        return srcBytes;
    }

    /** Bytes read or written through the scratch port (activations). */
    public long scratchBytes() {
        return scratchBytes;
    }

    /** Bytes through the in, out and taps ports (int32 words, 16 to a beat). */
    public long ioBytes() {
        return ioBytes;
    }

    // ---- datapath.h -------------------------------------------------------------------------------------

    public static long beats(long bytes) {
        return (bytes + WORD_BYTES - 1) / WORD_BYTES;
    }

    /** A pipelined loop: {@code depth + (trips - 1) * ii}, 0 without trips. */
    public static long pipe(long trips, long ii, long depth) {
        return trips <= 0 ? 0 : depth + (trips - 1) * ii;
    }

    /** One burst of {@code bytes} on a 512-bit port. */
    public static long burst(long bytes) {
        return pipe(beats(bytes), 1, LAT_MEM);
    }

    /** An element-wise loop over {@code n} elements, {@link #VEC_LANES} per cycle. */
    public static long lanes(long n) {
        return pipe((n + VEC_LANES - 1) / VEC_LANES, 1, LAT_VEC);
    }

    static long softmaxCycles(long len) {
        return 3 * lanes(len) + LAT_DIV;
    }

    static long lnCoreCycles(long d) {
        return 3 * lanes(d) + LAT_DIV;
    }

    // ---- the kernel's functions, one method each ----------------------------------------------------------

    /**
     * A DATAFLOW region of three processes (load, compute, store) over a sequence of items, counted in lock-step
     * ({@code datapath.h}, {@code Flow3}): slot {@code s} runs item {@code s}'s load, item {@code s - 1}'s compute
     * and item {@code s - 2}'s store at once and lasts as long as the longest; the first two slots fill the
     * pipeline and the last two drain it (one item alone: load + compute + store).
     */
    static final class Flow3 {
        private long total;
        private long compute1;
        private long store1;
        private long store2;

        void start() {
            total = 0;
            compute1 = 0;
            store1 = 0;
            store2 = 0;
        }

        void item(long load, long compute, long store) {
            total += Math.max(load, Math.max(compute1, store2));
            store2 = store1;
            compute1 = compute;
            store1 = store;
        }

        long end() {
            return total + Math.max(compute1, store2) + store1;
        }
    }

    /**
     * {@code linear}: {@code rows x k} activations (in scratch) times a {@code [n, k]} weight. Per row block of up
     * to {@link #ROW_TILE} rows: the rows on chip once when {@code k <= K_CHUNK}, then the weight blocks
     * ({@link #PE_C} rows x up to {@link #K_CHUNK} inputs) through the DATAFLOW region load -> MAC -> store
     * ({@link Flow3}). Load: the four stripes' bursts, the bias (at an output block's first chunk) and the scratch
     * rows (the input chunk when {@code k > K_CHUNK}, the residual rows at the last chunk) concurrently, so the
     * longest. MAC: the tiles x rows, then at the last chunk the rows into the stream (one a cycle). Store, at the
     * last chunk: one row of results per initiation.
     */
    public DatapathCycles linear(long rows, long k, long n, Out mode, boolean bias) {
        long chunks = (k + K_CHUNK - 1) / K_CHUNK;
        long blocks = (n + PE_C - 1) / PE_C * chunks;
        for (long rb = 0; rb < rows; rb += ROW_TILE) {
            long m = Math.min(ROW_TILE, rows - rb);
            if (chunks == 1) {
                loadRows(m, k);
            }
            flow.start();
            for (long i = 0; i < blocks; i++) {
                long nb = i / chunks * PE_C;
                long kc = i % chunks * K_CHUNK;
                long cn = Math.min(PE_C, n - nb);
                long kw = Math.min(K_CHUNK, k - kc);
                boolean first = kc == 0;
                boolean last = kc + kw == k;
                long stripes = pipe((cn + WEIGHT_STRIPES - 1) / WEIGHT_STRIPES * beats(kw), 1, LAT_MEM);
                long biasLoad = first && bias ? burst(4 * cn) : 0;
                long scratchBeats = (chunks > 1 ? m * beats(kw) : 0) + (last && mode == Out.RESIDUAL ? m * beats(2 * cn) : 0);
                long tiles = (kw + PE_R - 1) / PE_R;
                long rowBytes = switch (mode) {
                    case OUT32 -> 4 * cn;
                    case RESIDUAL -> 2 * cn;
                    default -> cn;
                };
                flow.item(Math.max(stripes, Math.max(biasLoad, pipe(scratchBeats, 1, LAT_MEM))),
                        pipe(tiles * m, 1, LAT_MAC) + (last ? m : 0), last ? pipe(m, beats(rowBytes), LAT_OUT) : 0);
                weightBytes += cn * kw + (first && bias ? 4 * cn : 0);
                for (int s = 0; s < WEIGHT_STRIPES && s < cn; s++) {
                    stripeBytes[s] += (cn - s + WEIGHT_STRIPES - 1) / WEIGHT_STRIPES * kw;
                }
                if (chunks > 1) {
                    scratchBytes += m * kw;
                }
                if (last) {
                    switch (mode) {
                        case OUT32 -> ioBytes += m * rowBytes;
                        case RESIDUAL -> scratchBytes += 2 * m * rowBytes;
                        default -> scratchBytes += m * rowBytes;
                    }
                }
            }
            cycles += flow.end();
        }
        return this;
    }

    private void loadRows(long m, long kw) {
        cycles += pipe(m * beats(kw), 1, LAT_MEM);
        scratchBytes += m * kw;
    }

    /** A key's (or value's) {@code d_k} products on {@link #DOT_LANES} multipliers: passes per key row. */
    private static long perKey(long dk) {
        return (dk + DOT_LANES - 1) / DOT_LANES;
    }

    /** A head's {@code n} key rows and {@code n} value rows on chip: two pipelined loops of {@code d_k}-byte bursts. */
    private static long headLoad(long n, long dk) {
        return 2 * pipe(n * beats(dk), 1, LAT_MEM);
    }

    /** One query segment's scores against {@code n} keys on chip, then softmax. */
    private static long score(long n, long dk) {
        return pipe(n, perKey(dk), LAT_MAC) + softmaxCycles(n);
    }

    /** The weighted sum of {@code n} values on chip and the context segment's output stage. */
    private static long weigh(long n, long dk) {
        return pipe(n, perKey(dk), LAT_MAC) + pipe(perKey(dk), 1, LAT_OUT);
    }

    /**
     * {@code attend_row}: one query row over {@code keys} key/value rows, every head. When a head's rows fit on chip
     * ({@code keys x d_k <= KV_ON_CHIP}) the heads go through a DATAFLOW region ({@link Flow3}): load the head's K/V
     * rows -> scores and softmax -> weighted sum. A longer head streams its segments per key, the heads one after
     * the other.
     */
    public DatapathCycles attentionRow(long d, long heads, long keys, Port port) {
        long dk = d / heads;
        cycles += 2 * burst(d);
        scratchBytes += 2 * d;
        if (keys * dk <= KV_ON_CHIP) {
            flow.start();
            for (long h = 0; h < heads; h++) {
                flow.item(headLoad(keys, dk), score(keys, dk), weigh(keys, dk));
            }
            cycles += flow.end();
        } else {
            long per = Math.max(beats(dk), perKey(dk));
            cycles += heads * (2 * pipe(keys, per, LAT_MEM + LAT_MAC) + softmaxCycles(keys) + pipe(perKey(dk), 1, LAT_OUT));
        }
        add(port, 2 * keys * d);
        return this;
    }

    /**
     * {@code encoder_attention}: a source of {@code n} rows attends to itself; per head its keys and values are
     * burst on chip once and every query row meets them there, one after the other, unless
     * {@code n x d_k > KV_ON_CHIP}, where each row streams them ({@link #attentionRow}).
     */
    public DatapathCycles encoderAttention(long n, long d, long heads) {
        long dk = d / heads;
        if (n * dk > KV_ON_CHIP) {
            for (long r = 0; r < n; r++) {
                attentionRow(d, heads, n, Port.SCRATCH);
            }
            return this;
        }
        cycles += heads * (headLoad(n, dk) + n * (2 * burst(dk) + score(n, dk) + weigh(n, dk)));
        scratchBytes += heads * 4 * n * dk;
        return this;
    }

    /** Where attention's key and value rows are read from. */
    public enum Port { KV, SRC, SCRATCH }

    private void add(Port port, long bytes) {
        switch (port) {
            case KV -> kvBytes += bytes;
            case SRC -> srcBytes += bytes;
            case SCRATCH -> scratchBytes += bytes;
        }
    }

    /** {@code layer_norm_rows}: gamma and beta on chip once, then each row in, normalised, out. */
    public DatapathCycles layerNorm(long rows, long d) {
        cycles += burst(2 * d) + burst(4 * d) + rows * (burst(2 * d) + lnCoreCycles(d) + burst(d));
        weightBytes += 6 * d;
        scratchBytes += rows * 3 * d;
        return this;
    }

    /** {@code embed_rows}. */
    public DatapathCycles embed(long rows, long d) {
        cycles += rows * (2 * burst(d) + lanes(d) + burst(2 * d));
        weightBytes += rows * 2 * d;
        scratchBytes += rows * 2 * d;
        return this;
    }

    /** {@code tap_rows}: {@code rows} rows of {@code d} int32 to the taps port, a burst of {@code 4 d} bytes each. */
    public DatapathCycles taps(long rows, long d, boolean wide) {
        cycles += rows * burst(4 * d);
        scratchBytes += rows * (wide ? 2 : 1) * d;
        ioBytes += rows * 4 * d;
        return this;
    }

    /** {@code copy_bytes} from scratch (or kv) to {@code port}. */
    public DatapathCycles copy(long bytes, Port from, Port to) {
        cycles += burst(bytes);
        add(from, bytes);
        add(to, bytes);
        return this;
    }

    private DatapathCycles tapIf(boolean taps, long rows, long d, boolean wide) {
        return taps ? taps(rows, d, wide) : this;
    }

    /** A LayerNorm and the Q, K, V projections of a self-attention. */
    private DatapathCycles qkv(long rows, long d) {
        layerNorm(rows, d);
        for (int i = 0; i < 3; i++) {
            linear(rows, d, d, Out.INT8, true);
        }
        return this;
    }

    /** A LayerNorm and the feed-forward block, its output added to the residual stream. */
    private DatapathCycles ffn(long rows, long d, long ff) {
        return layerNorm(rows, d).linear(rows, d, ff, Out.UINT8, true).linear(rows, ff, d, Out.RESIDUAL, true);
    }

    /** {@code load_model}: the descriptor table and the softmax table on chip. */
    public DatapathCycles loadModel(ModelConfig c) {
        long total = HDR_WORDS + (long) c.encoderLayers() * ENC_LAYER_WORDS + (long) c.decoderLayers() * DEC_LAYER_WORDS;
        cycles += burst(4L * HDR_WORDS) + burst(4 * (total - HDR_WORDS)) + burst(4 * 64);
        weightBytes += 4 * total + 4 * 64;
        return this;
    }

    /** A burst of {@code words} int32 words from the in port, on chip. */
    private void in(long words) {
        cycles += burst(4 * words);
        ioBytes += 4 * words;
    }

    /** {@code read_seqs} over a decoder step's batch: the sequences' 5 words each, {@link #ROW_TILE} at a time. */
    private void sequences(int batch) {
        for (long b0 = 0; b0 < batch; b0 += ROW_TILE) {
            in(5 * Math.min(ROW_TILE, batch - b0));
        }
    }

    /**
     * An op-level stream of {@code words} int32 words, {@link #IO_CHUNK} at a time: per chunk, {@code reads} bursts
     * from the in port back to back on one port (the result or the scratch write going out on another).
     */
    private void stream(long words, long reads) {
        for (long i = 0; i < words; i += IO_CHUNK) {
            cycles += pipe(reads * beats(4 * Math.min(IO_CHUNK, words - i)), 1, LAT_MEM);
        }
        ioBytes += 4 * reads * words;
    }

    /** The op-level parameters in[0 .. 16), one burst. */
    private static DatapathCycles opLevel() {
        DatapathCycles w = new DatapathCycles();
        w.in(16);
        return w;
    }

    // ---- whole runs ---------------------------------------------------------------------------------

    /** One ENCODE run over sources of these lengths (taps when {@code taps}). */
    public static DatapathCycles encode(ModelConfig c, int[] lengths, boolean taps) {
        DatapathCycles w = new DatapathCycles().loadModel(c);
        long d = c.dModel();
        long h = c.heads();
        long ff = c.dFf();
        for (int n : lengths) {
            w.in(2);
            w.in(n);
            w.embed(n, d).tapIf(taps, n, d, true);
            for (int l = 0; l < c.encoderLayers(); l++) {
                w.qkv(n, d);
                w.encoderAttention(n, d, h);
                w.linear(n, d, d, Out.RESIDUAL, true).tapIf(taps, n, d, true);
                w.ffn(n, d, ff).tapIf(taps, n, d, true);
            }
            w.layerNorm(n, d).copy(n * d, Port.SCRATCH, Port.SRC).tapIf(taps, n, d, false);
            for (int l = 0; l < c.decoderLayers(); l++) {
                w.linear(n, d, d, Out.INT8, true).copy(n * d, Port.SCRATCH, Port.SRC);
                w.linear(n, d, d, Out.INT8, true).copy(n * d, Port.SCRATCH, Port.SRC);
            }
        }
        return w;
    }

    /**
     * One DECODE_STEP run: sequence {@code b} at position {@code positions[b]} (it attends over
     * {@code positions[b] + 1} of its own keys) with a source of {@code sourceLengths[b]} positions. The sequences'
     * input words are burst on chip {@link #ROW_TILE} sequences at a time wherever they are used: to check and embed
     * them, and in every layer's self- and cross-attention.
     */
    public static DatapathCycles decodeStep(ModelConfig c, int[] positions, int[] sourceLengths, boolean taps) {
        return new DatapathCycles().addDecodeStep(c, positions, sourceLengths, taps);
    }

    /** Adds one DECODE_STEP run ({@link #decodeStep}) to this walk; allocates nothing. */
    public DatapathCycles addDecodeStep(ModelConfig c, int[] positions, int[] sourceLengths, boolean taps) {
        DatapathCycles w = loadModel(c);
        long d = c.dModel();
        long h = c.heads();
        long ff = c.dFf();
        int batch = positions.length;
        w.sequences(batch);
        w.embed(batch, d).tapIf(taps, batch, d, true);
        for (int l = 0; l < c.decoderLayers(); l++) {
            w.qkv(batch, d);
            w.sequences(batch);
            for (int b = 0; b < batch; b++) {
                w.copy(d, Port.SCRATCH, Port.KV).copy(d, Port.SCRATCH, Port.KV);
                w.attentionRow(d, h, positions[b] + 1L, Port.KV);
            }
            w.linear(batch, d, d, Out.RESIDUAL, true).tapIf(taps, batch, d, true);
            w.layerNorm(batch, d).linear(batch, d, d, Out.INT8, true);
            w.sequences(batch);
            for (int b = 0; b < batch; b++) {
                w.attentionRow(d, h, sourceLengths[b], Port.SRC);
            }
            w.linear(batch, d, d, Out.RESIDUAL, true).tapIf(taps, batch, d, true);
            w.ffn(batch, d, ff).tapIf(taps, batch, d, true);
        }
        w.layerNorm(batch, d).tapIf(taps, batch, d, false);
        return w.linear(batch, d, c.vocabSize(), Out.OUT32, false);
    }

    /** One COPY_KV run of {@code rows} positions. */
    public static DatapathCycles copyKv(ModelConfig c, int rows) {
        DatapathCycles w = new DatapathCycles().loadModel(c);
        w.in(3);
        for (int i = 0; i < 2 * c.decoderLayers(); i++) {
            w.copy((long) rows * c.dModel(), Port.KV, Port.KV);
        }
        return w;
    }

    /** Op-level LINEAR: {@code rows x k} operands from {@code in} narrowed into scratch, the int32 accumulators to {@code out}. */
    public static DatapathCycles opLinear(long rows, long k, long n, boolean bias) {
        DatapathCycles w = opLevel();
        w.stream(rows * k, 1);
        w.scratchBytes += rows * k;
        return w.linear(rows, k, n, Out.OUT32, bias);
    }

    /** Op-level REQUANT of {@code len} values. */
    public static DatapathCycles opRequant(long len) {
        DatapathCycles w = opLevel();
        w.stream(len, 1);
        w.ioBytes += 4 * len;
        return w;
    }

    /** Op-level SOFTMAX2 of {@code rows} rows of {@code len}: the table once, then per row its valid length and scores in, the probabilities out. */
    public static DatapathCycles opSoftmax(long rows, long len) {
        DatapathCycles w = opLevel();
        w.in(64);
        w.cycles += rows * (pipe(1 + beats(4 * len), 1, LAT_MEM) + softmaxCycles(len) + burst(4 * len));
        w.ioBytes += rows * 4 * (2 * len + 1);
        return w;
    }

    /** Op-level LAYERNORM of {@code rows} rows of {@code d}. */
    public static DatapathCycles opLayerNorm(long rows, long d) {
        DatapathCycles w = opLevel();
        w.cycles += burst(2 * d) + burst(4 * d) + rows * (burst(4 * d) + lnCoreCycles(d) + burst(4 * d));
        w.weightBytes += 6 * d;
        w.ioBytes += rows * 8 * d;
        return w;
    }

    /** Op-level RESIDUAL of {@code len} values. */
    public static DatapathCycles opResidual(long len) {
        DatapathCycles w = opLevel();
        w.stream(len, 2);
        w.ioBytes += 4 * len;
        return w;
    }

    // ---- target cards --------------------------------------------------------------------------------

    /**
     * The assumptions about each target card, in one place: the kernel's clock (the {@code --hls.clock} and
     * {@code --kernel_frequency} of src/main/vitis/Makefile), its MAC array ({@link #PE_R} x {@link #PE_C}, the
     * same source on both), the width of its data ports, and the bandwidth of the memory bank behind each
     * port (connectivity-u250.cfg / connectivity-u55c.cfg). Off-chip ports run in parallel, each on its own
     * bank(s); the scratch and the in/out/taps ports share one bank. The {@link #WEIGHT_STRIPES} weight-stripe
     * ports either share the weights' bank (one DDR channel: striping buys no bandwidth there) or have a bank
     * each ({@code stripeGbps} per stripe, HBM pseudo-channels).
     *
     * @param weightsGbps bandwidth of the weights' bank, GB/s (= bytes/ns)
     * @param stripeGbps  bandwidth of each weight stripe's own bank, or 0 when the stripes share the weights' bank
     * @param kvGbps      the KV caches' bank
     * @param srcGbps     the sources' bank
     * @param scratchGbps the bank of scratch, in, out and taps
     */
    public enum Card {
        /** Alveo U250: 4 DDR4-2400 channels of 19.2 GB/s, one per port group. */
        U250("Alveo U250", 300, 19.2, 0, 19.2, 19.2, 19.2,
                "DDR4-2400 x 4 banks (weights and its 4 stripes DDR[0], kv DDR[1], src DDR[2], rest DDR[3])"),
        /** Alveo U55C: HBM2, 32 pseudo-channels of 14.4 GB/s; one port reaches one pseudo-channel's bandwidth. */
        U55C("Alveo U55C", 300, 14.4, 14.4, 14.4, 14.4, 14.4,
                "HBM2 pseudo-channels (weights PC 0-3, stripes 4-5, 6-7, 8-9, 10-11, kv 12-19, src 20-27, in/out/taps 28,"
                        + " scratch 29; one port = one PC's bandwidth)");

        public final String title;
        public final int clockMhz;
        public final double weightsGbps;
        public final double stripeGbps;
        public final double kvGbps;
        public final double srcGbps;
        public final double scratchGbps;
        public final String banks;

        Card(String title, int clockMhz, double weightsGbps, double stripeGbps, double kvGbps, double srcGbps,
             double scratchGbps, String banks) {
            this.title = title;
            this.clockMhz = clockMhz;
            this.weightsGbps = weightsGbps;
            this.stripeGbps = stripeGbps;
            this.kvGbps = kvGbps;
            this.srcGbps = srcGbps;
            this.scratchGbps = scratchGbps;
            this.banks = banks;
        }

        /** Peak bandwidth of one 512-bit port at the clock, GB/s. */
        public double portGbps() {
            return WORD_BYTES * clockMhz / 1000.0;
        }

        /** Nanoseconds of {@code cycles} at the clock: the compute bound of a run (its loop nest). */
        public double computeNanos(long cycles) {
            return cycles * 1000.0 / clockMhz;
        }

        /** The memory bound of a run: the slowest port's bytes over its bank's bandwidth, in nanoseconds. */
        public double memoryNanos(DatapathCycles w) {
            double weights = stripeGbps == 0 ? w.weightBytes / weightsGbps
                    : Math.max((w.weightBytes - w.allStripeBytes()) / weightsGbps, w.maxStripeBytes() / stripeGbps);
            return Math.max(Math.max(weights, w.kvBytes / kvGbps),
                    Math.max(w.srcBytes / srcGbps, (w.scratchBytes + w.ioBytes) / scratchGbps));
        }

        /** The modelled time of a run: its loop nest and its banks overlap, the slower binds. */
        public double nanos(DatapathCycles w) {
            return Math.max(computeNanos(w.cycles), memoryNanos(w));
        }

        /** One line of the assumptions, printed with every table of figures. */
        public String assumptions() {
            return title + ": " + clockMhz + " MHz, " + PE_R + "x" + PE_C + " int8 MAC array (" + (PE_R * PE_C)
                    + " MAC/cycle), " + ROW_TILE + " activation rows on chip, 512-bit ports (" + portGbps()
                    + " GB/s each at the clock), banks " + banks + ": weights " + weightsGbps + ", "
                    + (stripeGbps == 0 ? "its " + WEIGHT_STRIPES + " stripes sharing it"
                            : WEIGHT_STRIPES + " stripes " + stripeGbps + " each") + ", kv " + kvGbps
                    + ", src " + srcGbps + ", scratch+io " + scratchGbps + " GB/s";
        }
    }
}
