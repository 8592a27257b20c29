package org.shiftformer.api;

import org.shiftformer.api.spec.IntOps;

/**
 * Decoding parameters (SPEC.md section 5).
 *
 * @param beamWidth     1 for greedy, more for beam search
 * @param maxNewTokens  generated tokens including the EOS; at most {@code max_positions - 1}
 * @param lengthPenalty GNMT alpha in [0, 2] (beam search only), carried as {@code alpha_q8}
 */
public record DecodeParams(int beamWidth, int maxNewTokens, double lengthPenalty) {
    public static final int MAX_BEAM = 64;

    public DecodeParams {
        if (beamWidth < 1 || beamWidth > MAX_BEAM) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "beam width " + beamWidth + " must be in [1, " + MAX_BEAM + "]");
        }
        if (maxNewTokens < 1) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "max new tokens " + maxNewTokens + " must be >= 1");
        }
        IntOps.alphaQ8(lengthPenalty); // validates the range
    }

    public static DecodeParams greedy(int maxNewTokens) {
        return new DecodeParams(1, maxNewTokens, 0);
    }

    public static DecodeParams beam(int width, int maxNewTokens, double lengthPenalty) {
        return new DecodeParams(width, maxNewTokens, lengthPenalty);
    }

    /** The length penalty as SPEC.md's {@code alpha_q8}. */
    public int alphaQ8() {
        return IntOps.alphaQ8(lengthPenalty);
    }

    @Override
    public String toString() {
        return beamWidth == 1 ? "greedy(max " + maxNewTokens + ")"
                : "beam(" + beamWidth + ", max " + maxNewTokens + ", alpha " + lengthPenalty + ")";
    }
}
