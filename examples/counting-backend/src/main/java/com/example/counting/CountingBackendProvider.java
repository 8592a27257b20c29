package com.example.counting;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.LongAdder;
import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Capabilities;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.spec.ReferenceBackendProvider;

/**
 * Backend {@code counting}: the reference backend of runtime-api, with every op it is asked for counted
 * (its identity reports the counts). A template for a real port: implement {@link IntKernels} and
 * {@link LoadedModel} for your device and keep the rest.
 *
 * <p>Setting {@code break=requantize-ties} rounds requantization ties down instead of up: a deliberately
 * broken variant, to see what {@code shiftformer conformance} says about one changed rounding.
 */
public final class CountingBackendProvider implements BackendProvider {
    private final ReferenceBackendProvider reference = new ReferenceBackendProvider();

    @Override
    public int spiVersion() {
        return SPI_VERSION; // the compiler copies the constant of the runtime-api this was built against
    }

    @Override
    public String name() {
        return "counting";
    }

    @Override
    public int rank() {
        return -50; // never chosen by default
    }

    @Override
    public Availability availability() {
        return reference.availability();
    }

    @Override
    public Capabilities capabilities() {
        return reference.capabilities();
    }

    @Override
    public Backend open(Map<String, String> settings) {
        Map<String, String> rest = new HashMap<>(settings);
        String fault = rest.remove("break");
        if (fault != null && !fault.equals("requantize-ties")) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "counting: break=" + fault
                    + " is not a fault it has (requantize-ties)");
        }
        Backend inner = reference.open(rest);
        IntKernels kernels = inner.kernels().orElseThrow();
        return new CountingBackend(inner, new CountingKernels(kernels, fault != null));
    }

    /** The reference backend, its kernels counted. */
    private record CountingBackend(Backend inner, CountingKernels counted) implements Backend {
        @Override
        public BackendIdentity identity() {
            BackendIdentity id = inner.identity();
            return new BackendIdentity("counting", id.device(), "1.0.0 over " + id.backend() + " " + id.version()
                    + (counted.breakTies ? " (break=requantize-ties)" : "") + "; " + counted.counts());
        }

        @Override
        public LoadedModel load(QuantizedModel model) {
            return inner.load(model);
        }

        @Override
        public Optional<IntKernels> kernels() {
            return Optional.of(counted);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /** Counts each op, then runs the reference's. */
    static final class CountingKernels implements IntKernels {
        private final IntKernels r;
        private final boolean breakTies;
        final LongAdder linear = new LongAdder();
        final LongAdder requantize = new LongAdder();
        final LongAdder softmax = new LongAdder();
        final LongAdder layerNorm = new LongAdder();
        final LongAdder residual = new LongAdder();

        CountingKernels(IntKernels r, boolean breakTies) {
            this.r = r;
            this.breakTies = breakTies;
        }

        String counts() {
            return "ops: linear " + linear.sum() + ", requantize " + requantize.sum() + ", softmax " + softmax.sum()
                    + ", layerNorm " + layerNorm.sum() + ", residual " + residual.sum();
        }

        @Override
        public void linear(byte[] x, int rows, int k, boolean unsignedInput, byte[] w, int n, int[] bias, int[] acc) {
            linear.increment();
            r.linear(x, rows, k, unsignedInput, w, n, bias, acc);
        }

        @Override
        public void requantize(int[] acc, int len, int shift, DType outType, byte[] out) {
            requantize.increment();
            r.requantize(acc, len, shift, outType, out);
            if (breakTies && shift > 0) {
                for (int i = 0; i < len; i++) {
                    boolean tie = (acc[i] & ((1 << shift) - 1)) == 1 << (shift - 1);
                    if (tie && out[i] != Byte.MIN_VALUE && out[i] != 0) {
                        out[i]--; // rounded down instead of up
                    }
                }
            }
        }

        @Override
        public void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs) {
            softmax.increment();
            r.softmax2(scores, rows, len, validLen, scoreExp, lut, probs);
        }

        @Override
        public void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp, byte[] out) {
            layerNorm.increment();
            r.layerNorm(x, rows, d, gamma, beta, gammaExp, outExp, out);
        }

        @Override
        public void residual(short[] res, int rExp, int[] acc, int accExp, int outExp, int len, short[] out) {
            residual.increment();
            r.residual(res, rExp, acc, accExp, outExp, len, out);
        }
    }
}
