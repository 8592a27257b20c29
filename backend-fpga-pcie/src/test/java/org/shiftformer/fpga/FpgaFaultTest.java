package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.fpga.xrt.XrtEmulation;

/**
 * Faults injected by the host-emulation library ({@link XrtEmulation#configure}): a device that does not
 * open and an xclbin that does not load give {@code BACKEND_UNAVAILABLE} naming the XRT call; a kernel
 * error and a timeout in the middle of a decode give {@code BACKEND_FAILURE} naming the kernel, the step
 * and the run state, and leave the model failing fast; a run that timed out is parked (never closed, its
 * buffers never freed while the compute unit may still use them) and every model of the card then fails
 * fast; and whatever happened, closing the model and the backend leaves no device buffer or run alive and
 * the strict emulation records no fatal error (what real XRT would abort on).
 */
class FpgaFaultTest {
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 1, 2, 280, 24, 2, 0, 1, 2);

    private XrtEmulation emu;
    private long fatalBefore;

    @BeforeEach
    void reset() {
        emu = EmulatedCard.emulation();
        emu.configure("");
        fatalBefore = emu.fatalErrors();
    }

    @AfterEach
    void clear() {
        if (emu != null) {
            emu.configure("");
        }
    }

    @Test
    void deviceOpenFailureIsUnavailableNamingTheCall() {
        emu.configure("fail-open");
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new FpgaBackendProvider().open(Map.of()));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code(), e::getMessage);
        assertTrue(e.getMessage().contains("xrtDeviceOpen"), e::getMessage);
        assertNothingLive();
    }

    @Test
    void xclbinLoadFailureIsUnavailableNamingTheCall() {
        emu.configure("fail-xclbin");
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new FpgaBackendProvider().open(Map.of()));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code(), e::getMessage);
        assertTrue(e.getMessage().contains("xrtDeviceLoadXclbinFile"), e::getMessage);
        assertNothingLive();
    }

    @Test
    void missingKernelIsUnavailable() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new FpgaBackendProvider().open(Map.of("kernel", "no_such_kernel")));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code(), e::getMessage);
        assertTrue(e.getMessage().contains("no_such_kernel"), e::getMessage);
        assertNothingLive();
    }

    @Test
    void kernelErrorMidDecodeFailsNamingKernelStepAndState() {
        ShiftformerException e = failMidDecode(Map.of(), "run-error=3");
        assertTrue(e.getMessage().contains("ERROR"), e::getMessage);
    }

    @Test
    void timeoutMidDecodeFailsNamingKernelStepAndState() {
        ShiftformerException e = failMidDecode(Map.of("timeout-ms", "500"), "run-timeout=3");
        assertTrue(e.getMessage().contains("TIMEOUT"), e::getMessage);
        assertTrue(e.getMessage().contains("the run is parked"), e::getMessage);
    }

    @Test
    void aTimedOutRunIsParkedAndEveryModelOfTheCardThenFailsFast() {
        try (Backend b = new FpgaBackendProvider().open(Map.of("timeout-ms", "300"))) {
            LoadedModel m1 = b.load(RandomModels.generate(CFG, 3));
            LoadedModel m2 = b.load(RandomModels.generate(CFG, 4));
            EncodeResult enc = m2.encode(List.of(new int[] {5, 6, 7}), null);
            DecoderState st = m2.newDecoder(enc.sources().get(0), 10);
            int[] logits = new int[CFG.vocabSize()];
            m2.decodeStep(List.of(st), new int[] {CFG.bosId()}, logits, null);
            emu.configure("run-timeout=1");
            long started = emu.runsStarted();
            ShiftformerException hung = assertThrows(ShiftformerException.class, () -> m1.encode(List.of(new int[] {4, 5}), null));
            assertEquals(ErrorCode.BACKEND_FAILURE, hung.code(), hung::getMessage);
            assertTrue(hung.getMessage().contains("encoder run (batch 1)") && hung.getMessage().contains("TIMEOUT"), hung::getMessage);
            assertEquals(fatalBefore, emu.fatalErrors(), emu::lastFatal);
            // the hung run still holds the card's one compute unit: another model's step fails at once
            // instead of queueing behind it for another timeout
            ShiftformerException other = assertThrows(ShiftformerException.class,
                    () -> m2.decodeStep(List.of(st), new int[] {9}, logits, null));
            assertEquals(ErrorCode.BACKEND_FAILURE, other.code(), other::getMessage);
            assertTrue(other.getMessage().contains("compute unit") && other.getMessage().contains("encoder run (batch 1)"),
                    other::getMessage);
            assertEquals(1, emu.runsStarted() - started, "failed fast: no run started (and queued) after the hung one");
            st.close();
            enc.sources().get(0).close();
            m1.close(); // its run and buffers stay parked while the run is in flight
            m2.close();
            assertTrue(emu.liveBuffers() > 0, "the parked run's buffers are not freed while it is in flight");
            assertEquals(fatalBefore, emu.fatalErrors(), emu::lastFatal);
        }
        // the device closed: the emulated compute unit aborted the run, so the backend could free it
        assertNothingLive();
    }

    @Test
    void aKernelFailureArrivesThroughTheStatusWordOfARunThatCompleted() {
        // a card ignores the kernel's return value: the run completes and only out[0] tells
        try (Backend b = new FpgaBackendProvider().open(Map.of())) {
            IntKernels k = b.kernels().orElseThrow();
            byte[] out = new byte[4];
            k.requantize(new int[] {100, -100, 7, 8}, 4, 3, DType.INT8, out);
            assertArrayEquals(new byte[] {13, -12, 1, 1}, out);
            ShiftformerException e = assertThrows(ShiftformerException.class,
                    () -> k.requantize(new int[] {1, 2, 3, 4}, 4, 70, DType.INT8, out));
            assertEquals(ErrorCode.BACKEND_FAILURE, e.code(), e::getMessage);
            assertTrue(e.getMessage().contains("op REQUANT failed on kernel shiftformer_step: the kernel reported "
                    + "op-level operand size out of range (status 7) in its status word out[0]"), e::getMessage);
            assertFalse(e.getMessage().contains("state ERROR"), e::getMessage);
            k.requantize(new int[] {100, -100, 7, 8}, 4, 3, DType.INT8, out); // the op-level path stays usable
            assertArrayEquals(new byte[] {13, -12, 1, 1}, out);
        }
        assertNothingLive();
    }

    /** Encodes, decodes two steps, arms {@code fault} for the third run after that, and decodes into it. */
    private ShiftformerException failMidDecode(Map<String, String> settings, String fault) {
        ShiftformerException failure;
        try (Backend b = new FpgaBackendProvider().open(settings)) {
            LoadedModel m = b.load(RandomModels.generate(CFG, 3));
            EncodeResult enc = m.encode(List.of(new int[] {5, 6, 7}, new int[] {8, 9}), null);
            List<DecoderState> states = new ArrayList<>();
            for (var src : enc.sources()) {
                states.add(m.newDecoder(src, 10));
            }
            int[] tokens = new int[2];
            int[] logits = new int[2 * CFG.vocabSize()];
            Arrays.fill(tokens, CFG.bosId());
            m.decodeStep(states, tokens, logits, null);
            emu.configure(fault);
            tokens = new int[] {10, 11};
            m.decodeStep(states, tokens, logits, null);
            m.decodeStep(states, tokens, logits, null);
            int[] t = tokens;
            failure = assertThrows(ShiftformerException.class, () -> m.decodeStep(states, t, logits, null));
            assertEquals(ErrorCode.BACKEND_FAILURE, failure.code(), failure::getMessage);
            assertTrue(failure.getMessage().contains("shiftformer_step"), failure::getMessage);
            assertTrue(failure.getMessage().contains("decoder step (batch 2)"), failure::getMessage);
            // the device state is unknown now: the model fails fast, naming the first failure
            ShiftformerException again = assertThrows(ShiftformerException.class, () -> m.decodeStep(states, t, logits, null));
            assertEquals(ErrorCode.BACKEND_FAILURE, again.code());
            assertTrue(again.getMessage().contains("unusable after an earlier kernel failure"), again::getMessage);
            emu.configure("");
            m.close();
        }
        assertNothingLive();
        return failure;
    }

    @Test
    void closingTheBackendFreesEveryBufferOfModelsStatesAndSourcesLeftOpen() {
        try (Backend b = new FpgaBackendProvider().open(Map.of("kv-slots", "4", "source-slots", "2"))) {
            assertTrue(b.kernels().isPresent());
            LoadedModel m1 = b.load(RandomModels.generate(CFG, 1));
            LoadedModel m2 = b.load(RandomModels.generate(CFG, 2));
            EncodeResult enc = m1.encode(List.of(new int[] {4, 5}), null);
            DecoderState st = m1.newDecoder(enc.sources().get(0), 5);
            DecoderState fork = st.fork();
            assertEquals(0, fork.position());
            m2.encode(List.of(new int[] {4}), null);
            assertTrue(emu.liveBuffers() > 0);
        }
        assertNothingLive();
    }

    @Test
    void slotsRunningOutIsAModelLimitNamingTheSetting() {
        try (Backend b = new FpgaBackendProvider().open(Map.of("kv-slots", "2", "source-slots", "1"));
             LoadedModel m = b.load(RandomModels.generate(CFG, 1))) {
            ShiftformerException e = assertThrows(ShiftformerException.class,
                    () -> m.encode(List.of(new int[] {4}, new int[] {5}), null));
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, e.code());
            assertTrue(e.getMessage().contains("source-slots"), e::getMessage);
            var src = m.encode(List.of(new int[] {4}), null).sources().get(0); // the failed encode freed its slot
            DecoderState a = m.newDecoder(src, 4);
            DecoderState c = a.fork();
            ShiftformerException full = assertThrows(ShiftformerException.class, () -> m.newDecoder(src, 4));
            assertTrue(full.getMessage().contains("kv-slots"), full::getMessage);
            c.close();
            m.newDecoder(src, 4).close(); // a closed state's slot is reused
            a.close();
            src.close();
        }
        assertNothingLive();
    }

    private void assertNothingLive() {
        assertEquals(0, emu.liveBuffers(), "live device buffers");
        assertEquals(0, emu.liveRuns(), "live runs");
        assertEquals(fatalBefore, emu.fatalErrors(), () -> "fatal errors in the emulation; the last: " + emu.lastFatal());
    }
}
