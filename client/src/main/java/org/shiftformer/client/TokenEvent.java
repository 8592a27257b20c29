package org.shiftformer.client;

/**
 * One output token as the server streamed it (a Token frame, PROTOCOL.md section 4).
 *
 * @param requestId    the request it belongs to (unsigned)
 * @param token        token id (never the EOS)
 * @param text         the UTF-8 text that became complete with this token (may be empty)
 * @param index        0, 1, 2, ... without gaps
 * @param deviceCycles modelled datapath cycles since the previous token of the request
 */
public record TokenEvent(long requestId, int token, String text, int index, long deviceCycles) {
}
