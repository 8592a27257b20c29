package org.shiftformer.fpga;

import static org.shiftformer.fpga.FpgaLayout.*;
import static org.shiftformer.fpga.KernelRunner.INT_LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtDevice;
import org.shiftformer.fpga.xrt.XrtKernel;

/**
 * A model resident on the card. At load the weights image and its weight stripes ({@link DeviceImage})
 * are written and synced once, each stripe in its own argument's memory group; the KV-cache, source,
 * input, output and scratch buffers are allocated once and reused by every step. Per encoder run the host syncs the token ids to the device and the status words back; per
 * decoder step the 5 words per sequence to the device and the status words and logits back. Nothing
 * else crosses PCIe: the caches, the encoder memory and the activations stay in device memory.
 *
 * <p>After a failed kernel run (error, abort, timeout, bad status) the device state of the model is
 * unknown: every later call fails with {@code BACKEND_FAILURE} naming the first failure, and the model
 * only closes. A run that timed out is never closed nor are its buffers freed while it may still run:
 * closing the model then hands the run and every buffer to the backend's {@link ComputeUnit}, which
 * releases them once the run reaches a final state.
 *
 * <p>The KV cache, the scratch and the placeholder taps buffer are device-only
 * ({@code XRT_BO_FLAGS_DEV_ONLY}): the host never reads them, so they get no pinned host copy.
 */
final class FpgaModel implements LoadedModel {
    /** Sources per encoder run when no layer tap is requested. */
    static final int ENCODE_CHUNK = 8;

    private final TransformerWeights w;
    private final ModelConfig cfg;
    private final int d;
    private final int kvSlots;
    private final int srcSlots;
    private final int encodeChunk;
    private final XrtDevice device;
    private final XrtKernel kernel;
    private final ComputeUnit cu;
    private final List<XrtBuffer> owned = new ArrayList<>();
    private final XrtBuffer src;
    private final XrtBuffer in;
    private final XrtBuffer out;
    private final MemorySegment srcMap;
    private final MemorySegment inMap;
    private final MemorySegment outMap;
    private final KernelRunner runner;
    private final BitSet kvUsed = new BitSet();
    private final BitSet srcUsed = new BitSet();
    private XrtBuffer taps;
    private MemorySegment tapsMap;
    private long stepCounter;
    private String failure;
    private boolean closed;
    private Runnable onClose = () -> { };

    FpgaModel(FpgaBackend backend, TransformerWeights weights, FpgaSettings settings) {
        this.w = weights;
        this.cfg = weights.config();
        this.d = cfg.dModel();
        this.kvSlots = settings.kvSlots();
        this.srcSlots = settings.sourceSlots();
        this.encodeChunk = Math.min(srcSlots, ENCODE_CHUNK);
        this.device = backend.device();
        this.kernel = backend.kernel();
        this.cu = backend.computeUnit();
        DeviceImage image = DeviceImage.pack(weights, kvSlots, srcSlots);
        long[] bytes = bufferBytes(cfg, kvSlots, srcSlots);
        try {
            XrtBuffer wbo = resident(image.bytes(), ARG_WEIGHTS);
            XrtBuffer[] stripes = new XrtBuffer[WEIGHT_STRIPES];
            for (int s = 0; s < WEIGHT_STRIPES; s++) {
                stripes[s] = resident(image.stripes()[s], ARG_WSTRIPE0 + s); // each stripe in its own bank
            }
            XrtBuffer kv = allocDeviceOnly(bytes[ARG_KV], ARG_KV);
            src = alloc(bytes[ARG_SRC], ARG_SRC);
            in = alloc(bytes[ARG_IN], ARG_IN);
            out = alloc(bytes[ARG_OUT], ARG_OUT);
            XrtBuffer scratch = allocDeviceOnly(bytes[ARG_SCRATCH], ARG_SCRATCH);
            XrtBuffer noTaps = allocDeviceOnly(TENSOR_ALIGN, ARG_TAPS);
            srcMap = src.map();
            inMap = in.map();
            outMap = out.map();
            runner = new KernelRunner(kernel, cu, settings.timeoutMs(), wbo, kv, src, in, out, scratch, noTaps, stripes);
        } catch (RuntimeException e) {
            freeBuffers();
            throw e;
        }
    }

