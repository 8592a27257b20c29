package org.shiftformer.sim;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.EncodedSource;

/**
 * An encoded source on the simulator: the int8 encoder memory and, per decoder layer, the
 * cross-attention keys (transposed, {@code [d][nPad]}, so one head's keys are contiguous per column)
 * and values ({@code [n][d]}), computed once by the encoder run.
 */
final class SimSource implements EncodedSource {
    final SimModel owner;
    final int length;
    /** Row length of {@link #crossKT}: {@code length} rounded up to 8 (vector width of the score kernel). */
    final int nPad;
    final byte[] memory;
    final byte[][] crossKT;
    final byte[][] crossV;
    private int openStates;
    private boolean closed;

    SimSource(SimModel owner, int length, int d, int decoderLayers) {
        this.owner = owner;
        this.length = length;
        this.nPad = (length + 7) & ~7;
        this.memory = new byte[length * d];
        this.crossKT = new byte[decoderLayers][d * nPad];
        this.crossV = new byte[decoderLayers][length * d];
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public byte[] memory() {
        return memory.clone();
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
    public synchronized void close() {
        if (closed) {
            return;
        }
        if (openStates > 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "encoded source is still used by " + openStates + " open decoder state(s); close them first");
        }
        closed = true;
    }
}
