package org.shiftformer.core.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Number-word corpora for the tokenizer tests, spelled by the embedded data generator. */
final class NumberWords {
    private NumberWords() {
    }

    static String english(int n) {
        return org.shiftformer.core.data.NumberWords.english(n);
    }

    static String german(int n) {
        return org.shiftformer.core.data.NumberWords.german(n);
    }

    /** Lines "243 zweihundertdreiundvierzig two hundred forty-three" for 0..999 and random larger numbers. */
    static List<String> corpus(int randomLines, long seed) {
        List<String> lines = new ArrayList<>();
        for (int n = 0; n < 1000; n++) {
            lines.add(line(n));
        }
        Random rnd = new Random(seed);
        for (int i = 0; i < randomLines; i++) {
            lines.add(line(rnd.nextInt(1_000_000)));
        }
        return lines;
    }

    static String line(int n) {
        return n + " " + german(n) + " " + english(n) + "\n";
    }
}
