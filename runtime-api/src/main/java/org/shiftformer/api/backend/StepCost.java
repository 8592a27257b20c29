package org.shiftformer.api.backend;

/**
 * The device cost of one encoder run or decoder step.
 *
 * @param deviceCycles modelled (simulator) or measured (device) datapath cycles; 0 when unknown
 * @param deviceNanos  modelled or measured device time including transfers; 0 when unknown
 */
public record StepCost(long deviceCycles, long deviceNanos) {
    public static final StepCost ZERO = new StepCost(0, 0);

    public StepCost plus(StepCost other) {
        return new StepCost(deviceCycles + other.deviceCycles, deviceNanos + other.deviceNanos);
    }
}
