package org.shiftformer.core.server;

import java.util.concurrent.atomic.AtomicReference;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.core.decode.SequenceSearch;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.tokenizer.StreamingDecoder;
import org.shiftformer.protocol.Message;

/**
 * One accepted translate request, from admission to its terminal frame.
 *
 * <p>Threads: the immutable part is set by the event loop that accepted it; {@link #signal} may be raised
 * by that event loop (cancel, disconnect) and is read by the scheduler between steps; the decoding part
 * belongs to the scheduler thread alone. {@link #terminate} is the one place a request ends: the first
 * call decides the terminal frame (or that none can be sent), counts it, and hands it to the connection;
 * every later call is a no-op. That is the "exactly one terminal frame" invariant of PROTOCOL.md 4.
 */
final class Request implements TokenListener {
    static final int RUN = 0;
    static final int CANCEL = 1;
    static final int DISCONNECT = 2;

    /** The terminal decision when the connection is gone and nothing can be sent. */
    private static final Object DROPPED = new Object();

    final ConnectionHandler connection;
    /** The scheduler that accepted it: the one model that decodes it, even across a hot reload. */
    final Scheduler scheduler;
    final long id;
    final int[] source;
    final DecodeParams params;
    final boolean stream;
    final long receivedNs;
    /** Absolute {@link System#nanoTime()} deadline, or 0 for none. */
    final long deadlineNs;
    /** Decoder rows reserved while active: a beam never has more live hypotheses than its width. */
    final int rows;
    /** Output tokens the client already has (PROTOCOL.md 4, "Resuming a stream"): decoded, checked, not sent. */
    final int[] resume;
    private final ServerStats stats;

    private volatile int signal = RUN;
    private final AtomicReference<Object> terminal = new AtomicReference<>();

    // ---- scheduler thread only ----
    SequenceSearch search;
    EncodedSource encoded;
    StreamingDecoder text;
    long encodeCycles;
    long firstStepNs;
    long firstTokenNs;
    long lastTokenNs;
    int tokensSent;
    /** Tokens given to {@link #onToken} so far (streamed or not). */
    int emitted;
    /** Tokens still to be reproduced silently after a failover before streaming goes on ({@link #restart}). */
    int replay;
    int stepRow;
    boolean wrote;
    /** This request's connection as its scheduler sees it: its queue and the rows it holds. */
    Scheduler.Lane lane;
    /** Since when it waits for a decode slot: receipt, or the moment it was parked ({@code maxQueueWaitMs}). */
    long queuedNs;
    /** The first index where the decoded output differs from {@link #resume}, or -1. */
    int resumeMismatchAt = -1;
    /** The token decoded at {@link #resumeMismatchAt}. */
    int resumeMismatchToken;

    Request(ConnectionHandler connection, Scheduler scheduler, long id, int[] source, DecodeParams params, boolean stream,
            long receivedNs, int deadlineMs, int[] resume, ServerStats stats) {
        this.connection = connection;
        this.scheduler = scheduler;
        this.id = id;
        this.source = source;
        this.params = params;
        this.stream = stream;
        this.receivedNs = receivedNs;
        this.deadlineNs = deadlineMs == 0 ? 0 : receivedNs + deadlineMs * 1_000_000L;
        this.rows = params.beamWidth();
        this.resume = resume == null ? new int[0] : resume;
        this.stats = stats;
        this.queuedNs = receivedNs;
    }

    /** Asks the scheduler to stop this request ({@link #CANCEL} or {@link #DISCONNECT}); the first signal wins. */
    void signal(int why) {
        if (signal == RUN) {
            signal = why;
        }
    }

    int signal() {
        return signal;
    }

    boolean expired(long nowNs) {
        return deadlineNs != 0 && nowNs - deadlineNs >= 0;
    }

    /** True once the terminal decision is made. */
    boolean terminated() {
        return terminal.get() != null;
    }

    /**
     * Ends the request with {@code frame} (Done, Error or Cancelled), or with no frame when {@code frame} is
     * null or the connection is gone. Only the first call has an effect.
     *
     * @return true if this call ended the request
     */
    boolean terminate(Message frame) {
        Object decision = frame == null || signal == DISCONNECT ? DROPPED : frame;
        if (!terminal.compareAndSet(null, decision)) {
            return false;
        }
        switch (decision) {
            case Message.Done d -> stats.done.increment();
            case Message.Error e -> stats.error(e.code());
            case Message.Cancelled c -> stats.cancelled.increment();
            default -> stats.dropped.increment();
        }
        if (decision != DROPPED) {
            connection.sendTerminal(this);
        }
        return true;
    }

    /** The terminal frame decided by {@link #terminate}, or null (undecided, or dropped). */
    Message terminalFrame() {
        return terminal.get() instanceof Message m ? m : null;
    }

    /** Streams one final token (called by the search on the scheduler thread). */
    @Override
    public void onToken(int sequence, int token, int index, long deviceCycles) {
        if (replay > 0) {
            replay--; // the client has this token already: the replay on the fallback backend reproduces it
            return;
        }
        if (emitted < resume.length) {
            // Resumed: the client had this token from another server. Decode it as the uninterrupted stream
            // would (the text decoder too, so later pieces match), check it, send nothing.
            if (token != resume[emitted] && resumeMismatchAt < 0) {
                resumeMismatchAt = emitted;
                resumeMismatchToken = token;
            }
            if (stream) {
                text.push(token);
            }
            emitted++;
            return;
        }
        emitted++;
        stats.tokens.increment();
        long now = System.nanoTime();
        if (firstTokenNs == 0) {
            firstTokenNs = now;
            scheduler.meters().firstToken(now - receivedNs);
        } else {
            scheduler.meters().nextToken(now - lastTokenNs);
        }
        lastTokenNs = now;
        if (stream) {
            String piece = text.push(token);
            connection.writeToken(new Message.Token(id, token, piece, index, deviceCycles));
            tokensSent++;
            wrote = true;
        }
    }

    /**
     * Failover (scheduler thread): releases the states on the failed backend; the scheduler then decodes
     * this request again on the replacement, and the first {@link #emitted} tokens are not sent twice.
     */
    void restart() {
        try {
            release();
        } catch (RuntimeException e) {
            search = null; // the failed backend may not release cleanly; its model is closed next
            encoded = null;
        }
        replay = emitted;
    }

    /**
     * Null while the decoded output agrees with {@link #resume} (and, once {@code finished} with
     * {@code outputLength} tokens, covers it); otherwise the request's terminal Error.
     */
    Message.Error resumeProblem(boolean finished, int outputLength) {
        if (resumeMismatchAt >= 0) {
            return new Message.Error(id, org.shiftformer.api.ErrorCode.INVALID_ARGUMENT.value(), "resume_tokens["
                    + resumeMismatchAt + "] is " + resume[resumeMismatchAt] + " but this server decodes "
                    + resumeMismatchToken + " there: the tokens come from another source, parameters, model or backend");
        }
        if (finished && outputLength < resume.length) {
            return new Message.Error(id, org.shiftformer.api.ErrorCode.INVALID_ARGUMENT.value(), "resume_tokens has "
                    + resume.length + " tokens but the whole output has " + outputLength);
        }
        return null;
    }

    /** Releases the decoder states and the encoded source (scheduler thread). */
    void release() {
        if (search != null) {
            search.close();
            search = null;
        }
        if (encoded != null) {
            encoded.close();
            encoded = null;
        }
    }
}
