package org.shiftformer.sim.kernel;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * An int8 weight matrix {@code W[n][k]} (row {@code o} is the weight vector of output {@code o}) packed
 * once, at model load, into the layout {@link Int8Gemm}'s micro-kernels stream, together with the
 * per-output constant that turns the kernels' biased int16 partial sums back into the exact int32
 * accumulator {@code b[o] + sum_i x[i] * W[o][i]}.
 *
 * <pre>
 * Outputs are grouped in blocks of 8 ({@code nBlocks = ceil(n / 8)}), the reduction dimension in quads
 * of 4 ({@code quads = ceil(k / 4)}); missing outputs and inputs are zero weights.
 *
 *   data[(nb * quads + q) * 32 + half * 16 + 2 * j + e] = W[8 * nb + j][4 * q + 2 * half + e]
 *        nb: output block   q: quad   half: 0 or 1   j: output in block 0..7   e: 0 or 1
 *
 *   one quad of one block, 32 bytes:
 *   | w0[4q] w0[4q+1] w1[4q] w1[4q+1] ... w7[4q] w7[4q+1] | w0[4q+2] w0[4q+3] ... w7[4q+2] w7[4q+3] |
 *   |<---------- 16 bytes: k pair (4q, 4q+1) ------------>|<-------- k pair (4q+2, 4q+3) --------->|
 *
 *   adj[o] = b[o] - 2 * OFFSET * quads + (unsigned input ? 128 * sum_i W[o][i] : 0)      (mod 2^32)
 * </pre>
 *
 * The same layout is also kept widened to int16 ({@code wide}, 2 bytes per weight): the 4-row kernel,
 * which is compute-bound, then needs no widening instruction, while the 1-row kernels, which are
 * bound by memory bandwidth, stream the int8 copy.
 *
 * <p>Widened to int16, each 16-byte half lines up with an int32 broadcast of two consecutive inputs
 * (see {@link Int8Gemm}), so one 16-lane int16 multiply forms 16 products of 8 outputs.
 */
public final class PackedWeights {
    /** Bytes per (output block, quad): 8 outputs x 4 inputs. */
    public static final int QUAD_BYTES = 32;
    /** Outputs per block: one int32 vector of 8 lanes. */
    public static final int BLOCK = 8;

    private final int n;
    private final int k;
    private final int quads;
    private final int nBlocks;
    private final boolean unsignedInput;
    private final byte[] data;
    /** {@link #data} widened to int16: the 4-row kernel loads it without a widening instruction. */
    private final short[] wide;
    private final int[] adj;

    private PackedWeights(int n, int k, boolean unsignedInput, byte[] data, int[] adj) {
        this.n = n;
        this.k = k;
        this.quads = quadsFor(k);
        this.nBlocks = (n + BLOCK - 1) / BLOCK;
        this.unsignedInput = unsignedInput;
        this.data = data;
        this.wide = new short[data.length];
        for (int i = 0; i < data.length; i++) {
            wide[i] = data[i];
        }
        this.adj = adj;
    }

    /** Number of k quads for a reduction length {@code k}. */
    public static int quadsFor(int k) {
        return (k + 3) >>> 2;
    }

    /**
     * Packs {@code w[n][k]} (row-major from {@code wOff}) with optional {@code bias[n]}.
     *
     * @param unsignedInput true when the inputs multiplied with these weights are uint8
     */
    public static PackedWeights pack(byte[] w, int wOff, int n, int k, int[] bias, boolean unsignedInput) {
        if (n < 1 || k < 1) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "weight shape [" + n + ", " + k + "] must be positive");
        }
        if (bias != null && bias.length < n) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "bias has " + bias.length + " entries for " + n + " outputs");
        }
        int quads = quadsFor(k);
        int nBlocks = (n + BLOCK - 1) / BLOCK;
        byte[] data = new byte[Math.multiplyExact(nBlocks * quads, QUAD_BYTES)];
        int[] adj = new int[nBlocks * BLOCK];
        for (int o = 0; o < n; o++) {
            int nb = o / BLOCK;
            int j = o % BLOCK;
            int sum = 0;
            for (int i = 0; i < k; i++) {
                byte v = w[wOff + o * k + i];
                int q = i >>> 2;
                int r = i & 3;
                data[(nb * quads + q) * QUAD_BYTES + (r >>> 1) * 16 + 2 * j + (r & 1)] = v;
                sum += v;
            }
            int a = (bias == null ? 0 : bias[o]) - 2 * Int8Gemm.OFFSET * quads;
            if (unsignedInput) {
                a += 128 * sum;
            }
            adj[o] = a;
        }
        return new PackedWeights(n, k, unsignedInput, data, adj);
    }

    /** Outputs. */
    public int n() {
        return n;
    }

    /** Inputs (the reduction length). */
    public int k() {
        return k;
    }

    /** {@code ceil(k / 4)}. */
    public int quads() {
        return quads;
    }

    /** {@code ceil(n / 8)}. */
    public int nBlocks() {
        return nBlocks;
    }

    /** Whether the inputs are uint8 (otherwise int8). */
    public boolean unsignedInput() {
        return unsignedInput;
    }

    /** Bytes of packed weights as held in memory (int8 and int16 copies and the output constants). */
    public long byteSize() {
        return 3L * data.length + 4L * adj.length;
    }

    byte[] data() {
        return data;
    }

    short[] wide() {
        return wide;
    }

    int[] adj() {
        return adj;
    }
}
