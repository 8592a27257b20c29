package org.shiftformer.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.conformance.LayerTrace;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.ReferenceModel;

/** The whole simulator model against the scalar reference model, bit for bit at every tap point. */
class SimModelTest {

    static List<Arguments> models() {
        return List.of(
                Arguments.of(new ModelConfig(32, 2, 64, 2, 2, 300, 40, 2, 0, 1, 2), 11L),
                Arguments.of(new ModelConfig(32, 4, 96, 1, 2, 280, 32, 2, 0, 1, 2), 12L),
                Arguments.of(new ModelConfig(64, 2, 128, 2, 1, 333, 48, 3, 0, 1, 2), 13L),
                Arguments.of(new ModelConfig(64, 4, 256, 1, 1, 517, 24, 3, 0, 1, 2), 14L),
                Arguments.of(new ModelConfig(16, 4, 24, 1, 1, 261, 20, 0, 0, 1, 2), 15L));
    }

    static SimModel load(QuantizedModel m) {
        return new SimModel(TransformerWeights.of(m), DatapathModel.defaults());
    }

    static List<int[]> sources(SplittableRandom rnd, ModelConfig cfg, int count) {
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            // different lengths, including 1 and lengths that are not multiples of 8
            int len = s == 0 ? 1 : 1 + rnd.nextInt(Math.min(cfg.maxPositions(), 19));
            int[] src = new int[len];
            for (int i = 0; i < len; i++) {
                src[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            out.add(src);
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("models")
    void greedyDecodeMatchesReferenceAtEveryTapPointForBatchesOfOneAndFive(ModelConfig cfg, long seed) {
        QuantizedModel model = RandomModels.generate(cfg, seed);
        ReferenceModel ref = new ReferenceModel(TransformerWeights.of(model));
        for (int batch : new int[] {1, 5}) {
            SplittableRandom rnd = new SplittableRandom(seed * 31 + batch);
            List<int[]> srcs = sources(rnd, cfg, batch);
            try (SimModel sim = load(model)) {
                compare(ref, sim, cfg, srcs, 10);
            }
        }
    }

    static void compare(ReferenceModel ref, SimModel sim, ModelConfig cfg, List<int[]> srcs, int steps) {
        int batch = srcs.size();
        LayerTrace expected = new LayerTrace();
        LayerTrace actual = new LayerTrace();
        EncodeResult er = ref.encode(srcs, expected);
        EncodeResult ea = sim.encode(srcs, actual);
        assertNull(actual.firstDifference(expected), () -> "encoder: " + actual.firstDifference(expected));
        assertEquals(expected.entries().size(), actual.entries().size());
        for (int s = 0; s < batch; s++) {
            assertArrayEquals(er.sources().get(s).memory(), ea.sources().get(s).memory(), "memory of " + s);
            assertEquals(srcs.get(s).length, ea.sources().get(s).length());
        }
        assertTrue(ea.cost().deviceCycles() > 0 && ea.cost().deviceNanos() > 0, "encoder cost " + ea.cost());
        int v = cfg.vocabSize();
        List<DecoderState> rs = new ArrayList<>();
        List<DecoderState> as = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            rs.add(ref.newDecoder(er.sources().get(s), steps + 1));
            as.add(sim.newDecoder(ea.sources().get(s), steps + 1));
        }
        int[] tokens = new int[batch];
        Arrays.fill(tokens, cfg.bosId());
        int[] lr = new int[batch * v];
        int[] la = new int[batch * v];
        for (int step = 0; step < steps; step++) {
            expected.clear();
            actual.clear();
            ref.decodeStep(rs, tokens, lr, expected);
            StepCost cost = sim.decodeStep(as, tokens, la, actual);
            int st = step;
            assertNull(actual.firstDifference(expected), () -> "step " + st + ": " + actual.firstDifference(expected));
            assertEquals(expected.entries().size(), actual.entries().size());
            assertArrayEquals(lr, la, "logits at step " + step);
            assertTrue(cost.deviceCycles() > 0, "decode cost");
            for (int s = 0; s < batch; s++) {
                assertEquals(step + 1, as.get(s).position());
                int t = IntOps.argmax(lr, s * v, v, cfg.padId(), cfg.bosId());
                tokens[s] = t == cfg.eosId() ? 3 + step % 7 : t; // keep feeding: every step exercises the cache
            }
        }
        for (DecoderState st : as) {
            st.close();
        }
        for (EncodedSource src : ea.sources()) {
            src.close();
        }
    }

    @Test
    void cachedDecodingEqualsReferenceRecomputationOfThePrefix() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 2, 2, 300, 40, 2, 0, 1, 2);
        QuantizedModel model = RandomModels.generate(cfg, 21);
        ReferenceModel ref = new ReferenceModel(TransformerWeights.of(model));
        int[] src = {5, 80, 17, 200, 33, 9};
        int[] prefix = {cfg.bosId(), 40, 41, 7, 250, 6, 6, 99};
        int[] full = ref.recomputeLogits(ref.encode(List.of(src), null).sources().get(0), prefix);
        try (SimModel sim = load(model)) {
            EncodedSource es = sim.encode(List.of(src), null).sources().get(0);
            DecoderState st = sim.newDecoder(es, prefix.length);
            int v = cfg.vocabSize();
            int[] logits = new int[v];
            for (int t = 0; t < prefix.length; t++) {
                sim.decodeStep(List.of(st), new int[] {prefix[t]}, logits, null);
                assertArrayEquals(Arrays.copyOfRange(full, t * v, (t + 1) * v), logits, "row " + t);
            }
        }
    }

