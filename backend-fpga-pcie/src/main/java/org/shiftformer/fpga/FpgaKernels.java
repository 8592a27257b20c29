package org.shiftformer.fpga;

import static org.shiftformer.fpga.FpgaLayout.*;
import static org.shiftformer.fpga.KernelRunner.INT_LE;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import org.shiftformer.api.DType;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtDevice;
import org.shiftformer.fpga.xrt.XrtKernel;

/**
 * SPEC.md's ops run one by one on the card through the kernel's op-level entry points (op codes 16-20),
 * so the conformance kit checks each op of the HLS source against the scalar reference. Operands travel
 * widened to int32. A test and debugging path: its buffers grow on demand (the model path never
 * reallocates). Thread-safe (one call at a time).
 */
final class FpgaKernels implements IntKernels, AutoCloseable {
    private final XrtDevice device;
    private final XrtKernel kernel;
    private final Duration timeout;
    private final XrtBuffer placeholder;
    private XrtBuffer in;
    private XrtBuffer out;
    private XrtBuffer scratch;
    private MemorySegment inMap;
    private MemorySegment outMap;
    private KernelRunner runner;

    FpgaKernels(XrtDevice device, XrtKernel kernel, FpgaSettings settings) {
        this.device = device;
        this.kernel = kernel;
        this.timeout = Duration.ofMillis(settings.timeoutMs());
        this.placeholder = device.alloc(64, kernel.groupId(ARG_WEIGHTS));
    }

    /** Makes room for {@code inWords} operand words, {@code outWords} result words and {@code scratchBytes}. */
    private void ensure(long inWords, long outWords, long scratchBytes) {
        long inBytes = 4 * (IN_HDR + inWords);
        long outBytes = 4 * (OUT_HDR + outWords);
        boolean grown = false;
        if (in == null || in.size() < inBytes) {
            close(in);
            in = device.alloc(Math.max(inBytes, 1 << 16), kernel.groupId(ARG_IN));
            inMap = in.map();
            grown = true;
        }
        if (out == null || out.size() < outBytes) {
            close(out);
            out = device.alloc(Math.max(outBytes, 1 << 16), kernel.groupId(ARG_OUT));
            outMap = out.map();
            grown = true;
        }
        if (scratch == null || scratch.size() < scratchBytes) {
            close(scratch);
            scratch = device.alloc(Math.max(scratchBytes, 1 << 16), kernel.groupId(ARG_SCRATCH));
            grown = true;
        }
        if (grown) {
            runner = new KernelRunner(kernel, timeout, placeholder, placeholder, placeholder, in, out, scratch, placeholder);
        }
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

    private void run(int op, long inWords, long outWords, String what) {
        in.syncToDevice(4 * (IN_HDR + inWords), 0);
        runner.run(op, 1, 0, what);
        out.syncFromDevice(4 * outWords, 4L * OUT_HDR);
    }

    private int result(long i) {
        return outMap.get(INT_LE, 4 * (OUT_HDR + i));
    }

    @Override
    public synchronized void linear(byte[] x, int rows, int k, boolean unsignedInput, byte[] w, int n, int[] bias, int[] acc) {
        long xs = (long) rows * k;
        long ws = (long) n * k;
        ensure(xs + ws + n, (long) rows * n, xs + ws + 4L * n);
        params(rows, k, unsignedInput ? 1 : 0, n, bias != null ? 1 : 0);
        // the kernel narrows each word to int8: a uint8 operand travels as its byte pattern
        operands(0, java.util.Arrays.copyOf(x, (int) xs), false);
        operands(xs, java.util.Arrays.copyOf(w, (int) ws), false);
        operands(xs + ws, bias != null ? bias : new int[n], n);
        run(OP_LINEAR, xs + ws + n, (long) rows * n, "op LINEAR");
        MemorySegment.copy(outMap, INT_LE, 4L * OUT_HDR, acc, 0, rows * n);
    }

    @Override
    public synchronized void requantize(int[] acc, int len, int shift, DType outType, byte[] out) {
        ensure(len, len, 0);
        params(len, shift, outType == DType.UINT8 ? 1 : 0);
        operands(0, acc, len);
        run(OP_REQUANT, len, len, "op REQUANT");
        for (int i = 0; i < len; i++) {
            out[i] = (byte) result(i);
        }
    }

    @Override
    public synchronized void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs) {
        long words = rows + 64L + (long) rows * len;
        ensure(words, (long) rows * len, 5L * len);
        params(rows, len, scoreExp);
        operands(0, validLen, rows);
        operands(rows, lut, 64);
        operands(rows + 64L, scores, rows * len);
        run(OP_SOFTMAX, words, (long) rows * len, "op SOFTMAX2");
        for (int i = 0; i < rows * len; i++) {
            probs[i] = (byte) result(i);
        }
    }

    @Override
    public synchronized void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp,
                                       byte[] out) {
        long words = 2L * d + (long) rows * d;
        ensure(words, (long) rows * d, 9L * d);
        params(rows, d, gammaExp, outExp);
        operands(0, java.util.Arrays.copyOf(gamma, d));
        operands(d, beta, d);
        operands(2L * d, java.util.Arrays.copyOf(x, rows * d));
        run(OP_LAYERNORM, words, (long) rows * d, "op LAYERNORM");
        for (int i = 0; i < rows * d; i++) {
            out[i] = (byte) result(i);
        }
    }

    @Override
    public synchronized void residual(short[] r, int rExp, int[] acc, int accExp, int outExp, int len, short[] out) {
        ensure(2L * len, len, 0);
        params(len, rExp, accExp, outExp);
        operands(0, java.util.Arrays.copyOf(r, len));
        operands(len, acc, len);
        run(OP_RESIDUAL, 2L * len, len, "op RESIDUAL");
        for (int i = 0; i < len; i++) {
            out[i] = (short) result(i);
        }
    }

    private static void close(XrtBuffer bo) {
        if (bo != null) {
            bo.close();
        }
    }

    /** Frees the buffers. */
    @Override
    public synchronized void close() {
        close(in);
        close(out);
        close(scratch);
        close(placeholder);
        in = null;
        out = null;
        scratch = null;
    }
}
