package org.shiftformer.api.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** SPEC.md's appendix must print exactly the tables the code uses, and the tables must be tie-free. */
class SpecTablesTest {
    private static String spec() throws IOException {
        Path p = Path.of("..", "SPEC.md");
        return Files.readString(p);
    }

    private static String block(String spec, String title) {
        int at = spec.indexOf(title);
        assertTrue(at >= 0, "SPEC.md has no " + title);
        int open = spec.indexOf("```\n", at) + 4;
        int close = spec.indexOf("```", open);
        return spec.substring(open, close).replaceAll("\\s+", " ").trim();
    }

    static String format(long[] values) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            sb.append(values[i]).append(i + 1 < values.length ? (i % 8 == 7 ? ",\n" : ", ") : "\n");
        }
        return sb.toString();
    }

    @Test
    void specAppendixPrintsTheCodeTables() throws IOException {
        String spec = spec();
        assertEquals(norm(Arrays.stream(Tables.exp2Lut()).asLongStream().toArray()), block(spec, "`EXP2_LUT` (64 entries"));
        assertEquals(norm(Tables.bexp()), block(spec, "`BEXP` table"));
        assertEquals(norm(Arrays.stream(Tables.blog()).asLongStream().toArray()), block(spec, "`BLOG` table"));
    }

    private static String norm(long[] values) {
        return format(values).replaceAll("\\s+", " ").trim();
    }

    @Test
    void everyTableEntryIsFarFromARoundingTie() {
        for (int i = 0; i < 64; i++) {
            assertFarFromTie(65536.0 * Math.pow(2, -i / 64.0));
        }
        for (int i = 0; i < 256; i++) {
            assertFarFromTie(1073741824.0 * Math.pow(2, -i / 256.0));
            assertFarFromTie(65536.0 * Math.log1p(i / 256.0) / Math.log(2));
        }
        assertEquals(24204406L, (long) Math.floor(Math.log(Math.E) / Math.log(2) * (1 << 24) + 0.5));
        assertEquals(Tables.LOG2E_Q24, (long) Math.floor(1.4426950408889634 * (1 << 24) + 0.5));
    }

    private static void assertFarFromTie(double v) {
        double frac = v - Math.floor(v);
        assertTrue(Math.abs(frac - 0.5) > 0.0008, () -> v + " is within 0.0008 of a rounding tie");
    }

    /** Prints the appendix blocks (run by hand when the tables change). */
    public static void main(String[] args) {
        System.out.println(format(Arrays.stream(Tables.exp2Lut()).asLongStream().toArray()));
        System.out.println(format(Tables.bexp()));
        System.out.println(format(Arrays.stream(Tables.blog()).asLongStream().toArray()));
    }
}
