package org.shiftformer.client;

import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * One request's tokens as a {@link Flow.Publisher} ({@link ShiftformerClient#stream}): cold (subscribing
 * sends the request) and single-subscriber (a second subscriber gets {@code onError}).
 *
 * <p>Signals come from the connection's event loop, never more {@code onNext} than requested. Tokens that
 * arrive without demand are buffered; once {@link ClientOptions#streamBufferTokens()} are, the connection
 * stops reading from its socket, and starts again when the subscriber has drained half of them: the
 * server's writes then block on TCP, and it stops decoding for this connection (PROTOCOL.md section 7).
 * After the last token comes {@code onComplete} (the request's Done: see {@link #result()}) or
 * {@code onError} with the request's {@link ShiftformerException}; tokens received before an error are
 * delivered first. Cancelling the subscription sends a Cancel; {@link #result()} then completes with the
 * server's answer.
 */
public final class TokenPublisher implements Flow.Publisher<TokenEvent> {
    private final ShiftformerClient client;
    private final TranslationRequest request;
    private final AtomicBoolean subscribed = new AtomicBoolean();
    private final CompletableFuture<Translation> result = new CompletableFuture<>();
    private volatile long requestId;

    TokenPublisher(ShiftformerClient client, TranslationRequest request) {
        this.client = client;
        this.request = request;
    }

    /** The request's final result (its Done), or its error; completes whatever the subscriber does. */
    public CompletableFuture<Translation> result() {
        return result;
    }

    /** The request's id once subscribed (0 before). */
    public long requestId() {
        return requestId;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super TokenEvent> subscriber) {
        if (!subscribed.compareAndSet(false, true)) {
            subscriber.onSubscribe(new Flow.Subscription() {
                @Override
                public void request(long n) {
                }

                @Override
                public void cancel() {
                }
            });
            subscriber.onError(new IllegalStateException("a TokenPublisher has one subscriber: call stream() again"));
            return;
        }
        Subscription s = new Subscription(subscriber);
        client.register(s);
        requestId = s.id;
        subscriber.onSubscribe(s);
        client.send(s, request);
    }

    /**
     * The subscription and the request's call; its state is touched on the event loop only (after
     * {@link ShiftformerClient#close()}, under its monitor: {@link ShiftformerClient#onLoop}).
     */
    private final class Subscription extends ShiftformerClient.Call implements Flow.Subscription {
        private final Flow.Subscriber<? super TokenEvent> subscriber;
        private final int highWater = client.options().streamBufferTokens();
        private final ArrayDeque<TokenEvent> buffer = new ArrayDeque<>();
        private long demand;
        private Object terminal; // Translation or ShiftformerException, delivered after the buffer
        private boolean finished; // onComplete / onError signalled, or cancelled
        private boolean stalled;

        Subscription(Flow.Subscriber<? super TokenEvent> subscriber) {
            this.subscriber = subscriber;
        }

        @Override
        public void request(long n) {
            onLoop(() -> {
                if (finished) {
                    return;
                }
                if (n <= 0) {
                    cancelOnLoop();
                    subscriber.onError(new IllegalArgumentException("request(" + n + "): demand must be positive "
                            + "(Reactive Streams rule 3.9)"));
                    return;
                }
                demand = demand + n < 0 ? Long.MAX_VALUE : demand + n;
                drain();
            });
        }

        @Override
        public void cancel() {
            onLoop(this::cancelOnLoop);
        }

        /**
         * Runs {@code task} on the event loop, or here once {@link ShiftformerClient#close()} has stopped the
         * loop: the request has then been failed and no frame can arrive, so a subscriber behind still gets
         * its buffered tokens and the error.
         */
        private void onLoop(Runnable task) {
            client.onLoop(this, task);
        }

        private void cancelOnLoop() {
            if (finished) {
                return;
            }
            finished = true;
            buffer.clear();
            resume();
            client.cancel(this);
        }

        @Override
        void token(TokenEvent token) {
            if (finished) {
                return;
            }
            buffer.add(token);
            drain();
            if (!stalled && buffer.size() >= highWater) {
                stalled = true;
                client.stall();
            }
        }

        @Override
        void done(Translation t) {
            result.complete(t);
            terminal = t;
            drain();
        }

        @Override
        void failed(ShiftformerException error) {
            result.completeExceptionally(error);
            terminal = error;
            drain();
        }

        private void drain() {
            while (!finished && demand > 0 && !buffer.isEmpty()) {
                demand--;
                TokenEvent next = buffer.poll();
                try {
                    subscriber.onNext(next);
                } catch (Throwable t) {
                    // Rule 2.13: a throwing subscriber is treated as having cancelled.
                    cancelOnLoop();
                    return;
                }
            }
            if (finished) {
                return;
            }
            if (stalled && buffer.size() <= highWater / 2) {
                resume();
            }
            if (buffer.isEmpty() && terminal != null) {
                finished = true;
                resume();
                if (terminal instanceof ShiftformerException e) {
                    subscriber.onError(e);
                } else {
                    subscriber.onComplete();
                }
            }
        }

        private void resume() {
            if (stalled) {
                stalled = false;
                client.unstall();
            }
        }
    }

    @Override
    public String toString() {
        return "TokenPublisher[requestId=" + Long.toUnsignedString(requestId) + ", " + request + "]";
    }

    static ShiftformerException interrupted(long requestId) {
        return new ShiftformerException(ErrorCode.CANCELLED, "interrupted while waiting for request "
                + Long.toUnsignedString(requestId));
    }
}
