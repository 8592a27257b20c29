package org.shiftformer.api.conformance;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.backend.LayerTap;

/**
 * Records a 64-bit FNV-1a hash of every layer output a backend reports, in order, so two backends'
 * runs can be compared point by point and the first diverging layer named.
 */
public final class LayerTrace implements LayerTap {
    /** One tapped output. */
    public record Entry(int sequence, String point, int length, long hash) {
    }

    private final List<Entry> entries = new ArrayList<>();

    @Override
    public void accept(int sequence, String point, int[] values, int length) {
        long h = 0xcbf29ce484222325L;
        for (int i = 0; i < length; i++) {
            h ^= values[i];
            h *= 0x100000001b3L;
        }
        entries.add(new Entry(sequence, point, length, h));
    }

    public List<Entry> entries() {
        return entries;
    }

    public void clear() {
        entries.clear();
    }

    /** Null when equal, otherwise a description of the first difference. */
    public String firstDifference(LayerTrace expected) {
        List<Entry> exp = expected.entries;
        // Backends may report sequences of a batch in any order: compare per sequence, in order.
        int sequences = 0;
        for (Entry e : exp) {
            sequences = Math.max(sequences, e.sequence() + 1);
        }
        for (Entry e : entries) {
            sequences = Math.max(sequences, e.sequence() + 1);
        }
        for (int s = 0; s < sequences; s++) {
            List<Entry> a = ofSequence(exp, s);
            List<Entry> b = ofSequence(entries, s);
            for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
                Entry x = i < a.size() ? a.get(i) : null;
                Entry y = i < b.size() ? b.get(i) : null;
                if (x == null || !x.equals(y)) {
                    return "sequence " + s + ", tap #" + i + ": expected " + x + ", got " + y;
                }
            }
        }
        return null;
    }

    private static List<Entry> ofSequence(List<Entry> all, int s) {
        List<Entry> out = new ArrayList<>();
        for (Entry e : all) {
            if (e.sequence() == s) {
                out.add(e);
            }
        }
        return out;
    }
}