    /**
     * Bytes of each buffer argument but the weights (indexed by {@code ARG_*}; the weights are the
     * {@link DeviceImage}) for a model of shape {@code cfg} with the given slots: the KV cache, the sources,
     * the per-step input (a decoder step of every KV slot, or an encoder run of {@link #ENCODE_CHUNK}
     * sources, each source's tokens on a 64-byte word), the output (status words and every slot's logits), the
     * scratch and the full taps buffer, each rounded up to whole 64-byte words (the kernel's ports are 512 bits
     * wide). The kernel's {@code depth=} pragmas are these sizes for the base preset (HlsInterfaceRulesTest).
     */
    static long[] bufferBytes(ModelConfig cfg, int kvSlots, int srcSlots) {
        long d = cfg.dModel();
        long block = (long) cfg.maxPositions() * d;
        long[] bytes = new long[ARG_COUNT];
        int chunk = Math.min(srcSlots, ENCODE_CHUNK);
        bytes[ARG_KV] = (long) kvSlots * cfg.decoderLayers() * 2 * block;
        bytes[ARG_SRC] = (long) srcSlots * (1 + 2L * cfg.decoderLayers()) * block;
        bytes[ARG_IN] = 4 * Math.max(IN_HDR + (long) DECODE_WORDS_PER_SEQ * kvSlots,
                encodeTokensAt(chunk, chunk, cfg.maxPositions()));
        bytes[ARG_OUT] = 4 * (OUT_HDR + (long) kvSlots * cfg.vocabSize());
        bytes[ARG_SCRATCH] = scratchBytes(Math.max(cfg.maxPositions(), kvSlots), d, cfg.dFf());
        bytes[ARG_TAPS] = 4 * Math.max((2L * cfg.encoderLayers() + 2) * block,
                (long) kvSlots * (3L * cfg.decoderLayers() + 2) * d);
        for (int arg = 0; arg < ARG_COUNT; arg++) {
            bytes[arg] = alignUp(bytes[arg]); // whole 64-byte words: every argument is a 512-bit port
        }
        return bytes;
    }

    /** A buffer of argument {@code arg}'s group holding {@code bytes}, synced to the device once. */
    private XrtBuffer resident(byte[] bytes, int arg) {
        XrtBuffer bo = alloc(bytes.length, arg);
        bo.map().copyFrom(MemorySegment.ofArray(bytes));
        bo.syncToDevice(bytes.length, 0);
        return bo;
    }

    private XrtBuffer alloc(long bytes, int arg) {
        XrtBuffer bo = device.alloc(bytes, kernel.groupId(arg));
        owned.add(bo);
        return bo;
    }

    private XrtBuffer allocDeviceOnly(long bytes, int arg) {
        XrtBuffer bo = device.alloc(bytes, XrtDevice.BO_FLAGS_DEV_ONLY, kernel.groupId(arg));
        owned.add(bo);
        return bo;
    }

    void onClose(Runnable r) {
        this.onClose = r;
    }

    @Override
    public ModelConfig config() {
        return cfg;
    }

    @Override
    public int logitsExponent() {
        return w.logitsExp();
    }

    // ---- encoder -------------------------------------------------------------------------------------

