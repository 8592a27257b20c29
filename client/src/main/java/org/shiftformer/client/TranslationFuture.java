package org.shiftformer.client;

import java.util.concurrent.CompletableFuture;

/**
 * The result of {@link ShiftformerClient#translate}: completes with the {@link Translation}, or
 * exceptionally with the request's {@link org.shiftformer.api.ShiftformerException}.
 *
 * <p>Two ways to cancel: {@link #requestCancel()} sends a Cancel and lets the server's answer complete the
 * future ({@link RequestCancelledException}, or the result if the request finished first: exactly one
 * outcome, the server's); {@link #cancel(boolean)} also sends a Cancel but, as {@link CompletableFuture}
 * requires, completes the future at once with a {@link java.util.concurrent.CancellationException}.
 * Either way the request id stays reserved until the server's terminal frame arrives.
 */
public final class TranslationFuture extends CompletableFuture<Translation> {
    private final ShiftformerClient client;
    private final long requestId;

    TranslationFuture(ShiftformerClient client, long requestId) {
        this.client = client;
        this.requestId = requestId;
    }

    /** The request's id on its connection (unsigned). */
    public long requestId() {
        return requestId;
    }

    /** Asks the server to stop the request; the future completes with the server's answer. */
    public TranslationFuture requestCancel() {
        if (!isDone()) {
            client.cancel(requestId);
        }
        return this;
    }

    /** Sends a Cancel to the server and completes this future with a CancellationException at once. */
    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        if (!isDone()) {
            client.cancel(requestId);
        }
        return super.cancel(mayInterruptIfRunning);
    }

    /** Dependent stages are plain futures: cancelling them does not reach the server. */
    @Override
    public <U> CompletableFuture<U> newIncompleteFuture() {
        return new CompletableFuture<>();
    }
}