    @Test
    void aSequenceDecodesTheSameAloneAndInABatchOfEight() {
        ModelConfig cfg = new ModelConfig(64, 4, 128, 2, 2, 400, 40, 3, 0, 1, 2);
        QuantizedModel model = RandomModels.generate(cfg, 31);
        List<int[]> srcs = sources(new SplittableRandom(32), cfg, 8);
        try (SimModel sim = load(model)) {
            int[][] batched = greedyLogits(sim, srcs, 9);
            for (int s = 0; s < srcs.size(); s++) {
                int[][] alone = greedyLogits(sim, List.of(srcs.get(s)), 9);
                assertArrayEquals(alone[0], batched[s], "sequence " + s + " alone vs in a batch of 8");
            }
        }
    }

    /** Every step's logits of every sequence, concatenated, with greedy choices. */
    private static int[][] greedyLogits(SimModel sim, List<int[]> srcs, int steps) {
        ModelConfig cfg = sim.config();
        int n = srcs.size();
        int v = cfg.vocabSize();
        EncodeResult enc = sim.encode(srcs, null);
        List<DecoderState> states = new ArrayList<>();
        for (EncodedSource es : enc.sources()) {
            states.add(sim.newDecoder(es, steps));
        }
        int[] tokens = new int[n];
        Arrays.fill(tokens, cfg.bosId());
        int[] logits = new int[n * v];
        int[][] all = new int[n][steps * v];
        for (int step = 0; step < steps; step++) {
            sim.decodeStep(states, tokens, logits, null);
            for (int s = 0; s < n; s++) {
                System.arraycopy(logits, s * v, all[s], step * v, v);
                tokens[s] = IntOps.argmax(logits, s * v, v, cfg.padId(), cfg.bosId());
            }
        }
        for (int s = 0; s < n; s++) {
            states.get(s).close();
            enc.sources().get(s).close();
        }
        return all;
    }

