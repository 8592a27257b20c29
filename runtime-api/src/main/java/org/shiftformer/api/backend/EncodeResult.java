package org.shiftformer.api.backend;

import java.util.List;

/** The sources of one encoder run, in input order, and the run's device cost. */
public record EncodeResult(List<EncodedSource> sources, StepCost cost) {
    public EncodeResult {
        sources = List.copyOf(sources);
    }
}
