package org.shiftformer.trainer.autodiff;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A float32 tensor (row-major {@code float[]} with a shape) that takes part in reverse-mode automatic
 * differentiation.
 *
 * <p>The tape is the graph itself: every op that produces a tensor requiring gradients records its parents
 * and a backward function on the result. {@link #backward()} walks that graph from a scalar loss in reverse
 * topological order. Gradients accumulate ({@code +=}) into {@link #grad()}, so a tensor used several times
 * receives the sum of its uses; call {@link #zeroGrad()} on parameters between steps.
 *
 * <p>Inside {@code try (var _ = Tensor.noGrad()) { ... }} ops record nothing (evaluation mode).
 * Not thread-safe: one graph is built and differentiated by one thread (the kernels parallelise inside).
 */
public final class Tensor {

    /** Backward function of a recorded op: reads {@code out.grad} and accumulates into its parents. */
    @FunctionalInterface
    interface Backward {
        void run(Tensor out);
    }

    private static final ThreadLocal<int[]> NO_GRAD_DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    final float[] data;
    final int[] shape;
    final boolean requiresGrad;
    float[] grad;
    private Tensor[] parents;
    private Backward backwardFn;
    private String name;

    Tensor(float[] data, int[] shape, boolean requiresGrad) {
        if (Shapes.size(shape) != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + Shapes.size(shape)
                    + " values, got " + data.length);
        }
        this.data = data;
        this.shape = shape.clone();
        this.requiresGrad = requiresGrad;
    }

    /** A constant (no gradient) wrapping {@code data} (not copied). */
    public static Tensor of(float[] data, int... shape) {
        return new Tensor(data, shape, false);
    }

    /** A trainable leaf (gradient accumulated) wrapping {@code data} (not copied). */
    public static Tensor param(float[] data, int... shape) {
        return new Tensor(data, shape, true);
    }

    public static Tensor zeros(int... shape) {
        return new Tensor(new float[Shapes.size(shape)], shape, false);
    }

    public static Tensor scalar(float v) {
        return new Tensor(new float[] {v}, new int[] {1}, false);
    }

    /** Result of an op: records {@code parents} and {@code fn} when grad mode is on and a parent needs grad. */
    static Tensor result(float[] data, int[] shape, Backward fn, Tensor... parents) {
        boolean needs = false;
        if (isGradEnabled()) {
            for (Tensor p : parents) {
                needs |= p.requiresGrad;
            }
        }
        Tensor t = new Tensor(data, shape, needs);
        if (needs) {
            t.parents = parents;
            t.backwardFn = fn;
        }
        return t;
    }

    // ---- grad mode -------------------------------------------------------------------------------------

    /** Grad mode scope: ops inside record nothing and results never require gradients. */
    public static final class NoGrad implements AutoCloseable {
        private boolean closed;

        private NoGrad() {
            NO_GRAD_DEPTH.get()[0]++;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                NO_GRAD_DEPTH.get()[0]--;
            }
        }
    }

    public static NoGrad noGrad() {
        return new NoGrad();
    }

    public static boolean isGradEnabled() {
        return NO_GRAD_DEPTH.get()[0] == 0;
    }

    // ---- accessors -------------------------------------------------------------------------------------

    /** The values (live array, row-major). */
    public float[] data() {
        return data;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public int size() {
        return data.length;
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    public float item() {
        if (data.length != 1) {
            throw new IllegalStateException("item() on a tensor of shape " + Arrays.toString(shape));
        }
        return data[0];
    }

    /**
     * The accumulated gradient (allocated as zeros on first use; an op result's from the {@link Workspace}
     * inside a scope, a leaf's always from the heap: parameters keep theirs across steps).
     */
    public float[] grad() {
        if (grad == null) {
            grad = backwardFn != null ? Workspace.floats(data.length) : new float[data.length];
        }
        return grad;
    }

    /**
     * For a backward function that adds a whole array into this gradient: when this tensor has no gradient
     * yet, its new gradient array, <em>not zeroed</em>, for the caller to write completely ({@code = v}
     * instead of {@code += v}: the same values, as {@code 0 + v == v} up to the sign of a zero); otherwise
     * null, and the caller adds into {@link #grad()}.
     */
    float[] gradToOverwrite() {
        if (grad != null) {
            return null;
        }
        grad = backwardFn != null ? Workspace.floatsToOverwrite(data.length) : new float[data.length];
        return grad;
    }

    /** {@code grad += g} (a copy when this tensor has no gradient yet, see {@link #gradToOverwrite}). */
    void addToGrad(float[] g) {
        float[] fresh = gradToOverwrite();
        if (fresh != null) {
            System.arraycopy(g, 0, fresh, 0, g.length);
        } else {
            Elementwise.addInto(grad, g, 0, g.length);
        }
    }

    /** True once some backward pass has written a gradient into this tensor. */
    public boolean hasGrad() {
        return grad != null;
    }

    public void zeroGrad() {
        if (grad != null) {
            Arrays.fill(grad, 0f);
        }
    }

    public Tensor named(String n) {
        this.name = n;
        return this;
    }

    public String name() {
        return name;
    }

    /** A constant copy of the values, detached from the graph. */
    public Tensor detach() {
        return new Tensor(data.clone(), shape, false);
    }

    @Override
    public String toString() {
        return "Tensor" + (name == null ? "" : "(" + name + ")") + Arrays.toString(shape);
    }

    // ---- backward --------------------------------------------------------------------------------------

    /** Back-propagates from this scalar (one element) loss with seed gradient 1. */
    public void backward() {
        if (data.length != 1) {
            throw new IllegalStateException("backward() needs a scalar loss, shape is " + Arrays.toString(shape));
        }
        backward(new float[] {1f});
    }

    /**
     * Back-propagates with an explicit seed gradient {@code dL/dthis} (same size as this tensor): the
     * vector-Jacobian product used by gradient checks.
     */
    public void backward(float[] seed) {
        if (seed.length != data.length) {
            throw new IllegalArgumentException("seed size " + seed.length + " != " + data.length);
        }
        if (!requiresGrad) {
            throw new IllegalStateException("backward() on a tensor that does not require gradients");
        }
        List<Tensor> order = topoOrder(this);
        float[] g = grad();
        for (int i = 0; i < g.length; i++) {
            g[i] += seed[i];
        }
        for (int i = order.size() - 1; i >= 0; i--) {
            Tensor t = order.get(i);
            if (t.backwardFn != null && t.grad != null) {
                t.backwardFn.run(t);
            }
        }
    }

    /** Parents before children (iterative DFS post-order: deep graphs do not exhaust the stack). */
    private static List<Tensor> topoOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        ArrayDeque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[] {root, 0});
        seen.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Tensor t = (Tensor) top[0];
            int next = (Integer) top[1];
            Tensor[] ps = t.parents == null ? new Tensor[0] : t.parents;
            if (next < ps.length) {
                top[1] = next + 1;
                Tensor p = ps[next];
                if (p.requiresGrad && seen.put(p, Boolean.TRUE) == null) {
                    stack.push(new Object[] {p, 0});
                }
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
