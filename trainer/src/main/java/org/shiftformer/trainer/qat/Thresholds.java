package org.shiftformer.trainer.qat;

import java.util.ArrayDeque;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * The trained TQT thresholds of a model: one {@code log2 t} parameter (a 1-element tensor) per quantized
 * tensor, keyed by its SPEC.md name ({@code "enc.0.attn.q.weight"} for a weight, {@code "enc.0.attn.q.out"}
 * for an activation). They are a separate optimizer group (their own learning rate).
 *
 * <p><b>Freeze rule.</b> A threshold whose integer exponent {@code ceil(log2 t)} keeps flipping between two
 * neighbouring values does not converge: the loss gradient pushes it across the power-of-two boundary and
 * back. {@link #afterStep()} watches the last {@link #WINDOW} steps; once the exponent changed at least
 * {@link #FLIPS} times there, alternating between two values, the threshold is frozen at the larger of the
 * two (less saturation), with {@code log2 t} set half-way inside that exponent, and no longer updated.
 */
public final class Thresholds {
    /** Steps of history the freeze rule looks at. */
    public static final int WINDOW = 64;
    /** Exponent changes within the window that freeze a threshold. */
    public static final int FLIPS = 4;

    private final Map<String, Tensor> log2t = new TreeMap<>();
    private final Map<String, ArrayDeque<Integer>> history = new TreeMap<>();
    private final Map<String, Float> frozen = new LinkedHashMap<>();

    /** True if {@code name} has a threshold. */
    public boolean has(String name) {
        return log2t.containsKey(name);
    }

    /** The {@code log2 t} parameter of {@code name}. */
    public Tensor get(String name) {
        Tensor t = log2t.get(name);
        if (t == null) {
            throw new IllegalStateException("no TQT threshold for '" + name + "': calibrate the model first");
        }
        return t;
    }

    /** Sets (or creates) the threshold of {@code name}. */
    public void set(String name, float value) {
        if (!Float.isFinite(value)) {
            throw new IllegalArgumentException("threshold " + name + " must be finite: " + value);
        }
        Tensor t = log2t.get(name);
        if (t == null) {
            log2t.put(name, Tensor.param(new float[] {value}, 1).named(name));
        } else {
            t.data()[0] = value;
        }
    }

    /** Raises the threshold of {@code name} to at least {@code value} (calibration: a running maximum). */
    public void raise(String name, float value) {
        Tensor t = log2t.get(name);
        if (t == null || t.data()[0] < value) {
            set(name, value);
        }
    }

    /** Names, sorted. */
    public List<String> names() {
        return List.copyOf(log2t.keySet());
    }

    /** The parameters (for the optimizer's threshold group), in name order. */
    public List<Tensor> parameters() {
        return List.copyOf(log2t.values());
    }

    /** Names of the frozen thresholds. */
    public Map<String, Float> frozen() {
        return Collections.unmodifiableMap(frozen);
    }

    /** Applies the freeze rule after an optimizer step (and restores frozen values the step moved). */
    public void afterStep() {
        for (Map.Entry<String, Tensor> e : log2t.entrySet()) {
            String name = e.getKey();
            float[] v = e.getValue().data();
            Float f = frozen.get(name);
            if (f != null) {
                v[0] = f;
                continue;
            }
            int c = (int) Math.ceil(v[0]);
            ArrayDeque<Integer> h = history.computeIfAbsent(name, k -> new ArrayDeque<>());
            h.addLast(c);
            if (h.size() > WINDOW) {
                h.removeFirst();
            }
            if (oscillates(h)) {
                int hi = h.stream().mapToInt(Integer::intValue).max().orElseThrow();
                float value = hi - 0.5f;
                frozen.put(name, value);
                v[0] = value;
            }
        }
    }

    private static boolean oscillates(ArrayDeque<Integer> h) {
        int changes = 0;
        int lo = Integer.MAX_VALUE;
        int hi = Integer.MIN_VALUE;
        Integer prev = null;
        for (int c : h) {
            lo = Math.min(lo, c);
            hi = Math.max(hi, c);
            if (prev != null && prev != c) {
                changes++;
            }
            prev = c;
        }
        return changes >= FLIPS && hi - lo == 1;
    }
}
