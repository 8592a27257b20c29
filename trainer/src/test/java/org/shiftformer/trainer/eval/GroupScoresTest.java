package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.data.Breakdown;
import org.shiftformer.trainer.data.Pair;

/** Exact match per group, the worst group as headline, and the table. */
class GroupScoresTest {
    private static final Pair ZWOELF = new Pair("zwölf", "twelve");
    private static final Pair NULL = new Pair("null", "zero");
    private static final Pair P243 = new Pair("zweihundertdreiundvierzig", "two hundred forty-three");
    private static final Pair P101 = new Pair("hunderteins", "one hundred one");
    private static final Pair P5000 = new Pair("fünftausend", "five thousand");
    private static final Breakdown DIGITS = new Breakdown("digits", List.of("1", "2", "3", "4"),
        Map.of("zwölf", "2", "null", "1", "zweihundertdreiundvierzig", "3", "hunderteins", "3", "fünftausend", "4"),
        Set.of("3", "4"), List.of(NULL, ZWOELF));

    @Test
    void scoresEachGroupOnItsOwnAndTheWorstIsTheHeadline() {
        List<Pair> pairs = List.of(P243, P5000, P101, NULL, ZWOELF);
        List<String> hyps = List.of("two hundred forty-three", "five thousand", "one hundred one", "zero",
            "twelve thousand");
        GroupScores g = GroupScores.score(DIGITS, pairs, hyps);
        // the mean is 80%; the 2-digit group is 0%
        assertEquals(80.0, Metrics.exactMatch(hyps, pairs.stream().map(Pair::target).toList()), 1e-9);
        assertEquals(List.of(row("1", false, 1, 100.0), row("2", false, 1, 0.0), row("3", true, 2, 100.0),
            row("4", true, 1, 100.0)), g.rows());
        assertEquals(row("2", false, 1, 0.0), g.worst());
        assertEquals("worst digits 2 0.00% (1 seen)", g.worstLine());

        GroupScores half = GroupScores.score(DIGITS, List.of(P243, P101), List.of("two hundred forty-three", "one"));
        assertEquals(List.of(row("3", true, 2, 50.0)), half.rows(), "groups without pairs are left out");
    }

    /** A row of number words: no placeholders, so none is lost (100%) and no source has one. */
    private static GroupScores.Row row(String group, boolean heldOut, int segments, double exact) {
        return new GroupScores.Row(group, heldOut, segments, exact, new Placeholders.Score(segments, 0, 100.0));
    }

    @Test
    void placeholderAccuracyPerGroupGetsItsOwnBlockWhenSourcesHaveSome() {
        Pair copy = new Pair("copy %1$s to %2$s", "%1$s nach %2$s kopieren");
        Pair move = new Pair("cannot move %s to %s", "kann %s nicht nach %s verschieben");
        Pair quit = new Pair("Quit now", "Jetzt beenden");
        Breakdown byProgram = new Breakdown("program", List.of("cp", "mv"),
            Map.of(copy.source(), "cp", quit.source(), "cp", move.source(), "mv"), Set.of("cp", "mv"), List.of());
        List<Pair> pairs = List.of(copy, move, quit);
        // float reorders the numbered ones (fine) and drops one of mv's (not); int8 keeps them all
        GroupScores f = GroupScores.score(byProgram, pairs, List.of("%2$s: %1$s kopieren", "kann %s nicht verschieben",
            "Jetzt beenden"));
        GroupScores i = GroupScores.score(byProgram, pairs, List.of("%1$s nach %2$s kopieren",
            "kann %s nicht nach %s verschieben", "Beenden"));
        assertEquals(new Placeholders.Score(2, 1, 100.0), f.rows().get(0).placeholders());
        assertEquals(new Placeholders.Score(1, 1, 0.0), f.rows().get(1).placeholders());
        assertEquals("mv", f.worst(r -> r.placeholders().accuracy()).group());
        assertTrue(f.placeholdersInformative());
        assertFalse(GroupScores.score(DIGITS, List.of(P243), List.of("x")).placeholdersInformative());
        assertTrue(GroupScores.score(DIGITS, List.of(P243), List.of("%s")).placeholdersInformative(), "invented");
        List<String> lines = GroupScores.table(List.of("float", "int8"), List.of(f, i)).lines().toList();
        assertEquals(10, lines.size(), String.join("\n", lines));
        assertTrue(lines.get(5).startsWith("placeholder accuracy % by program"), lines.get(5));
        assertTrue(lines.get(7).matches("cp +2 held out +100\\.00 +100\\.00"), lines.get(7));
        assertTrue(lines.get(8).matches("mv +1 held out +0\\.00 +100\\.00"), lines.get(8));
        assertTrue(lines.get(9).matches("worst +0\\.00 \\(mv\\) +100\\.00 \\(cp\\)"), lines.get(9));
        assertTrue(lines.get(4).matches("worst +0\\.00 \\(mv\\) +50\\.00 \\(cp\\)"), lines.get(4));
    }

    @Test
    void tableHasARowPerGroupAndTheWorstOfEachModel() {
        List<Pair> pairs = List.of(P243, P5000, NULL);
        GroupScores a = GroupScores.score(DIGITS, pairs, List.of("two hundred forty-three", "five", "zero"));
        GroupScores b = GroupScores.score(DIGITS, pairs, List.of("two hundred forty-three", "five thousand", "one"));
        String t = GroupScores.table(List.of("float", "int8 artifact"), List.of(a, b));
        List<String> lines = t.lines().toList();
        assertEquals(6, lines.size(), t);
        assertTrue(lines.get(1).matches("digits +pairs +float +int8 artifact"), lines.get(1));
        assertTrue(lines.get(2).matches("1 +1 seen +100\\.00 +0\\.00"), lines.get(2));
        assertTrue(lines.get(3).matches("3 +1 held out +100\\.00 +100\\.00"), lines.get(3));
        assertTrue(lines.get(4).matches("4 +1 held out +0\\.00 +100\\.00"), lines.get(4));
        assertTrue(lines.get(5).matches("worst +0\\.00 \\(4\\) +0\\.00 \\(1\\)"), lines.get(5));
        GroupScores other = GroupScores.score(DIGITS, List.of(P243), List.of("x"));
        assertThrows(ShiftformerException.class, () -> GroupScores.table(List.of("a", "b"), List.of(a, other)));
    }

    @Test
    void aPairOutsideTheBreakdownIsAnError() {
        var e = assertThrows(ShiftformerException.class,
            () -> GroupScores.score(DIGITS, List.of(new Pair("sieben", "seven")), List.of("seven")));
        assertTrue(e.getMessage().contains("no group for \"sieben\""), e.getMessage());
    }
}
