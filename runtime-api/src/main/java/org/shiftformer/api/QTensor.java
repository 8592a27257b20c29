package org.shiftformer.api;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * An immutable integer tensor: {@code value = element · 2^exponent}. The elements live in a read-only
 * little-endian {@link MemorySegment}, which may be a slice of a memory-mapped artifact (no copy) or a
 * heap array. Backends copy what they need into their own layout when a model is loaded.
 *
 * @param name     the artifact name, e.g. {@code enc.0.attn.q.weight}
 * @param dtype    element type
 * @param shape    dimensions, row-major; every entry is positive
 * @param exponent the power-of-two exponent of one unit
 * @param data     exactly {@code elementCount() * dtype.byteSize()} bytes
 */
public record QTensor(String name, DType dtype, int[] shape, int exponent, MemorySegment data) {
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT_LE =
            ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public QTensor {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
        long count = 1;
        for (int d : shape) {
            if (d <= 0) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "tensor " + name + ": dimension " + d + " in shape " + Arrays.toString(shape) + " is not positive");
            }
            count = Math.multiplyExact(count, d);
        }
        if (data.byteSize() != count * dtype.byteSize()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "tensor " + name + ": " + data.byteSize()
                    + " bytes of data for shape " + Arrays.toString(shape) + " of " + dtype + " (expected "
                    + count * dtype.byteSize() + ")");
        }
        data = data.asReadOnly();
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code i}. */
    public int dim(int i) {
        return shape[i];
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Product of the dimensions. */
    public int elementCount() {
        return (int) (data.byteSize() / dtype.byteSize());
    }

    /** Element {@code i} (row-major flat index) as a signed value of its type. */
    public int get(int i) {
        return switch (dtype) {
            case INT8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case UINT8 -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFF;
            case INT16 -> data.get(SHORT_LE, 2L * i);
            case INT32 -> data.get(INT_LE, 4L * i);
        };
    }

    /** A copy of the elements of an INT8 or UINT8 tensor. */
    public byte[] toByteArray() {
        requireByteSize(1);
        return data.toArray(ValueLayout.JAVA_BYTE);
    }

    /** A copy of the elements of an INT16 tensor. */
    public short[] toShortArray() {
        requireByteSize(2);
        return data.toArray(SHORT_LE);
    }

    /** A copy of the elements of an INT32 tensor. */
    public int[] toIntArray() {
        requireByteSize(4);
        return data.toArray(INT_LE);
    }

    private void requireByteSize(int size) {
        if (dtype.byteSize() != size) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "tensor " + name + " is " + dtype);
        }
    }

    /** An INT8 tensor over a copy of {@code values}. */
    public static QTensor int8(String name, int[] shape, int exponent, byte[] values) {
        return new QTensor(name, DType.INT8, shape, exponent, MemorySegment.ofArray(values.clone()));
    }

    /** An INT16 tensor over a little-endian copy of {@code values}. */
    public static QTensor int16(String name, int[] shape, int exponent, short[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 2]);
        for (int i = 0; i < values.length; i++) {
            seg.set(SHORT_LE, 2L * i, values[i]);
        }
        return new QTensor(name, DType.INT16, shape, exponent, seg);
    }

    /** An INT32 tensor over a little-endian copy of {@code values}. */
    public static QTensor int32(String name, int[] shape, int exponent, int[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        for (int i = 0; i < values.length; i++) {
            seg.set(INT_LE, 4L * i, values[i]);
        }
        return new QTensor(name, DType.INT32, shape, exponent, seg);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof QTensor t && name.equals(t.name) && dtype == t.dtype && exponent == t.exponent
                && Arrays.equals(shape, t.shape) && data.mismatch(t.data) == -1;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, exponent, Arrays.hashCode(shape), data.byteSize());
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " e=" + exponent;
    }
}
