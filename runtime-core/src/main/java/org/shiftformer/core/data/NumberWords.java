package org.shiftformer.core.data;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The embedded default language pair: German number words to English number words, for 0 to 999,999
 * ("zweihundertdreiundvierzig" to "two hundred forty-three"). German writes units before tens, so the
 * model has to reorder, and the data is generated, so it works offline on a fresh machine.
 */
public final class NumberWords {
    public static final int MAX = 999_999;

    private static final String[] DE_UNITS = {"", "ein", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
        "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn", "neunzehn"};
    private static final String[] DE_TENS = {"", "", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig",
        "achtzig", "neunzig"};
    private static final String[] EN_UNITS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
    private static final String[] EN_TENS = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
        "ninety"};

    private NumberWords() {
    }

    /** German words for {@code n}, written as one word as German does ({@code 21 -> einundzwanzig}). */
    public static String german(int n) {
        check(n);
        if (n == 0) {
            return "null";
        }
        if (n == 1) {
            return "eins";
        }
        StringBuilder sb = new StringBuilder();
        int thousands = n / 1000;
        int rest = n % 1000;
        if (thousands > 0) {
            sb.append(germanBelowThousand(thousands)).append("tausend");
        }
        if (rest > 0) {
            String r = germanBelowThousand(rest);
            // a final 1 is "eins" (einundzwanzig but hunderteins, tausendeins)
            if (rest % 100 == 1) {
                r = r + "s";
            }
            sb.append(r);
        }
        return sb.toString();
    }

    private static String germanBelowThousand(int n) {
        StringBuilder sb = new StringBuilder();
        int hundreds = n / 100;
        int rest = n % 100;
        if (hundreds > 0) {
            sb.append(DE_UNITS[hundreds]).append("hundert");
        }
        if (rest > 0) {
            if (rest < 20) {
                sb.append(DE_UNITS[rest]);
            } else {
                int units = rest % 10;
                if (units > 0) {
                    sb.append(DE_UNITS[units]).append("und");
                }
                sb.append(DE_TENS[rest / 10]);
            }
        }
        return sb.toString();
    }

    /** English words for {@code n} ({@code 243 -> two hundred forty-three}). */
    public static String english(int n) {
        check(n);
        if (n == 0) {
            return "zero";
        }
        StringBuilder sb = new StringBuilder();
        int thousands = n / 1000;
        int rest = n % 1000;
        if (thousands > 0) {
            sb.append(englishBelowThousand(thousands)).append(" thousand");
        }
        if (rest > 0) {
            if (!sb.isEmpty()) {
                sb.append(' ');
            }
            sb.append(englishBelowThousand(rest));
        }
        return sb.toString();
    }

    private static String englishBelowThousand(int n) {
        StringBuilder sb = new StringBuilder();
        int hundreds = n / 100;
        int rest = n % 100;
        if (hundreds > 0) {
            sb.append(EN_UNITS[hundreds]).append(" hundred");
        }
        if (rest > 0) {
            if (!sb.isEmpty()) {
                sb.append(' ');
            }
            if (rest < 20) {
                sb.append(EN_UNITS[rest]);
            } else {
                sb.append(EN_TENS[rest / 10]);
                if (rest % 10 > 0) {
                    sb.append('-').append(EN_UNITS[rest % 10]);
                }
            }
        }
        return sb.toString();
    }

    private static void check(int n) {
        if (n < 0 || n > MAX) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "number " + n + " outside [0, " + MAX + "]");
        }
    }
}
