package org.shiftformer.client;

import org.shiftformer.api.ShiftformerException;

/**
 * Receives one request's events, on the connection's event loop (do not block in it): every token in
 * order, then exactly one of {@link #onDone} and {@link #onError}. If {@link #onToken} throws, the client
 * cancels the request on the server and fails it with that exception as the cause.
 */
@FunctionalInterface
public interface TranslationListener {
    /** A listener that ignores every event. */
    TranslationListener NONE = token -> { };

    /** One streamed token. */
    void onToken(TokenEvent token);

    /** The request completed (its Done frame). */
    default void onDone(Translation result) {
    }

    /**
     * The request failed: the server's Error (its {@link ShiftformerException#code()}), its Cancelled
     * ({@link RequestCancelledException}), or the connection was lost ({@code IO_ERROR}).
     */
    default void onError(ShiftformerException error) {
    }
}
