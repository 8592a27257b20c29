package org.shiftformer.core.decode;

/**
 * The outcome of decoding one sequence.
 *
 * @param tokens       output ids without the EOS
 * @param score        beam: length-normalized Q16 base-2 log-probability; greedy: 0
 * @param finishedByEos true when the EOS was produced, false when max new tokens stopped it
 * @param steps        decoder steps this sequence took part in
 * @param deviceCycles modelled device cycles attributed to this sequence (its share of each batched step)
 */
public record DecodeResult(int[] tokens, long score, boolean finishedByEos, int steps, long deviceCycles) {
}
