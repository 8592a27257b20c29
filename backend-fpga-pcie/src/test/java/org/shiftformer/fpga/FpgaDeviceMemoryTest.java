package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtDevice;
import org.shiftformer.fpga.xrt.XrtEmulation;
import org.shiftformer.fpga.xrt.XrtKernel;
import org.shiftformer.fpga.xrt.XrtRun;

/**
 * Device memory management, counted by the host emulation: the weights cross PCIe once, at load; every
 * buffer is allocated at load and none per step; a decoder step moves exactly its 5 input words per
 * sequence to the card and the status words and logits back; an encoder run the token ids in and the
 * status words back. Nothing else is synced (caches, memory, activations stay on the device).
 */
class FpgaDeviceMemoryTest {
    private static final ModelConfig CFG = new ModelConfig(64, 4, 128, 2, 2, 400, 32, 2, 0, 1, 2);

    @Test
    void weightsOnceBuffersAtLoadAndOnlyInputsAndLogitsPerStep() {
        XrtEmulation emu = EmulatedCard.emulation();
        emu.configure("");
        QuantizedModel model = RandomModels.generate(CFG, 4);
        DeviceImage image = DeviceImage.pack(TransformerWeights.of(model), 8, 4);
        long imageBytes = image.bytes().length; // the weights buffer and its 4 stripes
        for (byte[] stripe : image.stripes()) {
            imageBytes += stripe.length;
        }
        try (Backend b = new FpgaBackendProvider().open(Map.of("kv-slots", "8", "source-slots", "4"))) {
            long buffers0 = emu.liveBuffers();
            long to0 = emu.bytesSyncedToDevice();
            long from0 = emu.bytesSyncedFromDevice();
            long host0 = emu.hostCopyBytes();
            long runs0 = emu.liveRuns();
            try (LoadedModel m = b.load(model)) {
                assertEquals(11, emu.liveBuffers() - buffers0, "buffers of a loaded model");
                // host copies only for what the host reads or writes: the weights image and stripes, the sources (read back
                // one slot at a time), in and out; the KV cache (8 slots x 2 layers x K,V x 32 positions x 64 =
                // 65536 bytes), the scratch and the 64-byte placeholder taps are device-only
                long srcBytes = 4L * (1 + 2 * 2) * 32 * 64;
                // in: the larger of a decoder step of 8 slots and an encoder run of 4 sources (each source's 32 tokens
                // on a 64-byte word), in whole 64-byte words
                long inBytes = 4L * Math.max(FpgaLayout.IN_HDR + 5 * 8, FpgaLayout.encodeTokensAt(4, 4, 32));
                assertEquals(0, inBytes % 64);
                long outBytes = 4L * (FpgaLayout.OUT_HDR + 8 * 400);
                assertEquals(imageBytes + srcBytes + inBytes + outBytes, emu.hostCopyBytes() - host0, "host-copy bytes of a loaded model");
                assertEquals(1, emu.liveRuns() - runs0, "one run handle, opened at load and reused by every step");
                assertEquals(imageBytes, emu.bytesSyncedToDevice() - to0, "bytes synced at load: the weights image and stripes");
                assertEquals(0, emu.bytesSyncedFromDevice() - from0);

                long to = emu.bytesSyncedToDevice();
                long from = emu.bytesSyncedFromDevice();
                EncodeResult enc = m.encode(List.of(new int[] {4, 5, 6}, new int[] {7, 8, 9, 10, 11}), null);
                // header, 2 (slot, length) pairs padded to a 16-word port word, sequence 0 at its P-word stride, then
                // sequence 1's 5 tokens
                assertEquals(4L * (FpgaLayout.IN_HDR + 16 + CFG.maxPositions() + 5), emu.bytesSyncedToDevice() - to);
                assertEquals(4L * FpgaLayout.OUT_HDR, emu.bytesSyncedFromDevice() - from);

                List<DecoderState> states = new ArrayList<>();
                for (var src : enc.sources()) {
                    states.add(m.newDecoder(src, 20));
                }
                states.add(states.get(0).fork());
                int[] logits = new int[3 * CFG.vocabSize()];
                for (int step = 0; step < 10; step++) {
                    to = emu.bytesSyncedToDevice();
                    from = emu.bytesSyncedFromDevice();
                    m.decodeStep(states, new int[] {step == 0 ? 1 : 5 + step, 1, 9}, logits, null);
                    assertEquals(4L * (FpgaLayout.IN_HDR + 5 * 3), emu.bytesSyncedToDevice() - to, "to the device, step " + step);
                    assertEquals(4L * (FpgaLayout.OUT_HDR + 3 * CFG.vocabSize()), emu.bytesSyncedFromDevice() - from,
                            "from the device, step " + step);
                }
                assertEquals(11, emu.liveBuffers() - buffers0, "no buffer allocated by steps, states or sources");
                assertEquals(1, emu.liveRuns() - runs0, "still the one run handle");
                for (DecoderState s : states) {
                    s.close();
                }
                enc.sources().forEach(s -> s.close());
            }
            assertEquals(buffers0, emu.liveBuffers(), "closing the model frees its buffers");
            assertEquals(runs0, emu.liveRuns(), "and closes its run");
            assertEquals(host0, emu.hostCopyBytes());
        }
    }

    /**
     * Each weight stripe is connected to a memory group of its own in the emulated xclbin (as each has its own
     * pseudo-channels on the U55C), apart from the weights' group: a stripe buffer allocated in the weights'
     * group, or in another stripe's, is rejected when it is set as the argument.
     */
    @Test
    void eachWeightStripeHasItsOwnMemoryGroupAndAWrongOneIsRejected() {
        XrtEmulation emu = EmulatedCard.emulation();
        long fatal = emu.fatalErrors();
        try (XrtDevice dev = XrtDevice.open(0)) {
            dev.loadXclbin(Path.of(System.getProperty(FpgaSettings.EMU_XCLBIN_PROPERTY)));
            try (XrtKernel k = dev.openKernel(FpgaSettings.DEFAULT_KERNEL); XrtRun run = k.newRun()) {
                java.util.Set<Integer> groups = new HashSet<>();
                groups.add(k.groupId(FpgaLayout.ARG_WEIGHTS));
                for (int s = 0; s < FpgaLayout.WEIGHT_STRIPES; s++) {
                    assertTrue(groups.add(k.groupId(FpgaLayout.ARG_WSTRIPE0 + s)), "stripe " + s + " shares a group");
                }
                int stripe1 = FpgaLayout.ARG_WSTRIPE0 + 1;
                for (int wrongArg : new int[] {FpgaLayout.ARG_WEIGHTS, FpgaLayout.ARG_WSTRIPE0}) {
                    try (XrtBuffer wrong = dev.alloc(64, k.groupId(wrongArg))) {
                        ShiftformerException e = assertThrows(ShiftformerException.class, () -> run.arg(stripe1, wrong));
                        assertTrue(e.getMessage().contains("argument wstripe1 is connected to memory group "
                                + k.groupId(stripe1) + ", but the buffer was allocated in group " + k.groupId(wrongArg)),
                                e.getMessage());
                    }
                }
                try (XrtBuffer right = dev.alloc(64, k.groupId(stripe1))) {
                    run.arg(stripe1, right);
                }
            }
        }
        assertEquals(fatal, emu.fatalErrors());
    }
}
