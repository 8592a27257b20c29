package org.shiftformer.fpga;

import static org.shiftformer.fpga.FpgaLayout.*;
import static org.shiftformer.fpga.KernelRunner.INT_LE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.shiftformer.api.DType;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtDevice;
import org.shiftformer.fpga.xrt.XrtKernel;

/**
 * SPEC.md's ops run one by one on the card through the kernel's op-level entry points (op codes 16-20),
 * so the conformance kit checks each op of the HLS source against the scalar reference. Operands travel
 * widened to int32, except the operands the model path reads from the weights ports (LINEAR's weight,
 * split by rows over the weight stripes as {@link DeviceImage} splits a model's, and its bias; LAYERNORM's
 * gamma and beta): those go into the weight stripes and a weights buffer at {@link FpgaLayout#TENSOR_ALIGN}-
 * aligned offsets the parameters name, so each op runs the model path's own code on the same ports. A test
 * and debugging path: its buffers grow on demand (the model path never reallocates). Thread-safe (one call
 * at a time). The arguments an op never touches (kv, src, taps, and weights and the stripes until an op
 * first needs them) get a 64-byte device-only placeholder each, in that argument's memory group: on a card
 * each port reaches only its own banks.
 */
final class FpgaKernels implements IntKernels, AutoCloseable {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final XrtDevice device;
    private final XrtKernel kernel;
    private final ComputeUnit cu;
    private final long timeoutSettingMs;
    private final XrtBuffer[] placeholders = new XrtBuffer[ARG_COUNT];
    private XrtBuffer weights;
    private final XrtBuffer[] stripes = new XrtBuffer[WEIGHT_STRIPES];
    private final MemorySegment[] stripeMaps = new MemorySegment[WEIGHT_STRIPES];
    private XrtBuffer in;
    private XrtBuffer out;
    private XrtBuffer scratch;
    private MemorySegment weightsMap;
    private MemorySegment inMap;
    private MemorySegment outMap;
    private KernelRunner runner;

    FpgaKernels(XrtDevice device, XrtKernel kernel, ComputeUnit cu, FpgaSettings settings) {
        this.device = device;
        this.kernel = kernel;
        this.cu = cu;
        this.timeoutSettingMs = settings.timeoutMs();
        try {
            for (int arg : new int[] {ARG_WEIGHTS, ARG_KV, ARG_SRC, ARG_TAPS, ARG_WSTRIPE0, ARG_WSTRIPE0 + 1,
                ARG_WSTRIPE0 + 2, ARG_WSTRIPE0 + 3}) {
                placeholders[arg] = device.alloc(TENSOR_ALIGN, XrtDevice.BO_FLAGS_DEV_ONLY, kernel.groupId(arg));
            }
        } catch (RuntimeException e) {
            for (XrtBuffer p : placeholders) {
                close(p);
            }
            throw e;
        }
    }

