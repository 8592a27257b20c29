package org.shiftformer.trainer.data;

import java.util.Objects;

/** One parallel sentence pair: a source text and its reference translation. */
public record Pair(String source, String target) {
    public Pair {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
    }
}
