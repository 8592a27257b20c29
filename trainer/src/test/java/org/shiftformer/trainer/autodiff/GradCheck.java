package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Central finite-difference gradient check for float32 ops.
 *
 * <p>The op runs in float32 exactly as in training. The check takes the vector-Jacobian product with a
 * fixed random seed vector {@code w}: analytic {@code dL/dx} from {@code y.backward(w)}; numeric
 * {@code (L(x+h) - L(x-h)) / (x+h - (x-h))} with {@code L = Σ w·y} summed in double and the denominator
 * taken from the actually representable perturbed floats. Error budget: truncation {@code O(h²·y''')}
 * (about 1e-5 relative at h = 1e-2 on O(1) inputs) plus float32 rounding noise of the forward,
 * about {@code sqrt(#outputs) · 6e-8 · |y| / 2h} (about 5e-5 absolute at h = 1e-2). We accept
 * {@code |analytic - numeric| <= atol + rtol · max(|analytic|, |numeric|)} with rtol = 1e-2 and atol = 2e-3
 * by default: two orders of magnitude above the budget, far below the size of a real gradient bug (a
 * missing term or a wrong factor moves the gradient by O(1) relative).
 */
public final class GradCheck {

    static final double H = 1e-2;
    static final double RTOL = 1e-2;
    static final double ATOL = 2e-3;

    private GradCheck() {
    }

    static Tensor param(SplittableRandom rnd, double scale, int... shape) {
        float[] d = new float[Shapes.size(shape)];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) ((rnd.nextDouble() * 2 - 1) * scale);
        }
        return Tensor.param(d, shape);
    }

    public static void check(String what, Supplier<Tensor> f, List<Tensor> params) {
        check(what, f, params, H, RTOL, ATOL, 40);
    }

    /** Checks up to {@code maxPerParam} (sampled) elements of every parameter; returns nothing, fails with all mismatches. */
    public static void check(String what, Supplier<Tensor> f, List<Tensor> params, double h, double rtol, double atol,
                      int maxPerParam) {
        SplittableRandom rnd = new SplittableRandom(what.hashCode());
        for (Tensor p : params) {
            p.zeroGrad();
        }
        Tensor y = f.get();
        float[] w = new float[y.size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = y.size() == 1 ? 1f : (float) (rnd.nextDouble() * 2 - 1);
        }
        y.backward(w);
        List<String> bad = new ArrayList<>();
        int checked = 0;
        for (int pi = 0; pi < params.size(); pi++) {
            Tensor p = params.get(pi);
            float[] analytic = p.grad().clone();
            int n = p.size();
            int count = Math.min(n, maxPerParam);
            for (int c = 0; c < count; c++) {
                int i = n <= maxPerParam ? c : rnd.nextInt(n);
                float orig = p.data[i];
                float up = (float) (orig + h);
                float dn = (float) (orig - h);
                p.data[i] = up;
                double lUp = loss(f, w);
                p.data[i] = dn;
                double lDn = loss(f, w);
                p.data[i] = orig;
                double num = (lUp - lDn) / ((double) up - dn);
                double a = analytic[i];
                checked++;
                if (!(Math.abs(a - num) <= atol + rtol * Math.max(Math.abs(a), Math.abs(num)))) {
                    bad.add(String.format("param %d (%s) [%d]: analytic %.6g numeric %.6g", pi, p, i, a, num));
                }
            }
        }
        if (checked == 0) {
            fail(what + ": nothing checked");
        }
        if (!bad.isEmpty()) {
            fail(what + ": " + bad.size() + " of " + checked + " gradient entries differ:\n"
                    + String.join("\n", bad.subList(0, Math.min(20, bad.size()))));
        }
    }

    private static double loss(Supplier<Tensor> f, float[] w) {
        try (var _ = Tensor.noGrad()) {
            Tensor y = f.get();
            double s = 0;
            for (int i = 0; i < w.length; i++) {
                s += (double) w[i] * y.data[i];
            }
            return s;
        }
    }
}
