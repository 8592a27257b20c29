package org.shiftformer.trainer.autodiff;

import java.util.Arrays;

/** Shape helpers. */
final class Shapes {
    private Shapes() {
    }

    static int size(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
            n *= d;
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("tensor too large: " + Arrays.toString(shape));
        }
        return (int) n;
    }

    /** Product of all dimensions but the last {@code k}. */
    static int leading(int[] shape, int k) {
        int n = 1;
        for (int i = 0; i < shape.length - k; i++) {
            n *= shape[i];
        }
        return n;
    }

    static int last(int[] shape) {
        return shape[shape.length - 1];
    }

    static void check(boolean ok, String msg, Object... args) {
        if (!ok) {
            throw new IllegalArgumentException(String.format(msg, args));
        }
    }
}
