package org.shiftformer.api;

/**
 * Hyper-parameters of an encoder-decoder model (SPEC.md section 2).
 *
 * @param dModel         width of the residual stream
 * @param heads          attention heads; {@code dModel / heads} is d_k
 * @param dFf            hidden width of the feed-forward layers
 * @param encoderLayers  encoder layers
 * @param decoderLayers  decoder layers
 * @param vocabSize      rows of the tied embedding table
 * @param maxPositions   rows of the positional table: the longest source, and one more than the longest output
 * @param embedScaleLog2 the embedding is multiplied by {@code 2^embedScaleLog2}
 * @param padId          padding token id
 * @param bosId          begin-of-sequence id (the first decoder input)
 * @param eosId          end-of-sequence id
 */
public record ModelConfig(int dModel, int heads, int dFf, int encoderLayers, int decoderLayers, int vocabSize,
                          int maxPositions, int embedScaleLog2, int padId, int bosId, int eosId) {

    /** SPEC.md section 8. */
    public static final int MAX_D_MODEL = 1024;
    public static final int MAX_D_FF = 65536;
    public static final int MAX_POSITIONS = 8192;
    public static final int MAX_VOCAB = 1 << 20;
    public static final int MAX_LAYERS = 64;
    /** {@code embed_scale_log2} range: a non-negative power of two scale, the stand-in for {@code sqrt(d_model)}. */
    public static final int MIN_EMBED_SCALE_LOG2 = 0;
    public static final int MAX_EMBED_SCALE_LOG2 = 16;

    /** d_k, the width of one head. */
    public int dHead() {
        return dModel / heads;
    }

    /**
     * Checks every bound of SPEC.md section 8 that depends on the hyper-parameters alone.
     *
     * @throws ShiftformerException with {@link ErrorCode#INVALID_ARTIFACT} naming the first violated bound
     */
    public ModelConfig validate() {
        check(dModel >= 2 && dModel <= MAX_D_MODEL && Integer.bitCount(dModel) == 1,
                "d_model " + dModel + " must be a power of two in [2, " + MAX_D_MODEL + "]");
        check(heads >= 1 && dModel % heads == 0 && Integer.bitCount(heads) == 1,
                "heads " + heads + " must be a power of two dividing d_model " + dModel);
        check(dFf >= 1 && dFf <= MAX_D_FF, "d_ff " + dFf + " must be in [1, " + MAX_D_FF + "]");
        check(encoderLayers >= 1 && encoderLayers <= MAX_LAYERS,
                "encoder_layers " + encoderLayers + " must be in [1, " + MAX_LAYERS + "]");
        check(decoderLayers >= 1 && decoderLayers <= MAX_LAYERS,
                "decoder_layers " + decoderLayers + " must be in [1, " + MAX_LAYERS + "]");
        check(vocabSize >= 4 && vocabSize <= MAX_VOCAB, "vocab_size " + vocabSize + " must be in [4, " + MAX_VOCAB + "]");
        check(maxPositions >= 2 && maxPositions <= MAX_POSITIONS,
                "max_positions " + maxPositions + " must be in [2, " + MAX_POSITIONS + "]");
        check(embedScaleLog2 >= MIN_EMBED_SCALE_LOG2 && embedScaleLog2 <= MAX_EMBED_SCALE_LOG2, "embed_scale_log2 "
                + embedScaleLog2 + " must be in [" + MIN_EMBED_SCALE_LOG2 + ", " + MAX_EMBED_SCALE_LOG2 + "]");
        for (int id : new int[] {padId, bosId, eosId}) {
            check(id >= 0 && id < vocabSize, "special token id " + id + " is outside the vocabulary of " + vocabSize);
        }
        check(padId != bosId && padId != eosId && bosId != eosId,
                "special ids pad " + padId + ", bos " + bosId + ", eos " + eosId + " must differ");
        return this;
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "model config: " + message);
        }
    }
}
