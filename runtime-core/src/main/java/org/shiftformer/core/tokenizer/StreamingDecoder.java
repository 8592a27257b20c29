package org.shiftformer.core.tokenizer;

import java.util.Objects;

/**
 * Turns token ids into text as they are produced, for streaming to users.
 *
 * <p>{@link #push(int)} returns the text that became complete with that id. A trailing incomplete
 * UTF-8 sequence (a lead byte followed only by valid continuation bytes, fewer than it needs: at most
 * 3 bytes) is held back until the bytes that complete it, or show it to be malformed, arrive; every
 * other byte is decoded at once, because its decoding cannot depend on later bytes. Special ids
 * produce no text and do not interrupt a held-back sequence (they contribute no bytes, as in
 * {@link ByteBpeTokenizer#decode(int[])}). {@link #finish()} flushes what is held back: an incomplete
 * sequence at the very end becomes U+FFFD, exactly as the batch decoder treats it.
 *
 * <p>Invariant: the concatenation of all {@code push} results and the {@code finish} result equals
 * {@code tokenizer.decode(allIds)}. After {@code finish()} the decoder is empty and can be reused.
 *
 * <p>Apart from the returned string, {@code push} allocates nothing: the bytes go through one buffer
 * of {@code 3 + maxTokenBytes} bytes and one char buffer, both reused. Not thread-safe: one instance
 * per stream.
 */
public final class StreamingDecoder {
    private final ByteBpeTokenizer tokenizer;
    private final byte[] buf;
    private final char[] chars;
    private int pending;

    /** A decoder for ids of {@code tokenizer}. */
    public StreamingDecoder(ByteBpeTokenizer tokenizer) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.buf = new byte[3 + tokenizer.maxTokenBytes()];
        this.chars = new char[buf.length];
    }

    /**
     * Appends the bytes of {@code id} and returns the text that became complete ({@code ""} if none).
     *
     * @throws org.shiftformer.api.ShiftformerException {@link org.shiftformer.api.ErrorCode#INVALID_ARGUMENT}
     *     if {@code id} is outside the vocabulary; the decoder is then unchanged
     */
    public String push(int id) {
        tokenizer.checkId(id, -1);
        if (ByteBpeTokenizer.isSpecial(id)) {
            return "";
        }
        int total = tokenizer.writeBytes(id, buf, pending);
        int cut = Utf8.incompleteTailStart(buf, total);
        String text = cut == 0 ? "" : new String(chars, 0, Utf8.decodeInto(buf, 0, cut, chars));
        pending = total - cut;
        if (pending > 0 && cut > 0) {
            System.arraycopy(buf, cut, buf, 0, pending);
        }
        return text;
    }

    /** Returns the text of the held-back bytes (U+FFFD for an incomplete sequence) and empties the decoder. */
    public String finish() {
        String text = pending == 0 ? "" : new String(chars, 0, Utf8.decodeInto(buf, 0, pending, chars));
        pending = 0;
        return text;
    }

    /** The number of bytes held back (0 to 3). */
    public int pendingBytes() {
        return pending;
    }
}
