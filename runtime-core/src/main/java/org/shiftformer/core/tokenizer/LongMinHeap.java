package org.shiftformer.core.tokenizer;

import java.util.Arrays;

/** A binary min-heap of {@code long}s, growable and reusable, with no boxing. */
final class LongMinHeap {
    private long[] a;
    private int size;

    LongMinHeap(int capacity) {
        a = new long[Math.max(4, capacity)];
    }

    boolean isEmpty() {
        return size == 0;
    }

    int size() {
        return size;
    }

    void clear() {
        size = 0;
    }

    void push(long v) {
        if (size == a.length) {
            a = Arrays.copyOf(a, a.length * 2);
        }
        int i = size++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            long pv = a[parent];
            if (pv <= v) {
                break;
            }
            a[i] = pv;
            i = parent;
        }
        a[i] = v;
    }

    /** Removes and returns the smallest element; the heap must not be empty. */
    long pop() {
        long top = a[0];
        long last = a[--size];
        int i = 0;
        int half = size >>> 1;
        while (i < half) {
            int c = 2 * i + 1;
            long cv = a[c];
            int r = c + 1;
            if (r < size && a[r] < cv) {
                c = r;
                cv = a[r];
            }
            if (last <= cv) {
                break;
            }
            a[i] = cv;
            i = c;
        }
        a[i] = last;
        return top;
    }
}
