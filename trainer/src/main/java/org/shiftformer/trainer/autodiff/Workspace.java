package org.shiftformer.trainer.autodiff;

import java.lang.ref.SoftReference;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;

/**
 * Reuse of the large arrays of a training step. A step makes the same tensors every time (activations,
 * their gradients, the masks and statistics its backward keeps): hundreds of MB that are all alive until
 * the backward pass ends. Fresh from the heap, they make every young collection copy the live graph and
 * the heap grow and shrink (JFR, trainer/README.md "Speed": 30-40% of a float step's CPU went to GC).
 * Inside a scope, the ops take their arrays of at least {@link #MIN_LENGTH} elements from this thread's
 * pool; closing the scope gives all of them back for the next scope. Arrays the closed scope did not use
 * stay while the pool holds at most twice what the scope used, so batches of a few alternating shapes
 * find theirs again (a length not in the pool is allocated anew), and the pool is held softly: a heap that
 * runs short between steps (evaluation, scoring) collects it.
 *
 * <pre>
 * try (var ignored = Workspace.open()) {
 *     Tensor loss = model.loss(batch, numerics, true);
 *     loss.backward();
 *     optimizer.step();
 *     return loss.item();       // read what you need inside: every tensor made inside is invalid after close
 * }
 * </pre>
 * Outside a scope the ops allocate from the heap as before. Parameters (leaf tensors) and their gradients
 * never come from the pool. Reusing an array changes no value: every array is zeroed or fully written
 * before it is read, as a fresh one would be. Scopes nest (only the outermost close recycles); one scope
 * belongs to one thread.
 */
public final class Workspace {

    /** Arrays shorter than this come from the heap (cheap to collect, and there are many). */
    static final int MIN_LENGTH = 1024;

    private static final ThreadLocal<Workspace> OF_THREAD = ThreadLocal.withInitial(Workspace::new);

    /** Free arrays by type and length; softly held, so a heap that runs short takes them back. */
    private SoftReference<HashMap<Long, ArrayDeque<Object>>> free = new SoftReference<>(new HashMap<>());
    private final ArrayList<Object> lent = new ArrayList<>();
    private int depth;

    private Workspace() {
    }

    /** A scope on this thread (see the class comment). */
    public static Scope open() {
        Workspace w = OF_THREAD.get();
        w.depth++;
        return new Scope(w);
    }

    /** Closes once; the outermost close gives every array made inside back to the pool. */
    public static final class Scope implements AutoCloseable {
        private final Workspace owner;
        private final Thread thread = Thread.currentThread();
        private boolean closed;

        private Scope(Workspace owner) {
            this.owner = owner;
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            if (Thread.currentThread() != thread) {
                throw new IllegalStateException("a workspace scope must be closed by the thread that opened it");
            }
            closed = true;
            if (--owner.depth == 0) {
                owner.recycle();
            }
        }
    }

    /** True while this thread is inside a scope. */
    public static boolean active() {
        return OF_THREAD.get().depth > 0;
    }

    private void recycle() {
        HashMap<Long, ArrayDeque<Object>> next = new HashMap<>();
        long bytes = 0;
        for (Object a : lent) {
            next.computeIfAbsent(key(a), x -> new ArrayDeque<>()).push(a);
            bytes += bytes(a);
        }
        lent.clear();
        // arrays this scope did not use stay while the pool holds at most twice what it used (batches of other
        // lengths come back); the rest is dropped
        long budget = bytes;
        HashMap<Long, ArrayDeque<Object>> old = free.get();
        if (old != null) {
            for (var e : old.entrySet()) {
                for (Object a : e.getValue()) {
                    long b = bytes(a);
                    if (b > budget) {
                        continue;
                    }
                    budget -= b;
                    next.computeIfAbsent(e.getKey(), x -> new ArrayDeque<>()).add(a);
                }
            }
        }
        free = new SoftReference<>(next);
    }

    private static long bytes(Object a) {
        return switch (a) {
            case float[] f -> 4L * f.length;
            case int[] i -> 4L * i.length;
            case byte[] b -> b.length;
            case double[] d -> 8L * d.length;
            case short[] s -> 2L * s.length;
            default -> throw new IllegalArgumentException(a.getClass().getName());
        };
    }

    private static long key(Object a) {
        return switch (a) {
            case float[] f -> f.length;
            case int[] i -> (1L << 32) | i.length;
            case byte[] b -> (2L << 32) | b.length;
            case double[] d -> (3L << 32) | d.length;
            case short[] s -> (4L << 32) | s.length;
            default -> throw new IllegalArgumentException(a.getClass().getName());
        };
    }

    /** A pooled array of this key, or null (outside a scope, too short, or none free). */
    private static Object take(long key, int length) {
        if (length < MIN_LENGTH) {
            return null;
        }
        Workspace w = OF_THREAD.get();
        if (w.depth == 0) {
            return null;
        }
        HashMap<Long, ArrayDeque<Object>> pool = w.free.get();
        ArrayDeque<Object> q = pool == null ? null : pool.get(key);
        return q == null ? null : q.poll();
    }

    private static <T> T lend(T a, int length) {
        if (length >= MIN_LENGTH) {
            Workspace w = OF_THREAD.get();
            if (w.depth > 0) {
                w.lent.add(a);
            }
        }
        return a;
    }

    /** {@code new float[n]} (zeroed). */
    public static float[] floats(int n) {
        float[] a = (float[]) take(n, n);
        if (a == null) {
            return lend(new float[n], n);
        }
        Arrays.fill(a, 0f);
        return lend(a, n);
    }

    /** A float array the caller writes completely before anything reads it (not zeroed when reused). */
    public static float[] floatsToOverwrite(int n) {
        float[] a = (float[]) take(n, n);
        return lend(a == null ? new float[n] : a, n);
    }

    /** {@code new int[n]} (zeroed). */
    public static int[] ints(int n) {
        int[] a = (int[]) take((1L << 32) | n, n);
        if (a == null) {
            return lend(new int[n], n);
        }
        Arrays.fill(a, 0);
        return lend(a, n);
    }

    /** An int array the caller writes completely before anything reads it. */
    public static int[] intsToOverwrite(int n) {
        int[] a = (int[]) take((1L << 32) | n, n);
        return lend(a == null ? new int[n] : a, n);
    }

    /** A byte array the caller writes completely before anything reads it. */
    public static byte[] bytesToOverwrite(int n) {
        byte[] a = (byte[]) take((2L << 32) | n, n);
        return lend(a == null ? new byte[n] : a, n);
    }

    /** {@code new double[n]} (zeroed). */
    public static double[] doubles(int n) {
        double[] a = (double[]) take((3L << 32) | n, n);
        if (a == null) {
            return lend(new double[n], n);
        }
        Arrays.fill(a, 0.0);
        return lend(a, n);
    }

    /** A short array the caller writes completely before anything reads it. */
    public static short[] shortsToOverwrite(int n) {
        short[] a = (short[]) take((4L << 32) | n, n);
        return lend(a == null ? new short[n] : a, n);
    }
}
