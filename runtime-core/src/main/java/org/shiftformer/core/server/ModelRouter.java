package org.shiftformer.core.server;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Which {@link Scheduler} takes new requests (the current model), and every scheduler still running: the
 * current one and those retired by a hot reload that are finishing their streams. Event loops read it
 * without locks; {@link ShiftformerServer} changes it under its own lock.
 */
final class ModelRouter {
    private volatile Scheduler current;
    private final List<Scheduler> running = new CopyOnWriteArrayList<>();

    /** The scheduler of the served model, or null before the first model is loaded. */
    Scheduler current() {
        return current;
    }

    /** Makes {@code next} current and returns the previous one (the caller retires it). */
    Scheduler install(Scheduler next) {
        running.removeIf(s -> !s.isAlive());
        running.add(next);
        Scheduler previous = current;
        current = next;
        return previous;
    }

    /** The current and the draining schedulers (those whose thread may still run). */
    List<Scheduler> running() {
        return running;
    }

    /** Wakes every running scheduler (a connection became writable, or closed). */
    void wakeAll() {
        for (Scheduler s : running) {
            s.wake();
        }
    }

    int queuedRequests() {
        int n = 0;
        for (Scheduler s : running) {
            n += s.queuedRequests();
        }
        return n;
    }

    int activeSequences() {
        int n = 0;
        for (Scheduler s : running) {
            n += s.activeSequences();
        }
        return n;
    }
}
