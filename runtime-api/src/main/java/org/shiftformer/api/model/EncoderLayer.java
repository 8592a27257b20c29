package org.shiftformer.api.model;

/** One pre-LN encoder layer (SPEC.md 2.1). {@code ffn2.outExp()} is the residual output exponent. */
public record EncoderLayer(LayerNormParams ln1, Attention attn, LayerNormParams ln2, Linear ffn1, Linear ffn2) {
}
