package org.shiftformer.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TensorNames;
import org.shiftformer.api.spec.PositionalTable;
import org.shiftformer.trainer.autodiff.GradCheck;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Tensor;

class Seq2SeqModelTest {

    @AfterEach
    void resetThreads() {
        MatMul.setThreads(Runtime.getRuntime().availableProcessors());
    }

    @Test
    void wholeModelLossGradientMatchesFiniteDifferences() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 11), 0.1f);
        Batch batch = ModelFixtures.randomBatch(cfg, 5, 3, 5, 4);
        // Every parameter of both stacks, the tied embedding and both final LayerNorms: 8 sampled entries each.
        // h = 1e-3, not GradCheck's 1e-2: with 1e-2 a few decoder FFN pre-activations crossed the ReLU kink (the
        // finite difference then straddles two linear pieces). Float32 noise of the loss at h = 1e-3 is about
        // 1e-4, far inside atol.
        GradCheck.check("seq2seq", () -> model.loss(batch, FloatNumerics.plain(), true), model.params().list(),
                1e-3, 1e-2, 2e-3, 8);
    }

    @Test
    void parametersHaveTheSpecNamesShapesAndInitialisation() {
        ModelConfig cfg = RandomModels.preset("tiny", 300);
        TransformerParams p = TransformerParams.init(cfg, 3);
        int d = cfg.dModel();
        // 1 embedding + per encoder layer 2 LN (4) + 4 attn linears (8) + 2 ffn (4) + final LN (2), decoder 3 LN (6)
        // + 8 attn linears (16) + 2 ffn (4), + final LN (2).
        int expected = 1 + cfg.encoderLayers() * 16 + 2 + cfg.decoderLayers() * 26 + 2;
        assertEquals(expected, p.byName().size());
        assertArrayEquals(new int[] {cfg.vocabSize(), d}, p.get(TensorNames.EMBED).shape());
        assertArrayEquals(new int[] {cfg.dFf(), d}, p.get("enc.1.ffn.1.weight").shape());
        assertArrayEquals(new int[] {d, cfg.dFf()}, p.get("dec.0.ffn.2.weight").shape());
        assertArrayEquals(new int[] {d}, p.get("dec.1.cross.q.bias").shape());
        assertEquals(1f, p.get("dec.final.gamma").data()[5]);
        assertEquals(0f, p.get("enc.0.ln2.beta").data()[7]);
        assertThrows(IllegalArgumentException.class, () -> p.get("enc.0.attn.x.weight"));
        // W_Q carries log2(e)/sqrt(d_k): its spread is that factor times W_K's (same Xavier bound).
        double q = maxAbs(p.get("enc.0.attn.q.weight"));
        double k = maxAbs(p.get("enc.0.attn.k.weight"));
        double factor = TransformerParams.LOG2_E / Math.sqrt(cfg.dHead());
        assertEquals(factor, q / k, 0.02 * factor);
        // The positional table is the artifact's int8 sinusoid at 2^-7, not trained.
        byte[] table = PositionalTable.build(cfg.maxPositions(), d);
        assertEquals(table[5 * d + 3] / 128f, p.positions().data()[5 * d + 3]);
        assertTrue(!p.positions().requiresGrad());
        // Seeded: the same seed gives the same bits, another seed other values.
        assertArrayEquals(p.get("dec.1.self.v.weight").data(), TransformerParams.init(cfg, 3).get("dec.1.self.v.weight").data());
        assertNotEquals(p.get("dec.1.self.v.weight").data()[0], TransformerParams.init(cfg, 4).get("dec.1.self.v.weight").data()[0]);
    }

    private static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.data()) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void sameSeedGivesSameBitsForAnyThreadCount() {
        ModelConfig cfg = new ModelConfig(64, 4, 128, 1, 1, 200, 32, 2, 0, 1, 2);
        Batch batch = ModelFixtures.randomBatch(cfg, 9, 24, 20, 20);
        float[] ref = null;
        for (int threads : new int[] {1, 2, 3}) {
            MatMul.setThreads(threads);
            Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(cfg, 17), 0.1f);
            float[] got = ModelFixtures.lossAndGrads(model, batch, FloatNumerics.training(0.1f, 99));
            if (ref == null) {
                ref = got;
            } else {
                assertArrayEquals(ref, got, "loss and gradients with " + threads + " threads");
            }
        }
        // The dropout seed matters (the masks change), and plain numerics differ from dropout ones.
        Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(cfg, 17), 0.1f);
        assertNotEquals(ref[0], ModelFixtures.lossAndGrads(model, batch, FloatNumerics.training(0.1f, 100))[0]);
        assertNotEquals(ref[0], ModelFixtures.lossAndGrads(model, batch, FloatNumerics.plain())[0]);
    }

    @Test
    void evaluationLossHasNoDropoutAndRecordsNothing() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 2), 0.1f);
        Batch batch = ModelFixtures.randomBatch(cfg, 3, 4, 5, 5);
        Tensor eval = model.loss(batch, FloatNumerics.training(0.5f, 1), false);
        assertTrue(!eval.requiresGrad());
        assertEquals(model.loss(batch, FloatNumerics.plain(), true).item(), eval.item());
    }

    @Test
    void paddingAndBatchCompanionsDoNotChangeASequencesLogits() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 4), 0f);
        int[] src = {5, 6, 7, cfg.eosId()};
        int[] tgt = {8, 9};
        Batch alone = Batch.of(List.of(src), List.of(tgt), cfg);
        Batch padded = Batch.of(List.of(new int[] {3, 4, 5, 6, 7, 8, 9, cfg.eosId()}, src),
                List.of(new int[] {3, 4, 5, 6, 7}, tgt), cfg);
        float[] a;
        float[] b;
        try (var ignored = Tensor.noGrad()) {
            a = model.logits(alone, FloatNumerics.plain()).data();
            b = model.logits(padded, FloatNumerics.plain()).data();
        }
        int v = cfg.vocabSize();
        int rowsAlone = alone.tgtLen();
        float[] second = Arrays.copyOfRange(b, padded.tgtLen() * v, padded.tgtLen() * v + rowsAlone * v);
        // Float sums over the masked keys are exact zeros and in the same order, so the values agree closely.
        for (int i = 0; i < a.length; i++) {
            assertEquals(a[i], second[i], 1e-5f, "logit " + i);
        }
    }

    @Test
    void greedyDecodingAgreesWithTeacherForcedArgmaxAndStopsAtEos() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 8), 0f);
        List<int[]> sources = List.of(new int[] {5, 6, cfg.eosId()}, new int[] {7, 3, 4, 9, 10, cfg.eosId()},
                new int[] {11, cfg.eosId()});
        List<int[]> out = model.greedy(sources, 6, FloatNumerics.plain());
        assertEquals(3, out.size());
        for (int s = 0; s < sources.size(); s++) {
            int[] y = out.get(s);
            assertTrue(y.length <= 6);
            // Feeding the greedy output back under teacher forcing: every row's best id is the next token.
            Batch batch = Batch.of(List.of(sources.get(s)), List.of(y), cfg);
            float[] logits;
            try (var ignored = Tensor.noGrad()) {
                logits = model.logits(batch, FloatNumerics.plain()).data();
            }
            int rows = y.length < 6 ? y.length + 1 : y.length;
            for (int t = 0; t < rows; t++) {
                int want = t < y.length ? y[t] : cfg.eosId();
                int best = -1;
                for (int v = 0; v < cfg.vocabSize(); v++) {
                    if (v != cfg.padId() && v != cfg.bosId()
                            && (best < 0 || logits[t * cfg.vocabSize() + v] > logits[t * cfg.vocabSize() + best])) {
                        best = v;
                    }
                }
                assertEquals(want, best, "sequence " + s + " step " + t);
                assertTrue(t >= y.length || (y[t] != cfg.eosId() && y[t] != cfg.padId() && y[t] != cfg.bosId()));
            }
            // Decoded alone, the same tokens (batch invariance of greedy).
            assertArrayEquals(y, model.greedy(List.of(sources.get(s)), 6, FloatNumerics.plain()).get(0));
        }
    }

    @Test
    void numericsIsCalledOncePerSpecPointWithTheSpecPrefixes() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 1), 0f);
        List<String> calls = new ArrayList<>();
        Numerics rec = recording(calls);
        model.loss(ModelFixtures.randomBatch(cfg, 1, 2, 3, 3), rec, true);
        List<String> want = encoderCalls(cfg);
        want.add("embed dec");
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            String d = "dec." + i;
            want.addAll(List.of("layerNorm " + d + ".ln1", "linear " + d + ".self.q", "linear " + d + ".self.k",
                    "linear " + d + ".self.v", "attention " + d + ".self causal", "residual " + d + ".self.o",
                    "layerNorm " + d + ".ln2", "linear " + d + ".cross.q", "linear " + d + ".cross.k",
                    "linear " + d + ".cross.v", "attention " + d + ".cross", "residual " + d + ".cross.o",
                    "layerNorm " + d + ".ln3", "linear+relu " + d + ".ffn.1", "residual " + d + ".ffn.2"));
        }
        want.add("layerNorm dec.final");
        want.add("logits");
        assertEquals(want, calls);
    }

    @Test
    void kvCachedGreedyRunsTheNewPositionOnlyWithTheSpecPrefixes() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 1), 0f);
        List<String> calls = new ArrayList<>();
        int limit = 3;
        int[] y = model.greedy(List.of(new int[] {5, 6, cfg.eosId()}), new int[] {limit}, recording(calls)).get(0);
        int steps = y.length == limit ? limit : y.length + 1; // EOS took a step
        List<String> want = encoderCalls(cfg);
        for (int i = 0; i < cfg.decoderLayers(); i++) { // the memory's cross-attention keys and values, once
            want.addAll(List.of("linear dec." + i + ".cross.k", "linear dec." + i + ".cross.v"));
        }
        for (int step = 0; step < steps; step++) {
            want.add("embed dec"); // Numerics.embedAt's default: the last row of an embedded prefix
            for (int i = 0; i < cfg.decoderLayers(); i++) {
                String d = "dec." + i;
                // one query row over every cached key: no causal mask
                want.addAll(List.of("layerNorm " + d + ".ln1", "linear " + d + ".self.q", "linear " + d + ".self.k",
                        "linear " + d + ".self.v", "attention " + d + ".self", "residual " + d + ".self.o",
                        "layerNorm " + d + ".ln2", "linear " + d + ".cross.q", "attention " + d + ".cross",
                        "residual " + d + ".cross.o", "layerNorm " + d + ".ln3", "linear+relu " + d + ".ffn.1",
                        "residual " + d + ".ffn.2"));
            }
            want.add("layerNorm dec.final");
            want.add("logits");
        }
        assertEquals(want, calls);
        assertArrayEquals(model.greedy(List.of(new int[] {5, 6, cfg.eosId()}), limit, FloatNumerics.plain()).get(0), y);
    }

    /** The calls the encoder makes through the numerics, with their SPEC prefixes (a new, growable list). */
    private static List<String> encoderCalls(ModelConfig cfg) {
        List<String> want = new ArrayList<>();
        want.add("embed enc");
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            String e = "enc." + i;
            want.addAll(List.of("layerNorm " + e + ".ln1", "linear " + e + ".attn.q", "linear " + e + ".attn.k",
                    "linear " + e + ".attn.v", "attention " + e + ".attn", "residual " + e + ".attn.o",
                    "layerNorm " + e + ".ln2", "linear+relu " + e + ".ffn.1", "residual " + e + ".ffn.2"));
        }
        want.add("layerNorm enc.final");
        return want;
    }

    /** Float numerics that log each call with its SPEC prefix (and check the weight is the prefix's). */
    private static Numerics recording(List<String> calls) {
        Numerics f = FloatNumerics.plain();
        return new Numerics() {
            @Override
            public Tensor embed(Tensor table, Tensor positions, int[] ids, int batch, int len, int s, String stream) {
                assertEquals(TensorNames.EMBED, table.name());
                calls.add("embed " + stream);
                return f.embed(table, positions, ids, batch, len, s, stream);
            }

            @Override
            public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, String prefix) {
                assertEquals(TensorNames.gamma(prefix), gamma.name());
                assertEquals(TensorNames.beta(prefix), beta.name());
                calls.add("layerNorm " + prefix);
                return f.layerNorm(x, gamma, beta, prefix);
            }

            @Override
            public Tensor linear(Tensor x, Tensor w, Tensor b, boolean relu, String prefix) {
                assertEquals(TensorNames.weight(prefix), w.name());
                assertEquals(TensorNames.bias(prefix), b.name());
                calls.add((relu ? "linear+relu " : "linear ") + prefix);
                return f.linear(x, w, b, relu, prefix);
            }

            @Override
            public Tensor residual(Tensor r, Tensor x, Tensor w, Tensor b, String prefix) {
                assertEquals(TensorNames.weight(prefix), w.name());
                calls.add("residual " + prefix);
                return f.residual(r, x, w, b, prefix);
            }

            @Override
            public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal,
                                    String prefix) {
                calls.add("attention " + prefix + (causal ? " causal" : ""));
                return f.attention(q, k, v, heads, keyLengths, causal, prefix);
            }

            @Override
            public Tensor logits(Tensor x, Tensor table) {
                assertEquals(TensorNames.EMBED, table.name());
                calls.add("logits");
                return f.logits(x, table);
            }
        };
    }
}
