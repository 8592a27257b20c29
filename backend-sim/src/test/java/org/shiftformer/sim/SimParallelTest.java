package org.shiftformer.sim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.ReferenceModel;

/** Several threads: the same bits as one thread and the reference, workers that stop, errors that propagate. */
class SimParallelTest {

    /** Shapes whose widths do not divide evenly into the split (odd d_ff and vocabularies, 3d not a multiple of 32). */
    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        List<ModelConfig> cfgs = List.of(
                new ModelConfig(64, 4, 100, 2, 2, 301, 40, 2, 0, 1, 2),
                new ModelConfig(32, 2, 75, 1, 2, 263, 32, 2, 0, 1, 2),
                new ModelConfig(128, 8, 200, 1, 1, 517, 30, 3, 0, 1, 2),
                new ModelConfig(16, 4, 24, 1, 1, 261, 20, 0, 0, 1, 2));
        for (int c = 0; c < cfgs.size(); c++) {
            for (int threads : new int[] {1, 2, 3}) {
                out.add(Arguments.of(cfgs.get(c), 200L + c, threads));
            }
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void everyThreadCountGivesTheReferenceBitsAtEveryTapPoint(ModelConfig cfg, long seed, int threads) {
        QuantizedModel model = RandomModels.generate(cfg, seed);
        TransformerWeights w = TransformerWeights.of(model);
        ReferenceModel ref = new ReferenceModel(w);
        for (int batch : new int[] {1, 5, 16}) {
            List<int[]> srcs = SimModelTest.sources(new SplittableRandom(seed * 17 + batch), cfg, batch);
            // threshold 0: every op that can be split is split (the small test models stay below the default)
            try (SimModel sim = new SimModel(w, DatapathModel.defaults(), threads, 0)) {
                assertEquals(threads, sim.threads());
                SimModelTest.compare(ref, sim, cfg, srcs, 8);
            }
        }
    }

    @Test
    void logitsWithOneTwoAndThreeThreadsAreIdenticalWithoutTaps() {
        ModelConfig cfg = new ModelConfig(64, 4, 136, 2, 2, 999, 40, 2, 0, 1, 2);
        TransformerWeights w = TransformerWeights.of(RandomModels.generate(cfg, 301));
        List<int[]> srcs = SimModelTest.sources(new SplittableRandom(302), cfg, 16);
        int[][] expected = null;
        for (int threads : new int[] {1, 2, 3}) {
            for (long minWork : new long[] {0, SimModel.DEFAULT_PARALLEL_MIN_WORK}) {
                try (SimModel sim = new SimModel(w, DatapathModel.defaults(), threads, minWork)) {
                    int[][] got = greedy(sim, srcs, 12);
                    if (expected == null) {
                        expected = got;
                    } else {
                        for (int s = 0; s < got.length; s++) {
                            assertArrayEquals(expected[s], got[s], "threads " + threads + " sequence " + s);
                        }
                    }
                }
            }
        }
    }

    private static int[][] greedy(LoadedModel m, List<int[]> srcs, int steps) {
        ModelConfig cfg = m.config();
        int n = srcs.size();
        int v = cfg.vocabSize();
        EncodeResult enc = m.encode(srcs, null);
        List<DecoderState> states = new ArrayList<>();
        for (EncodedSource es : enc.sources()) {
            states.add(m.newDecoder(es, steps));
        }
        int[] tokens = new int[n];
        Arrays.fill(tokens, cfg.bosId());
        int[] logits = new int[n * v];
        int[][] all = new int[n][steps * v];
        for (int step = 0; step < steps; step++) {
            m.decodeStep(states, tokens, logits, null);
            for (int s = 0; s < n; s++) {
                System.arraycopy(logits, s * v, all[s], step * v, v);
                int t = IntOps.argmax(logits, s * v, v, cfg.padId(), cfg.bosId());
                tokens[s] = t == cfg.eosId() ? 3 : t;
            }
        }
        for (int s = 0; s < n; s++) {
            states.get(s).close();
            enc.sources().get(s).close();
        }
        return all;
    }

    private static Set<Thread> simThreads() {
        Set<Thread> out = new java.util.HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("shiftformer-sim-") && t.isAlive()) {
                out.add(t);
            }
        }
        return out;
    }

    private static boolean anyAlive(long[] ids) {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            for (long id : ids) {
                if (t.threadId() == id && t.isAlive()) {
                    return true;
                }
            }
        }
        return false;
    }

    @Test
    void closingTheModelOrTheBackendStopsTheWorkers() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 1, 1, 300, 40, 2, 0, 1, 2);
        QuantizedModel model = RandomModels.generate(cfg, 311);
        try (Backend b = new SimBackendProvider().open(Map.of("threads", "3"))) {
            SimModel m = (SimModel) b.load(model);
            long[] ids = m.workerThreadIds();
            assertEquals(2, ids.length);
            assertTrue(anyAlive(ids));
            for (Thread t : simThreads()) {
                assertTrue(t.isDaemon(), t.getName());
            }
            greedy(m, List.of(new int[] {5, 6, 7}), 4);
            m.close();
            assertFalse(anyAlive(ids), "workers alive after the model closed");
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> m.encode(List.of(new int[] {5}), null)).code());
            // a model left open is closed with its backend
            SimModel leftOpen = (SimModel) b.load(model);
            long[] ids2 = leftOpen.workerThreadIds();
            assertTrue(anyAlive(ids2));
            b.close();
            assertFalse(anyAlive(ids2), "workers alive after the backend closed");
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                    () -> leftOpen.encode(List.of(new int[] {5}), null)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class, () -> b.load(model)).code());
        }
    }

    @Test
    void oneThreadStartsNoWorkerAndTheDefaultIsTheProcessorCountCapped() {
        ModelConfig cfg = new ModelConfig(16, 4, 24, 1, 1, 261, 20, 0, 0, 1, 2);
        try (Backend b = new SimBackendProvider().open(Map.of("threads", "1"));
             SimModel m = (SimModel) b.load(RandomModels.generate(cfg, 5))) {
            assertEquals(0, m.workerThreadIds().length);
            assertEquals(1, m.threads());
        }
        int expected = Math.min(Runtime.getRuntime().availableProcessors(), 16);
        assertEquals(expected, SimBackendProvider.defaultThreads());
        try (Backend b = new SimBackendProvider().open(Map.of());
             SimModel m = (SimModel) b.load(RandomModels.generate(cfg, 5))) {
            assertEquals(expected, m.threads());
        }
        try (Backend b = new SimBackendProvider().open(Map.of("threads", " 256 ", "card", "U55C"))) {
            assertEquals(256, ((SimBackendProvider.SimBackend) b).threads());
            assertEquals("spec-1 datapath u55c 64x64@300MHz", b.identity().version());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-1", "257", "100000000000", "two", "1.5", ""})
    void invalidThreadCountsAreRejectedNamingTheKeyAndRange(String value) {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new SimBackendProvider().open(Map.of("threads", value)));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("threads") && e.getMessage().contains("[1, 256]"), e.getMessage());
    }

    @Test
    void unknownKeysListThreadsAmongTheAcceptedSettings() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new SimBackendProvider().open(Map.of("thread", "2")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("'thread'") && e.getMessage().contains("threads")
                && e.getMessage().contains("card"), e.getMessage());
    }

    // ---- the pool itself ----------------------------------------------------------------------------

    @Test
    void everyIndexRunsExactlyOnceAcrossManyRegions() {
        int units = 1000;
        AtomicInteger[] hits = new AtomicInteger[units];
        for (int i = 0; i < units; i++) {
            hits[i] = new AtomicInteger();
        }
        Set<Integer> workersSeen = java.util.concurrent.ConcurrentHashMap.newKeySet();
        try (WorkerPool pool = new WorkerPool(3, (op, from, to, worker) -> {
            workersSeen.add(worker);
            for (int i = from; i < to; i++) {
                hits[i].addAndGet(op);
                busy(2_000);
            }
        })) {
            for (int region = 0; region < 200; region++) {
                pool.run(1, units, 1 + region % 7);
            }
        }
        for (int i = 0; i < units; i++) {
            assertEquals(200, hits[i].get(), "index " + i);
        }
        assertTrue(workersSeen.contains(0), "the caller takes part");
        assertTrue(workersSeen.size() > 1, "workers took part: " + workersSeen);
    }

    private static long busy(long nanos) {
        long end = System.nanoTime() + nanos;
        long x = 0;
        while (System.nanoTime() < end) {
            x++;
        }
        return x;
    }

    @Test
    void aFailingWorkerChunkIsThrownOnTheCallerAndThePoolStaysUsable() {
        ShiftformerException original = new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "boom");
        try (WorkerPool pool = new WorkerPool(2, (op, from, to, worker) -> {
            busy(50_000);
            if (worker != 0 && op == 1) {
                throw new IllegalStateException("worker failure");
            }
            if (worker != 0 && op == 2) {
                throw original;
            }
        })) {
            boolean wrapped = false;
            boolean same = false;
            for (int attempt = 0; attempt < 20 && !(wrapped && same); attempt++) {
                try {
                    pool.run(1, 64, 1);
                } catch (ShiftformerException e) {
                    assertEquals(ErrorCode.INTERNAL, e.code());
                    assertInstanceOf(IllegalStateException.class, e.getCause());
                    wrapped = true;
                }
                try {
                    pool.run(2, 64, 1);
                } catch (ShiftformerException e) {
                    assertSame(original, e);
                    same = true;
                }
            }
            assertTrue(wrapped && same, "a worker never ran a chunk");
            // and the next region completes normally
            AtomicInteger count = new AtomicInteger();
            try (WorkerPool p2 = new WorkerPool(2, (op, from, to, worker) -> count.addAndGet(to - from))) {
                p2.run(0, 100, 3);
            }
            assertEquals(100, count.get());
            pool.run(0, 64, 1);
        }
    }

    @Test
    void aFailingCallerChunkWaitsForTheWorkersAndIsThrown() {
        // Which thread claims which chunk is up to the scheduler: on a loaded machine the workers may take
        // every chunk of a region before the caller claims one, so retry until the caller ran (and failed
        // in) a chunk; every attempt must still return only after all chunks finished.
        AtomicInteger done = new AtomicInteger();
        int units = 200;
        try (WorkerPool pool = new WorkerPool(3, (op, from, to, worker) -> {
            busy(20_000);
            done.addAndGet(to - from);
            if (worker == 0) {
                throw new ArithmeticException("caller failure");
            }
        })) {
            boolean thrown = false;
            for (int attempt = 0; attempt < 50 && !thrown; attempt++) {
                done.set(0);
                try {
                    pool.run(0, units, 1);
                } catch (ShiftformerException e) {
                    assertEquals(ErrorCode.INTERNAL, e.code());
                    assertInstanceOf(ArithmeticException.class, e.getCause());
                    thrown = true;
                }
                // every chunk had finished when run() returned, thrown or not
                assertEquals(units, done.get());
            }
            assertTrue(thrown, "the calling thread never ran a chunk in 50 regions");
        }
    }
}
