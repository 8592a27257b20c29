package org.shiftformer.core.decode;

/**
 * Receives tokens as they become final. For greedy decoding that is every step; for beam search a token
 * is final once every live and finished hypothesis of the sequence shares it, so tokens arrive in
 * bursts and the rest at the end. Called on the decoding thread; must not block.
 */
@FunctionalInterface
public interface TokenListener {
    /**
     * @param sequence     index of the sequence in the batch
     * @param token        token id (never EOS)
     * @param index        position of the token in the output (0-based)
     * @param deviceCycles modelled device cycles of the steps since the previous token of this sequence
     */
    void onToken(int sequence, int token, int index, long deviceCycles);

    TokenListener NONE = (s, t, i, c) -> { };
}
