package org.shiftformer.client;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.shiftformer.api.ShiftformerException;

/**
 * The blocking view of one request ({@link ShiftformerClient#translateBlocking}): {@link #hasNext()}
 * waits for the next token, returns false after the last one (the request's Done: {@link #result()}) and
 * throws the request's {@link ShiftformerException} if it failed. Not thread-safe: one consumer thread.
 *
 * <p>It keeps at most {@link ClientOptions#streamBufferTokens()} tokens requested ahead of the consumer,
 * so a consumer that stops iterating stops the connection reading. {@link #close()} cancels a request
 * that has not ended.
 */
public final class TokenIterator implements Iterator<TokenEvent>, AutoCloseable {
    private static final Object END = new Object();

    private final TokenPublisher publisher;
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private volatile Flow.Subscription subscription;
    private TokenEvent next;
    private boolean ended;

    TokenIterator(TokenPublisher publisher, int window) {
        this.publisher = publisher;
        publisher.subscribe(new Flow.Subscriber<TokenEvent>() {
            @Override
            public void onSubscribe(Flow.Subscription s) {
                subscription = s;
                s.request(window);
            }

            @Override
            public void onNext(TokenEvent item) {
                queue.add(item);
            }

            @Override
            public void onError(Throwable t) {
                queue.add(t);
            }

            @Override
            public void onComplete() {
                queue.add(END);
            }
        });
    }

    /** The request's id. */
    public long requestId() {
        return publisher.requestId();
    }

    @Override
    public boolean hasNext() {
        if (next != null) {
            return true;
        }
        if (ended) {
            return false;
        }
        Object o;
        try {
            o = queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw TokenPublisher.interrupted(requestId());
        }
        if (o == END) {
            ended = true;
            return false;
        }
        if (o instanceof Throwable t) {
            ended = true;
            if (t instanceof ShiftformerException se) {
                throw se;
            }
            throw new IllegalStateException(t);
        }
        next = (TokenEvent) o;
        subscription.request(1); // keep the window full
        return true;
    }

    @Override
    public TokenEvent next() {
        if (!hasNext()) {
            throw new NoSuchElementException("request " + Long.toUnsignedString(requestId()) + " has ended");
        }
        TokenEvent t = next;
        next = null;
        return t;
    }

    /** The tokens as a sequential stream; closing it closes this iterator. */
    public Stream<TokenEvent> stream() {
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL),
                false).onClose(this::close);
    }

    /** The request's result: complete once {@link #hasNext()} has returned false. */
    public CompletableFuture<Translation> result() {
        return publisher.result();
    }

    /** Cancels the request on the server if it has not ended; further {@link #hasNext()} return false. */
    @Override
    public void close() {
        if (!ended) {
            ended = true;
            next = null;
            subscription.cancel();
        }
    }
}
