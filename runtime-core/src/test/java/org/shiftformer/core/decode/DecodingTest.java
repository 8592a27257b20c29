package org.shiftformer.core.decode;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.ReferenceModel;

class DecodingTest {
    // A small vocabulary so that EOS is likely enough for beams to finish.
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 24, 24, 2, 0, 1, 2);

    private static LoadedModel model(long seed) {
        return new ReferenceModel(TransformerWeights.of(RandomModels.generate(CFG, seed)));
    }

    private static List<int[]> sources(long seed, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] s = new int[1 + rnd.nextInt(12)];
            for (int j = 0; j < s.length; j++) {
                s[j] = 3 + rnd.nextInt(CFG.vocabSize() - 3);
            }
            out.add(s);
        }
        return out;
    }

    @Test
    void greedyEqualsAPlainArgmaxLoop() {
        LoadedModel m = model(1);
        for (int[] src : sources(2, 4)) {
            DecodeResult r = Decoding.decode(m, List.of(src), DecodeParams.greedy(15), TokenListener.NONE).get(0);
            EncodedSource es = m.encode(List.of(src), null).sources().get(0);
            DecoderState st = m.newDecoder(es, 15);
            int v = CFG.vocabSize();
            int[] logits = new int[v];
            int token = CFG.bosId();
            List<Integer> expected = new ArrayList<>();
            for (int step = 0; step < 15; step++) {
                m.decodeStep(List.of(st), new int[] {token}, logits, null);
                token = IntOps.argmax(logits, 0, v, CFG.padId(), CFG.bosId());
                if (token == CFG.eosId()) {
                    break;
                }
                expected.add(token);
            }
            assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), r.tokens());
            assertEquals(expected.size() < 15, r.finishedByEos());
        }
    }

    @Test
    void greedyAndBeamAreBatchInvariant() {
        LoadedModel m = model(3);
        List<int[]> srcs = sources(4, 8);
        for (DecodeParams p : List.of(DecodeParams.greedy(12), DecodeParams.beam(4, 12, 0.6), DecodeParams.beam(3, 10, 0))) {
            List<DecodeResult> batched = Decoding.decode(m, srcs, p, TokenListener.NONE);
            for (int s = 0; s < srcs.size(); s++) {
                DecodeResult alone = Decoding.decode(m, List.of(srcs.get(s)), p, TokenListener.NONE).get(0);
                assertArrayEquals(alone.tokens(), batched.get(s).tokens(), p + " sequence " + s);
                assertEquals(alone.score(), batched.get(s).score(), p + " sequence " + s);
            }
        }
    }

    @Test
    void streamedTokensAreExactlyTheResultInOrder() {
        LoadedModel m = model(5);
        List<int[]> srcs = sources(6, 5);
        for (DecodeParams p : List.of(DecodeParams.greedy(12), DecodeParams.beam(4, 12, 1.0))) {
            List<List<Integer>> streamed = new ArrayList<>();
            for (int i = 0; i < srcs.size(); i++) {
                streamed.add(new ArrayList<>());
            }
            List<DecodeResult> results = Decoding.decode(m, srcs, p, (seq, token, index, cycles) -> {
                assertEquals(streamed.get(seq).size(), index, "indices arrive in order");
                streamed.get(seq).add(token);
            });
            for (int s = 0; s < srcs.size(); s++) {
                assertArrayEquals(results.get(s).tokens(), streamed.get(s).stream().mapToInt(Integer::intValue).toArray(),
                        p + " sequence " + s);
            }
        }
    }

    @Test
    void beamFindsAtLeastTheGreedyScore() {
        // With alpha 0 the beam's result scores at least as well as the greedy path's (same fixed-point scoring).
        LoadedModel m = model(7);
        for (int[] src : sources(8, 6)) {
            DecodeResult beam = Decoding.decode(m, List.of(src), DecodeParams.beam(6, 10, 0), TokenListener.NONE).get(0);
            long greedyScore = score(m, src, Decoding.decode(m, List.of(src), DecodeParams.greedy(10), TokenListener.NONE).get(0));
            assertTrue(beam.score() >= greedyScore || !beam.finishedByEos(),
                    "beam " + beam.score() + " < greedy " + greedyScore + " for " + Arrays.toString(src));
        }
    }

    /** The fixed-point log-probability of a result (with its EOS when it has one). */
    private static long score(LoadedModel m, int[] src, DecodeResult r) {
        EncodedSource es = m.encode(List.of(src), null).sources().get(0);
        DecoderState st = m.newDecoder(es, 11);
        int v = CFG.vocabSize();
        int[] logits = new int[v];
        long[] lp = new long[v];
        long score = 0;
        int prev = CFG.bosId();
        int n = r.tokens().length + (r.finishedByEos() ? 1 : 0);
        for (int i = 0; i < n; i++) {
            m.decodeStep(List.of(st), new int[] {prev}, logits, null);
            IntOps.logProbs(logits, 0, v, m.logitsExponent(), CFG.padId(), CFG.bosId(), lp, 0);
            int t = i < r.tokens().length ? r.tokens()[i] : CFG.eosId();
            score += lp[t];
            prev = t;
        }
        return score;
    }

    @Test
    void decodingIsDeterministicAcrossRuns() {
        LoadedModel m = model(9);
        List<int[]> srcs = sources(10, 4);
        DecodeParams p = DecodeParams.beam(5, 14, 0.6);
        List<DecodeResult> a = Decoding.decode(m, srcs, p, TokenListener.NONE);
        List<DecodeResult> b = Decoding.decode(m, srcs, p, TokenListener.NONE);
        for (int s = 0; s < srcs.size(); s++) {
            assertArrayEquals(a.get(s).tokens(), b.get(s).tokens());
        }
    }

    @Test
    void invalidParametersAreRejectedWithCodes() {
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> DecodeParams.beam(0, 5, 0)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> DecodeParams.beam(2, 5, 3.0)).code());
        LoadedModel m = model(11);
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> Decoding.decode(m, sources(1, 1), DecodeParams.greedy(CFG.maxPositions()), TokenListener.NONE));
        assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, e.code());
        assertEquals("max new tokens " + CFG.maxPositions() + " exceeds the model's limit of " + (CFG.maxPositions() - 1)
                + " (max_positions - 1)", e.getMessage());
        ShiftformerException beam = assertThrows(ShiftformerException.class,
                () -> Decoding.decode(m, sources(1, 1), DecodeParams.beam(3, CFG.maxPositions(), 0.5), TokenListener.NONE));
        assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, beam.code());
        DecodeResult atLimit = Decoding.decode(m, sources(1, 1), DecodeParams.greedy(CFG.maxPositions() - 1),
                TokenListener.NONE).get(0); // the limit itself is accepted
        assertTrue(atLimit.tokens().length <= CFG.maxPositions() - 1);
    }

    /**
     * Logits 100 for token 5 and 99 for token 3 at a logits exponent so small that both round to the
     * same beam log-probability (SPEC.md 5.1): the argmax and a beam's tie-break (lowest id) disagree.
     */
    private static final class NearTieModel extends org.shiftformer.api.backend.ForwardingLoadedModel {
        NearTieModel(LoadedModel delegate) {
            super(delegate);
        }

        @Override
        public int logitsExponent() {
            return -40;
        }

        @Override
        public org.shiftformer.api.backend.StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits,
                                                               org.shiftformer.api.backend.LayerTap tap) {
            org.shiftformer.api.backend.StepCost cost = super.decodeStep(states, tokens, logits, tap);
            int v = CFG.vocabSize();
            int[] row = nearTieRow();
            for (int r = 0; r < states.size(); r++) {
                System.arraycopy(row, 0, logits, r * v, v);
            }
            return cost;
        }
    }

    /** 100 for token 5, 99 for token 3, -10^9 elsewhere (so EOS and the rest are clearly worse). */
    private static int[] nearTieRow() {
        int[] row = new int[CFG.vocabSize()];
        Arrays.fill(row, -1_000_000_000);
        row[3] = 99;
        row[5] = 100;
        return row;
    }

    @Test
    void beamWidthOneIsGreedyNotABeamOfOne() {
        // SPEC.md 3.8 / 5.2: W = 1 is the argmax of the int32 logits; a beam keeps ties of the rounded
        // log-probability and sends them to the lowest id, which here is a different token.
        LoadedModel m = new NearTieModel(model(13));
        long[] lp = new long[CFG.vocabSize()];
        IntOps.logProbs(nearTieRow(), 0, CFG.vocabSize(), m.logitsExponent(), CFG.padId(), CFG.bosId(), lp, 0);
        assertEquals(lp[5], lp[3], "the premise: tokens 3 and 5 tie in the beam's log-probability");
        assertTrue(lp[CFG.eosId()] < lp[3], "and EOS is worse");
        int[] src = {7, 8, 9};
        for (DecodeParams one : List.of(DecodeParams.greedy(4), DecodeParams.beam(1, 4, 1.0))) {
            DecodeResult r = Decoding.decode(m, List.of(src), one, TokenListener.NONE).get(0);
            assertArrayEquals(new int[] {5, 5, 5, 5}, r.tokens(), one.toString());
            assertEquals(0, r.score(), "greedy reports score 0; alpha is not used");
        }
        assertArrayEquals(new int[] {3, 3, 3, 3},
                Decoding.decode(m, List.of(src), DecodeParams.beam(2, 4, 0), TokenListener.NONE).get(0).tokens());
        EncodedSource es = m.encode(List.of(src), null).sources().get(0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new BeamSearch(m, es, DecodeParams.beam(1, 4, 0), 0, TokenListener.NONE));
        assertEquals("beam search needs a width of at least 2, got 1: width 1 is greedy (SPEC.md 5.2)", e.getMessage());
    }
}
