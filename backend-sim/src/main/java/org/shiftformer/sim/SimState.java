package org.shiftformer.sim;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;

/**
 * One hypothesis on the simulator: a preallocated self-attention KV cache per decoder layer. Keys are
 * kept transposed, {@code kT[layer][c * capPad + j]} = column {@code c} of key {@code j}, so the scores of
 * one query against all cached keys are a vector-times-matrix product over contiguous keys; values are
 * rows, {@code v[layer][j * d + c]}.
 */
final class SimState implements DecoderState {
    final SimModel owner;
    final SimSource source;
    final int capacity;
    /** {@code capacity} rounded up to 8. */
    final int capPad;
    final int d;
    final byte[][] kT;
    final byte[][] v;
    int position;
    /** The decoder step that last fed this state: rejects a state listed twice in one step. */
    long stamp = -1;
    private boolean closed;

    SimState(SimModel owner, SimSource source, int capacity, int d, int layers) {
        this.owner = owner;
        this.source = source;
        this.capacity = capacity;
        this.capPad = (capacity + 7) & ~7;
        this.d = d;
        this.kT = new byte[layers][d * capPad];
        this.v = new byte[layers][capacity * d];
        source.attach();
    }

    @Override
    public int position() {
        return position;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public EncodedSource source() {
        return source;
    }

    boolean isClosed() {
        return closed;
    }

    void checkOpen() {
        if (closed) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder state is closed");
        }
    }

    @Override
    public DecoderState fork() {
        checkOpen();
        SimState s = new SimState(owner, source, capacity, d, kT.length);
        s.copyFrom(this);
        return s;
    }

    @Override
    public void copyFrom(DecoderState other) {
        checkOpen();
        if (!(other instanceof SimState o) || o.owner != owner) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "copyFrom needs a decoder state of the same model");
        }
        o.checkOpen();
        if (o.source != source || o.capacity != capacity) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "copyFrom needs a state of the same source and capacity");
        }
        if (o == this) {
            return;
        }
        int used = o.position;
        for (int l = 0; l < kT.length; l++) {
            byte[] src = o.kT[l];
            byte[] dst = kT[l];
            for (int c = 0; c < d; c++) {
                System.arraycopy(src, c * capPad, dst, c * capPad, used);
            }
            System.arraycopy(o.v[l], 0, v[l], 0, used * d);
        }
        position = used;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            source.detach();
        }
    }
}
