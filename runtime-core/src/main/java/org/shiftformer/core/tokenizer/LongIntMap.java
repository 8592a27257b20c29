package org.shiftformer.core.tokenizer;

import java.util.Arrays;

/**
 * An open-addressing (linear probing) map from non-negative {@code long} keys to {@code int} values,
 * with no boxing. Tokenizer pair keys are {@code (left << 32) | right}, see {@link #pairKey}. Not
 * thread-safe for writers; concurrent readers of a map that is no longer written are safe.
 */
final class LongIntMap {
    private static final long EMPTY = -1L;
    private static final int MAX_CAPACITY = 1 << 30;

    private long[] keys;
    private int[] values;
    private int mask;
    private int shift;
    private int size;
    private int growAt;

    /** A map sized to hold {@code expected} entries without growing. */
    LongIntMap(int expected) {
        int cap = 16;
        while (cap < MAX_CAPACITY && (long) cap * 2 < (long) expected * 3) {
            cap <<= 1;
        }
        allocate(cap);
    }

    /** The key of the adjacent id pair {@code (left, right)}; both must be non-negative. */
    static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    static int pairLeft(long key) {
        return (int) (key >>> 32);
    }

    static int pairRight(long key) {
        return (int) key;
    }

    int size() {
        return size;
    }

    /** The value of {@code key}, or {@code missing} if absent. */
    int get(long key, int missing) {
        long[] k = keys;
        int i = slot(key);
        while (true) {
            long c = k[i];
            if (c == key) {
                return values[i];
            }
            if (c == EMPTY) {
                return missing;
            }
            i = (i + 1) & mask;
        }
    }

    /**
     * Associates {@code value} with {@code key} unless the key is present already; returns the value
     * now associated with it (the old one if it was present).
     */
    int putIfAbsent(long key, int value) {
        if (key < 0) {
            throw new IllegalArgumentException("negative key " + key);
        }
        int i = slot(key);
        while (true) {
            long c = keys[i];
            if (c == key) {
                return values[i];
            }
            if (c == EMPTY) {
                keys[i] = key;
                values[i] = value;
                if (++size >= growAt) {
                    grow();
                }
                return value;
            }
            i = (i + 1) & mask;
        }
    }

    private int slot(long key) {
        return (int) ((key * 0x9E3779B97F4A7C15L) >>> shift);
    }

    private void allocate(int cap) {
        keys = new long[cap];
        Arrays.fill(keys, EMPTY);
        values = new int[cap];
        mask = cap - 1;
        shift = 64 - Integer.numberOfTrailingZeros(cap);
        growAt = cap == MAX_CAPACITY ? Integer.MAX_VALUE : (int) ((long) cap * 2 / 3);
    }

    private void grow() {
        long[] oldKeys = keys;
        int[] oldValues = values;
        allocate(oldKeys.length * 2);
        for (int j = 0; j < oldKeys.length; j++) {
            long key = oldKeys[j];
            if (key != EMPTY) {
                int i = slot(key);
                while (keys[i] != EMPTY) {
                    i = (i + 1) & mask;
                }
                keys[i] = key;
                values[i] = oldValues[j];
            }
        }
    }
}
