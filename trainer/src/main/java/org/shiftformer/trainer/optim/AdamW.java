package org.shiftformer.trainer.optim;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter), bias-corrected moments, global-norm gradient
 * clipping across all groups, and one learning-rate schedule per {@link ParamGroup}.
 *
 * <p>One {@link #step()}: the global norm {@code ||g||} of all gradients is summed in double in the fixed
 * group and tensor order; if it exceeds {@code clipNorm} (> 0) every gradient is scaled by
 * {@code clipNorm / ||g||}. Then, for each element, with {@code t} the new step count:
 * <pre>
 * m = β1·m + (1-β1)·g;   v = β2·v + (1-β2)·g²
 * θ = θ - lr(t) · ( m/(1-β1^t) / (sqrt(v/(1-β2^t)) + ε) + wd·θ )
 * </pre>
 * computed in double per element and stored as float. Sequential and in a fixed order, so the result is a
 * function of the inputs only. Gradients are not cleared: call {@link #zeroGrad()}.
 */
public final class AdamW {

    private final List<ParamGroup> groups;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double clipNorm;
    private final Map<Tensor, float[][]> moments = new IdentityHashMap<>();
    private long step;
    private double lastNorm;

    /**
     * @param clipNorm maximum global gradient norm; 0 disables clipping
     */
    public AdamW(List<ParamGroup> groups, double beta1, double beta2, double eps, double clipNorm) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(clipNorm >= 0)) {
            throw new IllegalArgumentException("Adam needs 0 <= beta1, beta2 < 1, eps > 0, clipNorm >= 0: beta1 "
                    + beta1 + ", beta2 " + beta2 + ", eps " + eps + ", clipNorm " + clipNorm);
        }
        this.groups = List.copyOf(groups);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.clipNorm = clipNorm;
        for (ParamGroup g : this.groups) {
            for (Tensor t : g.params()) {
                if (moments.put(t, new float[][] {new float[t.size()], new float[t.size()]}) != null) {
                    throw new IllegalArgumentException(t + " appears twice in the parameter groups");
                }
            }
        }
    }

    /** PERF.md's settings: betas (0.9, 0.98), eps 1e-9, clipping at norm 1. */
    public static AdamW standard(List<ParamGroup> groups) {
        return new AdamW(groups, 0.9, 0.98, 1e-9, 1.0);
    }

    public List<ParamGroup> groups() {
        return groups;
    }

    /** Updates done so far. */
    public long stepCount() {
        return step;
    }

    /** The global gradient norm of the last {@link #step()}, before clipping. */
    public double lastGradNorm() {
        return lastNorm;
    }

    /** The learning rate the next step of group {@code g} will use. */
    public double nextLr(int g) {
        return groups.get(g).schedule().lr(step + 1);
    }

    /** All parameter tensors in the fixed order. */
    public List<Tensor> params() {
        List<Tensor> all = new ArrayList<>();
        for (ParamGroup g : groups) {
            all.addAll(g.params());
        }
        return all;
    }

    /** First and second moments of {@code t} (live arrays, for checkpoints). */
    public float[][] moments(Tensor t) {
        float[][] m = moments.get(t);
        if (m == null) {
            throw new IllegalArgumentException(t + " is not optimized here");
        }
        return m;
    }

    /** Restores the step count (checkpoint resume; the moments are restored through {@link #moments}). */
    public void setStepCount(long s) {
        if (s < 0) {
            throw new IllegalArgumentException("step count must be >= 0: " + s);
        }
        this.step = s;
    }

    public void zeroGrad() {
        for (ParamGroup g : groups) {
            for (Tensor t : g.params()) {
                t.zeroGrad();
            }
        }
    }

    /** One update from the accumulated gradients (a tensor without a gradient counts as zero). */
    public void step() {
        double sq = 0;
        for (ParamGroup g : groups) {
            for (Tensor t : g.params()) {
                if (t.hasGrad()) {
                    for (float x : t.grad()) {
                        sq += (double) x * x;
                    }
                }
            }
        }
        lastNorm = Math.sqrt(sq);
        double clip = clipNorm > 0 && lastNorm > clipNorm ? clipNorm / lastNorm : 1.0;
        step++;
        double bc1 = 1 - Math.pow(beta1, step);
        double bc2 = 1 - Math.pow(beta2, step);
        for (ParamGroup g : groups) {
            double lr = g.schedule().lr(step);
            double wd = g.weightDecay();
            for (Tensor t : g.params()) {
                float[][] mv = moments.get(t);
                update(t.data(), t.hasGrad() ? t.grad() : null, mv[0], mv[1], clip, lr, wd, bc1, bc2);
            }
        }
    }

    private void update(float[] w, float[] grad, float[] m, float[] v, double clip, double lr, double wd,
                        double bc1, double bc2) {
        for (int i = 0; i < w.length; i++) {
            double g = grad == null ? 0.0 : grad[i] * clip;
            double mi = beta1 * m[i] + (1 - beta1) * g;
            double vi = beta2 * v[i] + (1 - beta2) * g * g;
            m[i] = (float) mi;
            v[i] = (float) vi;
            double upd = (mi / bc1) / (Math.sqrt(vi / bc2) + eps) + wd * w[i];
            w[i] = (float) (w[i] - lr * upd);
        }
    }
}
