package org.shiftformer.api.conformance;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.ReferenceKernels;
import org.shiftformer.api.spec.ReferenceModel;
import org.shiftformer.api.spec.Tables;

/**
 * The backend conformance kit: every backend module extends this class in its tests and returns its
 * provider. Our tolerance is zero: every op on at least {@value #CASES} random cases (saturation and
 * rounding ties included) and whole decodes of random models (every layer output hashed) must equal
 * the scalar reference of SPEC.md bit for bit.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class BackendConformanceKit {
    /** Random cases per op. */
    public static final int CASES = 1000;

    private Backend backend;

    /** The provider under test. */
    protected abstract BackendProvider provider();

    /** Settings passed to {@link BackendProvider#open}. */
    protected Map<String, String> settings() {
        return Map.of();
    }

    /** Model shapes for the whole-decode tests; override to add or shrink. */
    protected List<ModelConfig> modelConfigs() {
        return List.of(
                new ModelConfig(32, 2, 64, 2, 2, 300, 40, 2, 0, 1, 2),
                new ModelConfig(64, 4, 128, 1, 2, 512, 32, 3, 0, 1, 2),
                new ModelConfig(16, 1, 48, 1, 1, 270, 24, 0, 0, 1, 2));
    }

    @BeforeAll
    void openBackend() {
        assertTrue(provider().availability().available(), () -> "backend unavailable: " + provider().availability().reason());
        backend = provider().open(settings());
    }

    @AfterAll
    void closeBackend() {
        if (backend != null) {
            backend.close();
        }
    }

    private IntKernels kernels() {
        return backend.kernels().orElseThrow(() -> new AssertionError(
                "backend " + provider().name() + " exposes no op kernels; override the op tests to skip them"));
    }

    // ---- op level ----------------------------------------------------------------------------------

    @Test
    void linearMatchesReferenceOnRandomAndExtremeCases() {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int c = 0; c < CASES; c++) {
            int rows = 1 + rnd.nextInt(c % 10 == 0 ? 17 : 4);
            int k = 1 + rnd.nextInt(c % 7 == 0 ? 600 : 80);
            int n = 1 + rnd.nextInt(c % 5 == 0 ? 70 : 20);
            boolean unsigned = rnd.nextBoolean();
            byte[] x = bytes(rnd, rows * k, c);
            byte[] w = bytes(rnd, n * k, c + 1);
            int[] bias = null;
            if (c % 11 != 0) {
                bias = new int[n];
                for (int o = 0; o < n; o++) {
                    long room = Integer.MAX_VALUE - (unsigned ? 255L : 128L) * sumAbs(w, o * k, k);
                    long b = c % 3 == 0 ? (rnd.nextBoolean() ? room : -room) : rnd.nextInt(-1000, 1001);
                    bias[o] = (int) Math.max(-room, Math.min(room, b));
                }
            }
            int[] expected = new int[rows * n];
            int[] actual = new int[rows * n];
            ReferenceKernels.INSTANCE.linear(x, rows, k, unsigned, w, n, bias, expected);
            kernels().linear(x, rows, k, unsigned, w, n, bias, actual);
            int cc = c;
            assertArrayEquals(expected, actual, () -> "linear case " + cc + " rows=" + rows + " k=" + k + " n=" + n
                    + " unsigned=" + unsigned);
        }
    }

    @Test
    void requantizeMatchesReferenceIncludingTiesAndSaturation() {
        SplittableRandom rnd = new SplittableRandom(2);
        for (int c = 0; c < CASES; c++) {
            int shift = IntOps.MIN_SHIFT + rnd.nextInt(IntOps.MAX_SHIFT - IntOps.MIN_SHIFT + 1);
            if (c % 3 == 0) {
                shift = rnd.nextInt(1, 20);
            }
            int len = 1 + rnd.nextInt(70);
            int[] acc = new int[len];
            for (int i = 0; i < len; i++) {
                acc[i] = switch (rnd.nextInt(5)) {
                    case 0 -> rnd.nextInt();
                    case 1 -> rnd.nextInt(-1000, 1000);
                    case 2 -> shift > 0 ? (int) ((2L * rnd.nextInt(-5000, 5000) + 1) << (shift - 1)) : rnd.nextInt(-300, 300); // tie
                    case 3 -> rnd.nextBoolean() ? Integer.MAX_VALUE : Integer.MIN_VALUE;
                    default -> rnd.nextInt(-200000, 200000);
                };
            }
            DType out = rnd.nextBoolean() ? DType.INT8 : DType.UINT8;
            byte[] expected = new byte[len];
            byte[] actual = new byte[len];
            ReferenceKernels.INSTANCE.requantize(acc, len, shift, out, expected);
            kernels().requantize(acc, len, shift, out, actual);
            int cc = c;
            int s = shift;
            assertArrayEquals(expected, actual, () -> "requantize case " + cc + " shift=" + s + " " + out);
        }
    }

    @Test
    void softmaxMatchesReferenceIncludingMaskedRows() {
        SplittableRandom rnd = new SplittableRandom(3);
        int[] lut = Tables.exp2Lut();
        for (int c = 0; c < CASES; c++) {
            int rows = 1 + rnd.nextInt(4);
            int len = 1 + rnd.nextInt(c % 9 == 0 ? 300 : 40);
            // scoreExp such that the softmax shift -(eS + 6) lies in [-24, 62]
            int eS = -30 + rnd.nextInt(48);
            int[] scores = new int[rows * len];
            int spread = switch (c % 4) {
                case 0 -> 1 << rnd.nextInt(1, 31);
                case 1 -> 4;
                default -> 1 << rnd.nextInt(1, 16);
            };
            for (int i = 0; i < scores.length; i++) {
                scores[i] = c % 13 == 0 ? (rnd.nextBoolean() ? Integer.MAX_VALUE : Integer.MIN_VALUE) : rnd.nextInt(-spread, spread);
            }
            int[] valid = new int[rows];
            for (int r = 0; r < rows; r++) {
                valid[r] = c % 17 == 0 ? 0 : rnd.nextInt(len + 1);
            }
            byte[] expected = new byte[rows * len];
            byte[] actual = new byte[rows * len];
            ReferenceKernels.INSTANCE.softmax2(scores, rows, len, valid, eS, lut, expected);
            kernels().softmax2(scores, rows, len, valid, eS, lut, actual);
            int cc = c;
            assertArrayEquals(expected, actual, () -> "softmax case " + cc + " len=" + len + " eS=" + eS);
        }
    }

    @Test
    void layerNormMatchesReferenceIncludingConstantAndExtremeRows() {
        SplittableRandom rnd = new SplittableRandom(4);
        int[] widths = {2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
        for (int c = 0; c < CASES; c++) {
            int d = widths[rnd.nextInt(c % 10 == 0 ? widths.length : 7)];
            int rows = 1 + rnd.nextInt(3);
            short[] x = new short[rows * d];
            for (int i = 0; i < x.length; i++) {
                x[i] = (short) switch (c % 5) {
                    case 0 -> rnd.nextInt(-32768, 32768);
                    case 1 -> rnd.nextBoolean() ? 32767 : -32768;
                    case 2 -> 77; // constant row: sigma == 0
                    default -> rnd.nextInt(-2000, 2000);
                };
            }
            short[] gamma = new short[d];
            int[] beta = new int[d];
            for (int i = 0; i < d; i++) {
                gamma[i] = (short) rnd.nextInt(-32768, 32768);
                beta[i] = rnd.nextInt();
            }
            int gExp = -20 + rnd.nextInt(10);
            int outExp = gExp - 12 + rnd.nextInt(-10, 40);
            byte[] expected = new byte[rows * d];
            byte[] actual = new byte[rows * d];
            ReferenceKernels.INSTANCE.layerNorm(x, rows, d, gamma, beta, gExp, outExp, expected);
            kernels().layerNorm(x, rows, d, gamma, beta, gExp, outExp, actual);
            int cc = c;
            assertArrayEquals(expected, actual, () -> "layerNorm case " + cc + " d=" + d);
        }
    }

    @Test
    void residualMatchesReferenceIncludingSaturation() {
        SplittableRandom rnd = new SplittableRandom(5);
        for (int c = 0; c < CASES; c++) {
            int len = 1 + rnd.nextInt(90);
            short[] r = new short[len];
            int[] acc = new int[len];
            for (int i = 0; i < len; i++) {
                r[i] = (short) (c % 4 == 0 ? (rnd.nextBoolean() ? 32767 : -32768) : rnd.nextInt(-32768, 32768));
                acc[i] = c % 6 == 0 ? rnd.nextInt() : rnd.nextInt(-100000, 100000);
            }
            int rExp = -12 + rnd.nextInt(8);
            int accExp = -20 + rnd.nextInt(10);
            int outExp = Math.max(Math.max(rExp, accExp) - 24, -12 + rnd.nextInt(10));
            short[] expected = new short[len];
            short[] actual = new short[len];
            ReferenceKernels.INSTANCE.residual(r, rExp, acc, accExp, outExp, len, expected);
            kernels().residual(r, rExp, acc, accExp, outExp, len, actual);
            int cc = c;
            assertArrayEquals(expected, actual, () -> "residual case " + cc);
        }
    }

    // ---- whole model ------------------------------------------------------------------------------

    @Test
    void wholeGreedyDecodesMatchReferenceAtEveryLayer() {
        int seed = 0;
        for (ModelConfig cfg : modelConfigs()) {
            for (int batch : new int[] {1, 3, 8}) {
                compareDecode(cfg, 100 + seed++, batch, 12);
            }
        }
    }

    @Test
    void decodingASequenceAloneEqualsDecodingItInABatch() {
        ModelConfig cfg = modelConfigs().get(0);
        QuantizedModel model = RandomModels.generate(cfg, 77);
        SplittableRandom rnd = new SplittableRandom(78);
        List<int[]> sources = randomSources(rnd, cfg, 8);
        try (LoadedModel m = backend.load(model)) {
            List<int[]> batched = greedy(m, sources, 10);
            for (int s = 0; s < sources.size(); s++) {
                List<int[]> alone = greedy(m, List.of(sources.get(s)), 10);
                assertArrayEquals(alone.get(0), batched.get(s), "sequence " + s + " differs alone vs in a batch of 8");
            }
        }
    }

    @Test
    void forkedStateContinuesLikeTheOriginal() {
        ModelConfig cfg = modelConfigs().get(0);
        QuantizedModel model = RandomModels.generate(cfg, 91);
        try (LoadedModel m = backend.load(model)) {
            EncodeResult enc = m.encode(List.of(new int[] {5, 9, 33, 4}), null);
            EncodedSource src = enc.sources().get(0);
            int v = cfg.vocabSize();
            DecoderState a = m.newDecoder(src, 12);
            int[] logits = new int[v];
            m.decodeStep(List.of(a), new int[] {cfg.bosId()}, logits, null);
            m.decodeStep(List.of(a), new int[] {17}, logits, null);
            DecoderState b = a.fork();
            DecoderState c = m.newDecoder(src, 12);
            c.copyFrom(a);
            assertEquals(a.position(), b.position());
            int[] la = new int[v];
            int[] lb = new int[v];
            int[] lc = new int[2 * v];
            m.decodeStep(List.of(a), new int[] {40}, la, null);
            m.decodeStep(List.of(b, c), new int[] {40, 40}, lc, null);
            System.arraycopy(lc, 0, lb, 0, v);
            assertArrayEquals(la, lb, "forked state diverged");
            assertArrayEquals(la, Arrays.copyOfRange(lc, v, 2 * v), "copied state diverged");
            a.close();
            b.close();
            c.close();
            src.close();
        }
    }

    @Test
    void badInputsAreRejectedWithErrorCodes() {
        ModelConfig cfg = modelConfigs().get(0);
        try (LoadedModel m = backend.load(RandomModels.generate(cfg, 5))) {
            ShiftformerException e = assertThrows(ShiftformerException.class,
                    () -> m.encode(List.of(new int[] {1, cfg.vocabSize()}), null));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertThrows(ShiftformerException.class, () -> m.encode(List.of(new int[0]), null));
            assertThrows(ShiftformerException.class,
                    () -> m.encode(List.of(new int[cfg.maxPositions() + 1]), null));
            EncodedSource src = m.encode(List.of(new int[] {4, 5}), null).sources().get(0);
            DecoderState st = m.newDecoder(src, 1);
            int[] logits = new int[cfg.vocabSize()];
            m.decodeStep(List.of(st), new int[] {cfg.bosId()}, logits, null);
            ShiftformerException full = assertThrows(ShiftformerException.class,
                    () -> m.decodeStep(List.of(st), new int[] {4}, logits, null));
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, full.code());
        }
    }

    private void compareDecode(ModelConfig cfg, long seed, int batch, int steps) {
        QuantizedModel model = RandomModels.generate(cfg, seed);
        ReferenceModel ref = new ReferenceModel(TransformerWeights.of(model));
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> sources = randomSources(rnd, cfg, batch);
        try (LoadedModel m = backend.load(model)) {
            LayerTrace expected = new LayerTrace();
            LayerTrace actual = new LayerTrace();
            EncodeResult er = ref.encode(sources, expected);
            EncodeResult ea = m.encode(sources, actual);
            assertNull(actual.firstDifference(expected), () -> "encoder of " + cfg + " seed " + seed + ": "
                    + actual.firstDifference(expected));
            for (int s = 0; s < batch; s++) {
                assertArrayEquals(er.sources().get(s).memory(), ea.sources().get(s).memory(), "encoder memory " + s);
            }
            int v = cfg.vocabSize();
            int capacity = Math.min(cfg.maxPositions(), steps + 1);
            List<DecoderState> rs = new ArrayList<>();
            List<DecoderState> as = new ArrayList<>();
            for (int s = 0; s < batch; s++) {
                rs.add(ref.newDecoder(er.sources().get(s), capacity));
                as.add(m.newDecoder(ea.sources().get(s), capacity));
            }
            int[] tokens = new int[batch];
            Arrays.fill(tokens, cfg.bosId());
            int[] lr = new int[batch * v];
            int[] la = new int[batch * v];
            for (int step = 0; step < capacity; step++) {
                expected.clear();
                actual.clear();
                ref.decodeStep(rs, tokens, lr, expected);
                m.decodeStep(as, tokens, la, actual);
                int st = step;
                assertNull(actual.firstDifference(expected), () -> "decoder step " + st + " of " + cfg + " seed " + seed
                        + ": " + actual.firstDifference(expected));
                assertArrayEquals(lr, la, "logits at step " + step);
                for (int s = 0; s < batch; s++) {
                    // Greedy, but force a non-EOS token so every step exercises the cache.
                    int t = IntOps.argmax(lr, s * v, v, cfg.padId(), cfg.bosId());
                    tokens[s] = t == cfg.eosId() ? 3 + (step % 5) : t;
                }
            }
            for (DecoderState st : as) {
                st.close();
            }
            for (EncodedSource src : ea.sources()) {
                src.close();
            }
        }
    }

    private static List<int[]> greedy(LoadedModel m, List<int[]> sources, int maxNew) {
        ModelConfig cfg = m.config();
        EncodeResult enc = m.encode(sources, null);
        List<DecoderState> states = new ArrayList<>();
        for (EncodedSource src : enc.sources()) {
            states.add(m.newDecoder(src, maxNew + 1));
        }
        int n = sources.size();
        int v = cfg.vocabSize();
        int[] tokens = new int[n];
        Arrays.fill(tokens, cfg.bosId());
        int[] logits = new int[n * v];
        List<int[]> out = new ArrayList<>();
        int[][] produced = new int[n][maxNew];
        for (int step = 0; step < maxNew; step++) {
            m.decodeStep(states, tokens, logits, null);
            for (int s = 0; s < n; s++) {
                tokens[s] = IntOps.argmax(logits, s * v, v, cfg.padId(), cfg.bosId());
                produced[s][step] = tokens[s];
            }
        }
        for (int s = 0; s < n; s++) {
            out.add(produced[s]);
            states.get(s).close();
            enc.sources().get(s).close();
        }
        assertNotNull(out);
        return out;
    }

    private static List<int[]> randomSources(SplittableRandom rnd, ModelConfig cfg, int batch) {
        List<int[]> sources = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int len = 1 + rnd.nextInt(Math.min(cfg.maxPositions(), 20));
            int[] src = new int[len];
            for (int i = 0; i < len; i++) {
                src[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            sources.add(src);
        }
        return sources;
    }

    private static byte[] bytes(SplittableRandom rnd, int n, int c) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) switch ((c + i) % 9 == 0 ? 0 : c % 4) {
                case 0 -> rnd.nextBoolean() ? 127 : -128;
                case 1 -> rnd.nextInt(-3, 4);
                default -> rnd.nextInt(-128, 128);
            };
        }
        return b;
    }

    private static long sumAbs(byte[] w, int off, int len) {
        long s = 0;
        for (int i = 0; i < len; i++) {
            s += Math.abs(w[off + i]);
        }
        return s;
    }
}
