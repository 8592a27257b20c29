package org.shiftformer.fpga.xrt;

import org.shiftformer.api.ShiftformerException;

/**
 * Run in a child JVM by {@link XrtEmulationTest} (the emulation reads SHIFTFORMER_XRT_EMU once, when it
 * loads): opens device 0 and prints "opened" or the failure's code and message.
 */
public final class XrtEmuChild {
    private XrtEmuChild() {
    }

    public static void main(String[] args) {
        try (XrtDevice device = XrtDevice.open(0)) {
            System.out.println("opened " + device.name());
        } catch (ShiftformerException e) {
            System.out.println("failed " + e.code() + ": " + e.getMessage());
        }
    }
}
