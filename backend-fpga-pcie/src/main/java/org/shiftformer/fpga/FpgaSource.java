package org.shiftformer.fpga;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.EncodedSource;

/**
 * An encoded source resident on the card: one slot of the model's source buffer holding the encoder
 * memory and every decoder layer's cross-attention K and V. Closing it frees the slot; it cannot close
 * while decoder states use it.
 */
final class FpgaSource implements EncodedSource {
    final FpgaModel owner;
    final int slot;
    final int length;
    private int openStates;
    private boolean closed;

    FpgaSource(FpgaModel owner, int slot, int length) {
        this.owner = owner;
        this.slot = slot;
        this.length = length;
    }

    @Override
    public int length() {
        return length;
    }

    /** Reads the memory back from the device (a sync of {@code length * d_model} bytes). */
    @Override
    public byte[] memory() {
        checkOpen();
        return owner.readMemory(this);
    }

    synchronized void attach() {
        checkOpen();
        openStates++;
    }

    synchronized void detach() {
        openStates--;
    }

    synchronized void checkOpen() {
        if (closed) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "encoded source is closed");
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            if (openStates > 0) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "encoded source is still used by " + openStates + " open decoder state(s); close them first");
            }
            closed = true;
        }
        owner.releaseSource(slot);
    }
}
