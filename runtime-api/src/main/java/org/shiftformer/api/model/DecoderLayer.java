package org.shiftformer.api.model;

/** One pre-LN decoder layer (SPEC.md 2.2). {@code ffn2.outExp()} is the residual output exponent. */
public record DecoderLayer(LayerNormParams ln1, Attention self, LayerNormParams ln2, Attention cross,
                           LayerNormParams ln3, Linear ffn1, Linear ffn2) {
}
