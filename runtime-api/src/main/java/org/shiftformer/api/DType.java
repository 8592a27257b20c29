package org.shiftformer.api;

/** Integer element types of tensors in an artifact and on a backend. */
public enum DType {
    INT8(1, -128, 127),
    UINT8(1, 0, 255),
    INT16(2, -32768, 32767),
    INT32(4, Integer.MIN_VALUE, Integer.MAX_VALUE);

    private final int byteSize;
    private final long min;
    private final long max;

    DType(int byteSize, long min, long max) {
        this.byteSize = byteSize;
        this.min = min;
        this.max = max;
    }

    /** Bytes per element in the little-endian artifact encoding. */
    public int byteSize() {
        return byteSize;
    }

    /** Smallest representable value. */
    public long min() {
        return min;
    }

    /** Largest representable value. */
    public long max() {
        return max;
    }
}
