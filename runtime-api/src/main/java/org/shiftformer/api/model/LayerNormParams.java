package org.shiftformer.api.model;

/** One LAYERNORM (SPEC.md 3.7): gamma int16 at {@code gammaExp}, beta int32 at {@code gammaExp - 12}, output int8 at {@code outExp}. */
public record LayerNormParams(String name, short[] gamma, int[] beta, int gammaExp, int outExp) {
}
