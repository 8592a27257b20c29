package org.shiftformer.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.trainer.model.Batch;

class BatchSamplerTest {

    private final ModelConfig cfg = new ModelConfig(8, 2, 16, 1, 1, 1000, 64, 1, 0, 1, 2);

    /** Pair {@code i}: source {@code [3 + i, .., eos]} of length 1 + i % 13, target {@code [3 + i]}. */
    private BatchSampler sampler(int n, int batch, long seed) {
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] s = new int[1 + i % 13];
            java.util.Arrays.fill(s, 3 + i);
            s[s.length - 1] = 2;
            src.add(s);
            tgt.add(new int[] {3 + i});
        }
        return new BatchSampler(src, tgt, batch, seed, cfg);
    }

    @Test
    void everyEpochUsesEveryPairOnceInLengthGroupedBatches() {
        BatchSampler s = sampler(100, 8, 1);
        assertEquals(13, s.batchesPerEpoch());
        for (int epoch = 0; epoch < 2; epoch++) {
            boolean[] seen = new boolean[100];
            int padded = 0;
            for (int b = 0; b < 13; b++) {
                Batch batch = s.next();
                for (int i = 0; i < batch.size(); i++) {
                    int pair = batch.targets()[i * batch.tgtLen()] - 3;
                    assertTrue(!seen[pair], "pair " + pair + " twice in epoch " + epoch);
                    seen[pair] = true;
                    padded += batch.srcLen() - batch.srcLengths()[i];
                }
            }
            for (boolean x : seen) {
                assertTrue(x);
            }
            // Bucketing: far less padding than random batches of lengths 1..13 (about 5 per pair).
            assertTrue(padded < 100, "padding " + padded);
        }
    }

    @Test
    void orderIsAFunctionOfSeedAndPositionOnly() {
        BatchSampler a = sampler(50, 4, 7);
        List<int[]> first = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            first.add(a.next().targets());
        }
        BatchSampler b = sampler(50, 4, 7);
        b.seek(0, 5);
        for (int i = 5; i < 20; i++) { // crosses into epoch 1 (13 batches per epoch)
            assertArrayEquals(first.get(i), b.next().targets(), "batch " + i);
        }
        BatchSampler c = sampler(50, 4, 8);
        assertNotEquals(java.util.Arrays.toString(first.get(0)) + first.get(1)[0],
                java.util.Arrays.toString(c.next().targets()) + c.next().targets()[0]);
    }
}
