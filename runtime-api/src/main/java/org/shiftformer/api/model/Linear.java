package org.shiftformer.api.model;

/**
 * One LINEAR (SPEC.md 3.2): {@code weight} int8 {@code [n, k]} at {@code weightExp}, {@code bias} int32 {@code [n]}
 * at the accumulator exponent {@code inExp + weightExp}, and {@code outExp}, the requantized output's
 * exponent (int8/uint8) or, before a residual add, the residual output's exponent (int16).
 */
public record Linear(String name, int n, int k, byte[] weight, int weightExp, int[] bias, int inExp, int outExp,
                     boolean unsignedInput) {
    /** Exponent of the int32 accumulator. */
    public int accExp() {
        return inExp + weightExp;
    }

    /** The requantization shift {@code outExp - accExp()}. */
    public int shift() {
        return outExp - accExp();
    }
}
