package org.shiftformer.api.backend;

/**
 * What a backend offers.
 *
 * @param maxBatch      most sequences one encoder run or decoder step accepts
 * @param bitExact      true when the backend promises SPEC.md's bits (checked by the conformance kit)
 * @param modelsCycles  true when step costs carry modelled or measured device cycles
 * @param opKernels     true when {@link Backend#kernels()} exposes op-level kernels for conformance tests
 * @param description   one line for humans
 */
public record Capabilities(int maxBatch, boolean bitExact, boolean modelsCycles, boolean opKernels, String description) {
}
