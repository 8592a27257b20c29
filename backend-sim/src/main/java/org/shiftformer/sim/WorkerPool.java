package org.shiftformer.sim;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A tiny fork-join for one driving thread: {@code threads - 1} daemon platform workers named
 * {@code shiftformer-sim-N} plus the calling thread execute the index range of a <em>region</em>
 * ({@link #run}) in chunks they claim dynamically, and {@code run} returns when every chunk is done.
 *
 * <ul>
 * <li>Nothing is allocated per region: the work is an {@code (op, from, to, worker)} call on one
 *     {@link Body} fixed at construction, the region's parameters are fields, chunks are claimed with a
 *     CAS on one {@code long} holding {@code (generation << 32) | nextIndex}.</li>
 * <li>Idle workers spin ({@link Thread#onSpinWait}) for {@link #SPIN_NANOS} after a region, so the
 *     regions of one decoder step (microseconds apart) start without a wake-up, then park; the driver
 *     unparks only parked workers (a Dekker handshake on {@code generation} and {@code parked}).</li>
 * <li>The driver claims chunks too; a worker that wakes late simply finds nothing left, so a region never
 *     waits for a sleeping thread, only for chunks already being computed.</li>
 * <li>Waiting for those, the driver spins, then yields a few times, then parks until the worker that
 *     finishes the last chunk unparks it ({@link #DRIVER_PARK_NANOS} at most per park). A worker preempted
 *     mid-chunk by another thread (the server's event loops, another process) can then be moved to the
 *     driver's core instead of waiting behind a driver that spins or yields on it.</li>
 * <li>A chunk that throws is recorded (the first failure wins) and still counted as done, so the region
 *     always completes; {@code run} then throws it on the driving thread: a {@link ShiftformerException}
 *     as is, anything else wrapped as {@link ErrorCode#INTERNAL}.</li>
 * </ul>
 * One thread at a time may call {@link #run} (the model's caller, as {@code LoadedModel} requires).
 */
final class WorkerPool implements AutoCloseable {
    /** The work of a region: indices {@code [from, to)} of operation {@code op}, run by worker {@code worker} (driver: 0). */
    interface Body {
        void run(int op, int from, int to, int worker);
    }

    /** How long an idle worker spins before parking. */
    static final long SPIN_NANOS = 200_000;
    /** Longest single park of a driver waiting for chunks (a safety net: the last chunk's worker unparks it). */
    static final long DRIVER_PARK_NANOS = 100_000;
    private static final long CLOSED = -1L;
    private static final AtomicInteger NAMES = new AtomicInteger();

    private final Body body;
    private final Worker[] workers;
    /** {@code (generation << 32) | next unclaimed index}; {@link #CLOSED} between regions. */
    private final AtomicLong ticket = new AtomicLong(CLOSED);
    /** Indices of the current region whose chunk has finished. */
    private final AtomicInteger done = new AtomicInteger();
    private volatile int generation;
    private volatile int op;
    private volatile int units;
    private volatile int grain;
    private volatile Throwable failure;
    private volatile boolean shutdown;
    /** The thread in {@link #run}, and whether it is (about to be) parked waiting for the last chunks. */
    private volatile Thread driver;
    private volatile boolean driverParked;

    WorkerPool(int threads, Body body) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads " + threads);
        }
        this.body = body;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Worker w = new Worker(i + 1);
            w.setDaemon(true);
            workers[i] = w;
        }
        for (Worker w : workers) {
            w.start();
        }
    }

    /** Threads taking part in a region, the caller included. */
    int threads() {
        return workers.length + 1;
    }

    /** Ids of the worker threads (for allocation accounting in tests). */
    long[] workerThreadIds() {
        long[] ids = new long[workers.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = workers[i].threadId();
        }
        return ids;
    }

    /**
     * Runs {@code body.run(op, from, to, worker)} over chunks of {@code grain} indices covering
     * {@code [0, units)} on every thread of the pool, the caller included, and returns when all are done.
     */
    void run(int op, int units, int grain) {
        if (units <= 0) {
            return;
        }
        if (workers.length == 0 || units <= grain || shutdown) {
            body.run(op, 0, units, 0);
            return;
        }
        int g = (generation + 1) & 0x7FFFFFFF;
        ticket.set(CLOSED);
        this.op = op;
        this.units = units;
        this.grain = Math.max(1, grain);
        done.set(0);
        ticket.set((long) g << 32);
        generation = g;
        for (Worker w : workers) {
            if (w.parked) {
                LockSupport.unpark(w);
            }
        }
        Throwable own = null;
        try {
            work(g, 0);
        } catch (Throwable t) {
            own = t; // work() records chunk failures itself; this is only a safety net
        }
        int spins = 0;
        while (done.get() < units) {
            if (++spins < 4096) {
                Thread.onSpinWait();
            } else if (spins < 4096 + 16) {
                Thread.yield();
            } else {
                // Dekker with work(): either the finishing worker sees driverParked, or we see done == units.
                driver = Thread.currentThread();
                driverParked = true;
                if (done.get() < units) {
                    LockSupport.parkNanos(this, DRIVER_PARK_NANOS);
                }
                driverParked = false;
            }
        }
        ticket.set(CLOSED);
        Throwable f = failure;
        failure = null;
        if (own != null) {
            f = own;
        }
        if (f != null) {
            if (f instanceof ShiftformerException se) {
                throw se;
            }
            throw new ShiftformerException(ErrorCode.INTERNAL, "sim worker failed: " + f, f);
        }
    }

    /** Claims and runs chunks of region {@code g} until none is left. */
    private void work(int g, int worker) {
        int o = op;
        int n = units;
        int gr = grain;
        for (;;) {
            long t = ticket.get();
            if ((int) (t >>> 32) != g) {
                return;
            }
            int from = (int) t;
            if (from >= n) {
                return;
            }
            int to = Math.min(n, from + gr);
            if (!ticket.compareAndSet(t, (t & 0xFFFF_FFFF_0000_0000L) | to)) {
                continue;
            }
            try {
                body.run(o, from, to, worker);
            } catch (Throwable e) {
                if (failure == null) {
                    failure = e;
                }
            }
            if (done.addAndGet(to - from) == n && driverParked) {
                LockSupport.unpark(driver);
            }
        }
    }

    /** Stops the workers and waits (briefly) for them to end; later regions run on the caller alone. */
    @Override
    public void close() {
        shutdown = true;
        for (Worker w : workers) {
            LockSupport.unpark(w);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        boolean interrupted = false;
        for (Worker w : workers) {
            while (w.isAlive()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                try {
                    w.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private final class Worker extends Thread {
        private final int index;
        volatile boolean parked;

        Worker(int index) {
            super("shiftformer-sim-" + NAMES.incrementAndGet());
            this.index = index;
        }

        @Override
        public void run() {
            int seen = generation;
            for (;;) {
                int g = await(seen);
                if (g < 0) {
                    return;
                }
                seen = g;
                work(g, index);
            }
        }

        /** The next generation after {@code seen}, or -1 at shutdown. */
        private int await(int seen) {
            long start = 0;
            int spins = 0;
            for (;;) {
                if (shutdown) {
                    return -1;
                }
                int g = generation;
                if (g != seen) {
                    return g;
                }
                if (++spins < 64) {
                    Thread.onSpinWait();
                    continue;
                }
                spins = 0;
                Thread.yield(); // idle: let a thread waiting for this core (an event loop) run now
                long now = System.nanoTime();
                if (start == 0) {
                    start = now;
                } else if (now - start > SPIN_NANOS) {
                    parked = true;
                    if (generation == seen && !shutdown) {
                        LockSupport.park(WorkerPool.this);
                    }
                    parked = false;
                    start = 0;
                }
            }
        }
    }
}