    @Override
    public synchronized EncodeResult encode(List<int[]> sources, LayerTap tap) {
        checkUsable();
        for (int[] s : sources) {
            if (s.length < 1 || s.length > cfg.maxPositions()) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                        "source length " + s.length + " outside [1, " + cfg.maxPositions() + "]");
            }
            for (int t : s) {
                checkToken(t);
            }
        }
        List<EncodedSource> result = new ArrayList<>();
        List<FpgaSource> made = new ArrayList<>();
        long ns = 0;
        long cycles = 0;
        try {
            for (int[] s : sources) {
                made.add(new FpgaSource(this, takeSlot(srcUsed, srcSlots, "source-slots", "encoded source"), s.length));
            }
            int chunk = tap != null ? 1 : encodeChunk;
            for (int first = 0; first < sources.size(); first += chunk) {
                int batch = Math.min(chunk, sources.size() - first);
                long words = IN_HDR;
                for (int b = 0; b < batch; b++) {
                    int[] toks = sources.get(first + b);
                    inMap.set(INT_LE, 4L * (IN_HDR + 2 * b), made.get(first + b).slot);
                    inMap.set(INT_LE, 4L * (IN_HDR + 2 * b + 1), toks.length);
                    long at = encodeTokensAt(batch, b, cfg.maxPositions());
                    MemorySegment.copy(toks, 0, inMap, INT_LE, 4L * at, toks.length);
                    words = at + toks.length;
                }
                in.syncToDevice(4L * words, 0);
                int[] lengths = new int[batch];
                for (int b = 0; b < batch; b++) {
                    lengths[b] = sources.get(first + b).length;
                }
                ns += run(OP_ENCODE, batch, tap != null ? FLAG_TAP : 0, DatapathCycles.encode(cfg, lengths, tap != null),
                        "encoder run (batch " + batch + ")");
                cycles += runner.lastCycles();
                if (tap != null) {
                    tapEncoder(tap, first, sources.get(first).length);
                }
            }
        } catch (RuntimeException e) {
            for (FpgaSource s : made) {
                s.close();
            }
            throw e;
        }
        result.addAll(made);
        return new EncodeResult(result, new StepCost(cycles, ns));
    }

    private void tapEncoder(LayerTap tap, int seq, int n) {
        int nd = n * d;
        int points = 2 * cfg.encoderLayers() + 2;
        taps.syncFromDevice(4L * points * nd, 0);
        int[] values = new int[nd];
        for (int p = 0; p < points; p++) {
            MemorySegment.copy(tapsMap, INT_LE, 4L * p * nd, values, 0, nd);
            String name;
            if (p == 0) {
                name = "enc.embed";
            } else if (p == points - 1) {
                name = "enc.final";
            } else {
                name = "enc." + (p - 1) / 2 + ((p - 1) % 2 == 0 ? ".attn" : ".ffn");
            }
            tap.accept(seq, name, values, nd);
        }
    }

    byte[] readMemory(FpgaSource s) {
        synchronized (this) {
            checkUsable();
            long off = (long) s.slot * (1 + 2L * cfg.decoderLayers()) * cfg.maxPositions() * d;
            int bytes = s.length * d;
            src.syncFromDevice(bytes, off);
            return srcMap.asSlice(off, bytes).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    // ---- decoder -------------------------------------------------------------------------------------

    @Override
    public synchronized DecoderState newDecoder(EncodedSource source, int capacity) {
        if (!(source instanceof FpgaSource s) || s.owner != this) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "source was not encoded by this model");
        }
        if (capacity < 1 || capacity > cfg.maxPositions()) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "decoder capacity " + capacity + " outside [1, " + cfg.maxPositions() + "]");
        }
        checkUsable();
        return newState(s, capacity);
    }

    synchronized FpgaState newState(FpgaSource source, int capacity) {
        checkUsable();
        source.attach();
        try {
            return new FpgaState(this, source, takeSlot(kvUsed, kvSlots, "kv-slots", "decoder state"), capacity);
        } catch (RuntimeException e) {
            source.detach();
            throw e;
        }
    }

    @Override
    public synchronized StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        checkUsable();
        int batch = states.size();
        if (batch == 0) {
            return StepCost.ZERO;
        }
        int vocab = cfg.vocabSize();
        if (tokens.length < batch || logits.length < (long) batch * vocab) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder step of " + batch + " states needs "
                    + batch + " tokens and " + (long) batch * vocab + " logits, got " + tokens.length + " and " + logits.length);
        }
        long stamp = ++stepCounter;
        int[] positions = new int[batch];
        int[] sourceLengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            if (!(states.get(b) instanceof FpgaState st) || st.owner != this) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder state " + b + " is not of this model");
            }
            st.checkOpen();
            st.source.checkOpen();
            if (st.stamp == stamp) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder state " + b + " is listed twice in one step");
            }
            st.stamp = stamp;
            checkToken(tokens[b]);
            if (st.position >= st.capacity) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                        "decoder state is full (" + st.capacity + " positions)");
            }
            positions[b] = st.position;
            sourceLengths[b] = st.source.length;
            long at = 4L * (IN_HDR + DECODE_WORDS_PER_SEQ * b);
            inMap.set(INT_LE, at, st.slot);
            inMap.set(INT_LE, at + 4, st.source.slot);
            inMap.set(INT_LE, at + 8, st.source.length);
            inMap.set(INT_LE, at + 12, st.position);
            inMap.set(INT_LE, at + 16, tokens[b]);
        }
        in.syncToDevice(4L * (IN_HDR + DECODE_WORDS_PER_SEQ * batch), 0);
        long ns = run(OP_DECODE_STEP, batch, tap != null ? FLAG_TAP : 0,
                DatapathCycles.decodeStep(cfg, positions, sourceLengths, tap != null), "decoder step (batch " + batch + ")");
        out.syncFromDevice(4L * batch * vocab, 4L * OUT_HDR);
        MemorySegment.copy(outMap, INT_LE, 4L * OUT_HDR, logits, 0, batch * vocab);
        for (DecoderState s : states) {
            ((FpgaState) s).position++;
        }
        if (tap != null) {
            tapDecoder(tap, batch, logits);
        }
        return new StepCost(runner.lastCycles(), ns);
    }

    private void tapDecoder(LayerTap tap, int batch, int[] logits) {
        int layers = cfg.decoderLayers();
        int points = 3 * layers + 2;
        taps.syncFromDevice(4L * batch * points * d, 0);
        int[] values = new int[d];
        String[] kinds = {".self", ".cross", ".ffn"};
        for (int b = 0; b < batch; b++) {
            for (int p = 0; p < points; p++) {
                MemorySegment.copy(tapsMap, INT_LE, 4L * ((long) b * points + p) * d, values, 0, d);
                String name = p == 0 ? "dec.embed" : p == points - 1 ? "dec.final" : "dec." + (p - 1) / 3 + kinds[(p - 1) % 3];
                tap.accept(b, name, values, d);
            }
            int vocab = cfg.vocabSize();
            int[] row = new int[vocab];
            System.arraycopy(logits, b * vocab, row, 0, vocab);
            tap.accept(b, "logits", row, vocab);
        }
    }

    synchronized void copyCache(FpgaState from, FpgaState to) {
        checkUsable();
        inMap.set(INT_LE, 4L * IN_HDR, from.slot);
        inMap.set(INT_LE, 4L * (IN_HDR + 1), to.slot);
        inMap.set(INT_LE, 4L * (IN_HDR + 2), from.position);
        in.syncToDevice(4L * (IN_HDR + 3), 0);
        run(OP_COPY_KV, 1, 0, DatapathCycles.copyKv(cfg, from.position),
                "KV-cache copy (slot " + from.slot + " to " + to.slot + ")");
    }

    // ---- runs, slots, failures ----------------------------------------------------------------------

    /** The cycles the kernel counted for this model's last run (its {@code out[2..3]}). */
    synchronized long lastCycles() {
        return runner.lastCycles();
    }

    private long run(int op, int batch, int flags, DatapathCycles estimate, String what) {
        if ((flags & FLAG_TAP) != 0) {
            ensureTaps();
        }
        try {
            return runner.run(op, batch, flags, estimate, what);
        } catch (ShiftformerException e) {
            failure = e.getMessage();
            throw e;
        }
    }

    private void ensureTaps() {
        if (taps == null) {
            taps = alloc(bufferBytes(cfg, kvSlots, srcSlots)[ARG_TAPS], ARG_TAPS);
            tapsMap = taps.map();
            runner.buffer(ARG_TAPS, taps);
        }
    }

    private static int takeSlot(BitSet used, int slots, String setting, String what) {
        int slot = used.nextClearBit(0);
        if (slot >= slots) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED, "every one of the " + slots + " device slots for an "
                    + what + " is in use (backend setting " + setting + ")");
        }
        used.set(slot);
        return slot;
    }

    synchronized void releaseSource(int slot) {
        srcUsed.clear(slot);
    }

    synchronized void releaseState(int slot) {
        kvUsed.clear(slot);
    }

    private void checkUsable() {
        if (closed) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "the fpga model is closed");
        }
        if (failure != null) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE,
                    "the fpga model is unusable after an earlier kernel failure: " + failure);
        }
    }

    private void checkToken(int token) {
        if (token < 0 || token >= cfg.vocabSize()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "token id " + token + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
        }
    }

    /**
     * Frees every device buffer of this model and closes its run handle; states and sources still open
     * become unusable. A run still in flight (it timed out) is parked instead, with every buffer.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            boolean parked = false;
            try {
                parked = !runner.closeUnlessInFlight();
            } finally {
                if (parked) {
                    cu.park(runner.xrtRun(), owned, failure);
                    owned.clear();
                } else {
                    freeBuffers();
                }
            }
        }
        onClose.run();
    }

    private void freeBuffers() {
        RuntimeException first = null;
        for (int i = owned.size() - 1; i >= 0; i--) {
            try {
                owned.get(i).close();
            } catch (RuntimeException e) {
                first = first == null ? e : first;
            }
        }
        owned.clear();
        if (first != null) {
            throw first;
        }
    }
}