    /**
     * Makes room for {@code inWords} operand words, {@code outWords} result words, {@code scratchBytes},
     * {@code weightsBytes} (0: the op reads no weights) and {@code stripeBytes} per weight stripe (0: none); every
     * buffer a whole number of 64-byte words, as the kernel's 512-bit ports need.
     */
    private void ensure(long inWords, long outWords, long scratchBytes, long weightsBytes, long stripeBytes) {
        cu.checkFree("op-level kernels", kernel.name()); // a timed-out run holds the compute unit: grow nothing
        long inBytes = 4 * (IN_HDR + inWords);
        long outBytes = 4 * (OUT_HDR + outWords);
        // a grown buffer replaces the old one in the run first; the old one is freed after (no run is in flight)
        if (in == null || in.size() < inBytes) {
            XrtBuffer old = in;
            in = device.alloc(Math.max(alignUp(inBytes), 1 << 16), kernel.groupId(ARG_IN));
            inMap = in.map();
            repoint(ARG_IN, in, old);
        }
        if (out == null || out.size() < outBytes) {
            XrtBuffer old = out;
            out = device.alloc(Math.max(alignUp(outBytes), 1 << 16), kernel.groupId(ARG_OUT));
            outMap = out.map();
            if (runner != null) { // the runner reads the status word through its own map of out
                closeRunner();
            }
            close(old);
        }
        if (scratch == null || scratch.size() < scratchBytes) {
            XrtBuffer old = scratch;
            scratch = device.alloc(Math.max(alignUp(scratchBytes), 1 << 16), XrtDevice.BO_FLAGS_DEV_ONLY,
                    kernel.groupId(ARG_SCRATCH));
            repoint(ARG_SCRATCH, scratch, old);
        }
        if (weightsBytes > 0 && (weights == null || weights.size() < weightsBytes)) {
            XrtBuffer old = weights;
            weights = device.alloc(Math.max(alignUp(weightsBytes), 1 << 16), kernel.groupId(ARG_WEIGHTS));
            weightsMap = weights.map();
            repoint(ARG_WEIGHTS, weights, old);
        }
        for (int s = 0; s < WEIGHT_STRIPES; s++) {
            if (stripeBytes > 0 && (stripes[s] == null || stripes[s].size() < stripeBytes)) {
                XrtBuffer old = stripes[s];
                stripes[s] = device.alloc(Math.max(alignUp(stripeBytes), 1 << 16), kernel.groupId(ARG_WSTRIPE0 + s));
                stripeMaps[s] = stripes[s].map();
                repoint(ARG_WSTRIPE0 + s, stripes[s], old);
            }
        }
        if (runner == null) {
            XrtBuffer w = weights != null ? weights : placeholders[ARG_WEIGHTS];
            XrtBuffer[] ws = new XrtBuffer[WEIGHT_STRIPES];
            for (int s = 0; s < WEIGHT_STRIPES; s++) {
                ws[s] = stripes[s] != null ? stripes[s] : placeholders[ARG_WSTRIPE0 + s];
            }
            runner = new KernelRunner(kernel, cu, timeoutSettingMs, w, placeholders[ARG_KV], placeholders[ARG_SRC], in,
                    out, scratch, placeholders[ARG_TAPS], ws);
        }
    }

    private void repoint(int arg, XrtBuffer now, XrtBuffer old) {
        if (runner != null) {
            runner.buffer(arg, now);
        }
        close(old);
    }

    private void closeRunner() {
        runner.closeUnlessInFlight();
        runner = null;
    }

    private void params(int... p) {
        MemorySegment.copy(p, 0, inMap, INT_LE, 0, p.length);
    }

    private void operands(long word, byte[] v, boolean unsigned) {
        for (int i = 0; i < v.length; i++) {
            inMap.set(INT_LE, 4 * (IN_HDR + word + i), unsigned ? v[i] & 0xFF : v[i]);
        }
    }

    private void operands(long word, short[] v) {
        for (int i = 0; i < v.length; i++) {
            inMap.set(INT_LE, 4 * (IN_HDR + word + i), v[i]);
        }
    }

    private void operands(long word, int[] v, int len) {
        MemorySegment.copy(v, 0, inMap, INT_LE, 4 * (IN_HDR + word), len);
    }

    private void run(int op, long inWords, long outWords, DatapathCycles estimate, String what) {
        in.syncToDevice(4 * (IN_HDR + inWords), 0);
        runner.run(op, 1, 0, estimate, what);
        out.syncFromDevice(4 * outWords, 4L * OUT_HDR);
    }

    private int result(long i) {
        return outMap.get(INT_LE, 4 * (OUT_HDR + i));
    }

    @Override
    public synchronized void linear(byte[] x, int rows, int k, boolean unsignedInput, byte[] w, int n, int[] bias, int[] acc) {
        long xs = (long) rows * k;
        long perStripe = (long) (n + WEIGHT_STRIPES - 1) / WEIGHT_STRIPES * k;
        ensure(xs, (long) rows * n, xs, 4L * n, perStripe);
        // in[P_LIN_W_OFF] = 0, in[P_LIN_B_OFF] = 0: byte offsets of the weight in the stripes, of the bias in weights
        params(rows, k, unsignedInput ? 1 : 0, n, bias != null ? 1 : 0, 0, 0);
        // the kernel narrows each word to int8: a uint8 operand travels as its byte pattern
        operands(0, java.util.Arrays.copyOf(x, (int) xs), false);
        for (int r = 0; r < n; r++) { // row r in stripe r % WEIGHT_STRIPES, as DeviceImage splits a model's
            MemorySegment.copy(w, r * k, stripeMaps[r % WEIGHT_STRIPES], ValueLayout.JAVA_BYTE,
                    (long) (r / WEIGHT_STRIPES) * k, k);
        }
        for (XrtBuffer s : stripes) {
            s.syncToDevice(perStripe, 0);
        }
        if (bias != null) {
            MemorySegment.copy(bias, 0, weightsMap, INT_LE, 0, n);
        }
        weights.syncToDevice(4L * n, 0);
        run(OP_LINEAR, xs, (long) rows * n, DatapathCycles.opLinear(rows, k, n, bias != null), "op LINEAR");
        MemorySegment.copy(outMap, INT_LE, 4L * OUT_HDR, acc, 0, rows * n);
    }

