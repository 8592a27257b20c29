package org.shiftformer.core.engine;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.artifact.ArtifactWriter;
import org.shiftformer.core.artifact.Provenance;
import org.shiftformer.core.artifact.TokenizerSpec;
import org.shiftformer.core.data.NumberWords;
import org.shiftformer.core.tokenizer.BpeTrainer;

/**
 * Random-weight artifacts of any shape, with a real tokenizer: BPE merges learned from the embedded
 * number-word corpus, topped up with synthetic merges when the corpus has fewer distinct pairs than
 * the vocabulary needs.
 */
public final class RandomArtifacts {
    private RandomArtifacts() {
    }

    /** A tokenizer of exactly {@code vocabSize} ids. */
    public static TokenizerSpec tokenizer(int vocabSize, long seed) {
        int merges = vocabSize - TokenizerSpec.FIRST_MERGE;
        if (merges < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "vocabulary size " + vocabSize + " is below " + TokenizerSpec.FIRST_MERGE + " (3 specials + 256 bytes)");
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        List<String> corpus = new ArrayList<>();
        for (int i = 0; i < 4000; i++) {
            int n = i < 1000 ? i : rnd.nextInt(NumberWords.MAX + 1);
            corpus.add(NumberWords.german(n));
            corpus.add(NumberWords.english(n));
        }
        int[][] learned = BpeTrainer.train(corpus, vocabSize);
        int have = learned[0].length;
        int[] left = Arrays.copyOf(learned[0], merges);
        int[] right = Arrays.copyOf(learned[1], merges);
        // Synthetic top-up: (earlier id, letter) pairs not learned yet; the left id always precedes the rule.
        java.util.Set<Long> seen = new java.util.HashSet<>();
        for (int r = 0; r < have; r++) {
            seen.add(((long) left[r] << 32) | right[r]);
        }
        int r = have;
        for (int l = TokenizerSpec.FIRST_BYTE + 'a'; r < merges; l++) {
            for (int b = 'a'; b <= 'z' && r < merges; b++) {
                int rt = TokenizerSpec.FIRST_BYTE + b;
                if (seen.add(((long) l << 32) | rt)) {
                    left[r] = l;
                    right[r] = rt;
                    r++;
                }
            }
        }
        return new TokenizerSpec(left, right);
    }

    /** Generates a realistic random model of shape {@code cfg} and writes it; returns the artifact's sha256. */
    public static String write(ModelConfig cfg, long seed, Path out, String command) {
        return write(cfg, seed, RandomModels.Style.REALISTIC, out, command);
    }

    /** Generates a random model of shape {@code cfg} in {@code style} and writes it; returns the artifact's sha256. */
    public static String write(ModelConfig cfg, long seed, RandomModels.Style style, Path out, String command) {
        QuantizedModel model = RandomModels.generate(cfg, seed, style);
        TokenizerSpec tok = tokenizer(cfg.vocabSize(), seed);
        Map<String, Double> metrics = new LinkedHashMap<>();
        Provenance prov = new Provenance("shiftformer random (random weights, seed " + seed + ")",
                System.currentTimeMillis(), "none", command, "random weights: output is not a translation", metrics);
        return ArtifactWriter.write(model, tok, prov, out);
    }
}