    @Test
    void forkAndCopyFromContinueExactlyLikeTheOriginal() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 2, 2, 300, 40, 2, 0, 1, 2);
        try (SimModel sim = load(RandomModels.generate(cfg, 41))) {
            int v = cfg.vocabSize();
            EncodedSource src = sim.encode(List.of(new int[] {5, 9, 33, 4, 100}), null).sources().get(0);
            DecoderState a = sim.newDecoder(src, 16);
            int[] logits = new int[v];
            int[] seq = {cfg.bosId(), 17, 99, 4};
            for (int t : seq) {
                sim.decodeStep(List.of(a), new int[] {t}, logits, null);
            }
            DecoderState forked = a.fork();
            DecoderState copied = sim.newDecoder(src, 16);
            sim.decodeStep(List.of(copied), new int[] {cfg.bosId()}, logits, null); // stale content to overwrite
            copied.copyFrom(a);
            assertEquals(a.position(), forked.position());
            assertEquals(a.position(), copied.position());
            // diverge the original afterwards: the copies must not see it
            int[] la = new int[v];
            int[] lab = new int[3 * v];
            for (int step = 0; step < 5; step++) {
                int tok = 50 + step;
                sim.decodeStep(List.of(a), new int[] {tok}, la, null);
                sim.decodeStep(List.of(forked, copied), new int[] {tok, tok}, lab, null);
                assertArrayEquals(la, Arrays.copyOf(lab, v), "fork at step " + step);
                assertArrayEquals(la, Arrays.copyOfRange(lab, v, 2 * v), "copy at step " + step);
            }
            DecoderState other = sim.newDecoder(sim.encode(List.of(new int[] {7}), null).sources().get(0), 16);
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> other.copyFrom(a));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            a.close();
            forked.close();
            ShiftformerException busy = assertThrows(ShiftformerException.class, src::close);
            assertEquals(ErrorCode.INVALID_ARGUMENT, busy.code());
            copied.close();
            src.close();
        }
    }

    @Test
    void badInputsFailWithStableCodesAndLeaveStatesUntouched() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 1, 1, 300, 12, 2, 0, 1, 2);
        try (SimModel sim = load(RandomModels.generate(cfg, 51))) {
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> sim.encode(List.of(new int[] {4, 300}), null)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> sim.encode(List.of(new int[] {-1}), null)).code());
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, assertThrows(ShiftformerException.class,
                    () -> sim.encode(List.of(new int[0]), null)).code());
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, assertThrows(ShiftformerException.class,
                    () -> sim.encode(List.of(new int[13]), null)).code());
            EncodedSource src = sim.encode(List.of(new int[] {4, 5, 6}), null).sources().get(0);
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, assertThrows(ShiftformerException.class,
                    () -> sim.newDecoder(src, 13)).code());
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, assertThrows(ShiftformerException.class,
                    () -> sim.newDecoder(src, 0)).code());
            DecoderState a = sim.newDecoder(src, 2);
            DecoderState b = sim.newDecoder(src, 2);
            int[] logits = new int[2 * 300];
            // a bad token in the second state: nothing advances
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> sim.decodeStep(List.of(a, b), new int[] {1, 300}, logits, null)).code());
            assertEquals(0, a.position());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> sim.decodeStep(List.of(a, a), new int[] {1, 1}, logits, null)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> sim.decodeStep(List.of(a, b), new int[] {1, 1}, new int[299], null)).code());
            sim.decodeStep(List.of(a, b), new int[] {1, 1}, logits, null);
            sim.decodeStep(List.of(a, b), new int[] {7, 7}, logits, null);
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, assertThrows(ShiftformerException.class,
                    () -> sim.decodeStep(List.of(a), new int[] {7}, logits, null)).code());
            a.close();
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> sim.decodeStep(List.of(a), new int[] {7}, logits, null)).code());
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {1, 2})
    void aDecoderStepAllocatesNothingPerTokenWithoutATap(int threads) {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        if (!(mx instanceof com.sun.management.ThreadMXBean bean) || !bean.isThreadAllocatedMemorySupported()) {
            return;
        }
        ModelConfig cfg = new ModelConfig(64, 4, 128, 1, 2, 500, 130, 2, 0, 1, 2);
        // parallelMinWork 0: with 2 threads every op of the step that can be split is split
        try (SimModel sim = new SimModel(TransformerWeights.of(RandomModels.generate(cfg, 61)), DatapathModel.defaults(),
                threads, 0)) {
            List<int[]> srcs = sources(new SplittableRandom(62), cfg, 6);
            EncodeResult enc = sim.encode(srcs, null);
            int[] tokens = new int[6];
            Arrays.fill(tokens, 7);
            int[] logits = new int[6 * 500];
            long[] workers = sim.workerThreadIds();
            assertEquals(threads - 1, workers.length);
            long tid = Thread.currentThread().threadId();
            int steps = 100;
            long perStep = Long.MAX_VALUE;
            long workerBytes = Long.MAX_VALUE;
            // Rounds of 100 steps, each with fresh decoders, until one allocates only its StepCost records: the
            // kernels allocate boxed vectors until C2 has compiled them, which, run alone, takes a round or two
            // (and longer on a busy machine). Anything a step allocates for itself never goes away.
            for (int round = 0; round < 50 && (perStep >= 64 || workerBytes / steps >= 64); round++) {
                List<DecoderState> states = new ArrayList<>();
                for (EncodedSource es : enc.sources()) {
                    states.add(sim.newDecoder(es, 128));
                }
                long before = bean.getThreadAllocatedBytes(tid);
                long[] workersBefore = bean.getThreadAllocatedBytes(workers);
                for (int i = 0; i < steps; i++) {
                    sim.decodeStep(states, tokens, logits, null);
                }
                perStep = (bean.getThreadAllocatedBytes(tid) - before) / steps;
                long[] workersAfter = bean.getThreadAllocatedBytes(workers);
                workerBytes = 0;
                for (int i = 0; i < workers.length; i++) {
                    workerBytes += workersAfter[i] - workersBefore[i];
                }
                for (DecoderState st : states) {
                    st.close();
                }
            }
            // a StepCost record (32 bytes, and nothing proportional to batch, width or vocabulary); workers: nothing
            assertTrue(perStep < 64, "decoder step allocated " + perStep + " bytes");
            assertTrue(workerBytes / steps < 64, "workers allocated " + workerBytes + " bytes in " + steps + " steps");
        }
    }
}
