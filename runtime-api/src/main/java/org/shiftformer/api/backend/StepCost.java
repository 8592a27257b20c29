package org.shiftformer.api.backend;

/**
 * The device cost of one encoder run or decoder step.
 *
 * @param deviceCycles datapath cycles: modelled ({@link DatapathCycles}' walk of the FPGA kernel's loop nest for
 *                     the sim backend), counted by the fpga kernel itself over the same loop nest, or measured
 *                     (a device with a cycle counter); 0 when unknown
 * @param deviceNanos  modelled or measured device time including transfers; 0 when unknown
 */
public record StepCost(long deviceCycles, long deviceNanos) {
    public static final StepCost ZERO = new StepCost(0, 0);

    public StepCost plus(StepCost other) {
        return new StepCost(deviceCycles + other.deviceCycles, deviceNanos + other.deviceNanos);
    }
}
