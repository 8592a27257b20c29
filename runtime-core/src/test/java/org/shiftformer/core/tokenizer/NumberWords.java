package org.shiftformer.core.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Spells numbers in English ("two hundred forty-three") and German ("zweihundertdreiundvierzig"). */
final class NumberWords {
    private static final String[] EN_SMALL = {"zero", "one", "two", "three", "four", "five", "six", "seven",
        "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen"};
    private static final String[] EN_TENS = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
        "eighty", "ninety"};
    private static final String[] DE_SMALL = {"null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben",
        "acht", "neun", "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
        "achtzehn", "neunzehn"};
    private static final String[] DE_TENS = {"", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig",
        "siebzig", "achtzig", "neunzig"};

    private NumberWords() {
    }

    /** English words for {@code 0 <= n < 1_000_000}. */
    static String english(int n) {
        if (n == 0) {
            return "zero";
        }
        StringBuilder sb = new StringBuilder();
        if (n >= 1000) {
            sb.append(englishBelow1000(n / 1000)).append(" thousand");
            n %= 1000;
            if (n > 0) {
                sb.append(' ');
            }
        }
        if (n > 0) {
            sb.append(englishBelow1000(n));
        }
        return sb.toString();
    }

    private static String englishBelow1000(int n) {
        StringBuilder sb = new StringBuilder();
        if (n >= 100) {
            sb.append(EN_SMALL[n / 100]).append(" hundred");
            n %= 100;
            if (n > 0) {
                sb.append(' ');
            }
        }
        if (n >= 20) {
            sb.append(EN_TENS[n / 10]);
            if (n % 10 > 0) {
                sb.append('-').append(EN_SMALL[n % 10]);
            }
        } else if (n > 0) {
            sb.append(EN_SMALL[n]);
        }
        return sb.toString();
    }

    /** German words for {@code 0 <= n < 1_000_000}. */
    static String german(int n) {
        if (n == 0) {
            return "null";
        }
        StringBuilder sb = new StringBuilder();
        if (n >= 1000) {
            sb.append(germanBelow1000(n / 1000, true)).append("tausend");
            n %= 1000;
        }
        if (n > 0) {
            sb.append(germanBelow1000(n, false));
        }
        return sb.toString();
    }

    /** {@code prefix}: followed by "hundert"/"tausend", so 1 is "ein", not "eins". */
    private static String germanBelow1000(int n, boolean prefix) {
        StringBuilder sb = new StringBuilder();
        if (n >= 100) {
            sb.append(n / 100 == 1 ? "ein" : DE_SMALL[n / 100]).append("hundert");
            n %= 100;
        }
        if (n == 0) {
            return sb.toString();
        }
        if (n == 1) {
            sb.append(prefix ? "ein" : "eins");
        } else if (n < 20) {
            sb.append(DE_SMALL[n]);
        } else {
            int unit = n % 10;
            if (unit > 0) {
                sb.append(unit == 1 ? "ein" : DE_SMALL[unit]).append("und");
            }
            sb.append(DE_TENS[n / 10]);
        }
        return sb.toString();
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
