package org.shiftformer.api.spec;

import org.shiftformer.api.DType;

/** The sinusoidal positional table of SPEC.md 3.1, int8 at exponent {@link #EXPONENT}. */
public final class PositionalTable {
    public static final int EXPONENT = -7;

    private PositionalTable() {
    }

    /** {@code [positions, d]} row-major. */
    public static byte[] build(int positions, int d) {
        byte[] table = new byte[positions * d];
        for (int pos = 0; pos < positions; pos++) {
            for (int i = 0; i < d; i += 2) {
                double angle = pos / StrictMath.pow(10000.0, (double) i / d);
                table[pos * d + i] = quantize(StrictMath.sin(angle));
                if (i + 1 < d) {
                    table[pos * d + i + 1] = quantize(StrictMath.cos(angle));
                }
            }
        }
        return table;
    }

    private static byte quantize(double v) {
        return (byte) IntOps.sat((long) Math.floor(v * 128 + 0.5), DType.INT8);
    }
}
