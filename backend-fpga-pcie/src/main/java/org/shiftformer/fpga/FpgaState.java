package org.shiftformer.fpga;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;

/**
 * One hypothesis on the card: a slot of the model's KV-cache buffer (self-attention K and V of every
 * decoder layer, {@code max_positions} rows) and the position fed next. Fork and copy run on the device
 * (op COPY_KV): the cache never crosses PCIe.
 */
final class FpgaState implements DecoderState {
    final FpgaModel owner;
    final FpgaSource source;
    final int slot;
    final int capacity;
    int position;
    /** The decoder step that last fed this state: rejects a state listed twice in one step. */
    long stamp = -1;
    private boolean closed;

    FpgaState(FpgaModel owner, FpgaSource source, int slot, int capacity) {
        this.owner = owner;
        this.source = source;
        this.slot = slot;
        this.capacity = capacity;
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

    void checkOpen() {
        if (closed) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "decoder state is closed");
        }
    }

    @Override
    public DecoderState fork() {
        checkOpen();
        FpgaState s = owner.newState(source, capacity);
        try {
            s.copyFrom(this);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    @Override
    public void copyFrom(DecoderState other) {
        checkOpen();
        if (!(other instanceof FpgaState o) || o.owner != owner) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "copyFrom needs a decoder state of the same model");
        }
        o.checkOpen();
        if (o.source != source || o.capacity != capacity) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "copyFrom needs a state of the same source and capacity");
        }
        if (o == this) {
            return;
        }
        owner.copyCache(o, this);
        position = o.position;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            source.detach();
            owner.releaseState(slot);
        }
    }
}