    @Override
    public synchronized void requantize(int[] acc, int len, int shift, DType outType, byte[] out) {
        ensure(len, len, 0, 0, 0);
        params(len, shift, outType == DType.UINT8 ? 1 : 0);
        operands(0, acc, len);
        run(OP_REQUANT, len, len, DatapathCycles.opRequant(len), "op REQUANT");
        for (int i = 0; i < len; i++) {
            out[i] = (byte) result(i);
        }
    }

    @Override
    public synchronized void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs) {
        long words = rows + 64L + (long) rows * len;
        ensure(words, (long) rows * len, 0, 0, 0);
        params(rows, len, scoreExp);
        operands(0, validLen, rows);
        operands(rows, lut, 64);
        operands(rows + 64L, scores, rows * len);
        run(OP_SOFTMAX, words, (long) rows * len, DatapathCycles.opSoftmax(rows, len), "op SOFTMAX2");
        for (int i = 0; i < rows * len; i++) {
            probs[i] = (byte) result(i);
        }
    }

    @Override
    public synchronized void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp,
                                       byte[] out) {
        long words = (long) rows * d;
        long betaOff = alignUp(2L * d);
        ensure(words, (long) rows * d, alignUp(2L * d) + d, betaOff + 4L * d, 0);
        // in[P_LN_GAMMA_OFF] = 0, in[P_LN_BETA_OFF] = betaOff: byte offsets of gamma and beta in the weights buffer
        params(rows, d, gammaExp, outExp, 0, (int) betaOff);
        MemorySegment.copy(gamma, 0, weightsMap, SHORT_LE, 0, d);
        MemorySegment.copy(beta, 0, weightsMap, INT_LE, betaOff, d);
        weights.syncToDevice(betaOff + 4L * d, 0);
        operands(0, java.util.Arrays.copyOf(x, rows * d));
        run(OP_LAYERNORM, words, (long) rows * d, DatapathCycles.opLayerNorm(rows, d), "op LAYERNORM");
        for (int i = 0; i < rows * d; i++) {
            out[i] = (byte) result(i);
        }
    }

    @Override
    public synchronized void residual(short[] r, int rExp, int[] acc, int accExp, int outExp, int len, short[] out) {
        ensure(2L * len, len, 0, 0, 0);
        params(len, rExp, accExp, outExp);
        operands(0, java.util.Arrays.copyOf(r, len));
        operands(len, acc, len);
        run(OP_RESIDUAL, 2L * len, len, DatapathCycles.opResidual(len), "op RESIDUAL");
        for (int i = 0; i < len; i++) {
            out[i] = (short) result(i);
        }
    }

    /** The cycles the kernel counted for the last op (its {@code out[2..3]}). */
    synchronized long lastCycles() {
        return runner.lastCycles();
    }

    private static void close(XrtBuffer bo) {
        if (bo != null) {
            bo.close();
        }
    }

    /** Frees the buffers and closes the run; a run in flight (it timed out) is parked with them instead. */
    @Override
    public synchronized void close() {
        List<XrtBuffer> buffers = new ArrayList<>();
        List<XrtBuffer> all = new ArrayList<>(Arrays.asList(placeholders));
        all.addAll(Arrays.asList(weights, in, out, scratch));
        all.addAll(Arrays.asList(stripes));
        for (XrtBuffer b : all) {
            if (b != null) {
                buffers.add(b);
            }
        }
        Arrays.fill(stripes, null);
        weights = null;
        in = null;
        out = null;
        scratch = null;
        Arrays.fill(placeholders, null);
        boolean parked = false;
        try {
            parked = runner != null && !runner.closeUnlessInFlight();
        } finally {
            if (parked) {
                cu.park(runner.xrtRun(), buffers, "op-level kernels");
            } else {
                buffers.forEach(b -> close(b));
            }
            runner = null;
        }
    }
}
