package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;

/** Placeholder extraction and accuracy on hand-written message pairs. */
class PlaceholdersTest {

    @Test
    void findsEachKindNumberedAndSorted() {
        assertEquals(List.of("%1$s", "%2$d"), Placeholders.of("cannot open %s: %d files"));
        assertEquals(List.of("%1$-10.3f", "%2$lu", "%3$zu", "%4$'d", "%5$*d", "%6$.*s"),
            Placeholders.of("%-10.3f %lu %zu %'d %*d %.*s"));
        assertEquals(List.of("%1$s", "%2$s"), Placeholders.of("move %2$s to %1$s"));
        assertEquals(List.of("%%", "%1$d"), Placeholders.of("%d%% done"));
        assertEquals(List.of("%(count)d", "%(dir)s"), Placeholders.of("%(count)d files in %(dir)s"));
        assertEquals(List.of("{0}", "{1}", "{name!r}", "{size:>10}"), Placeholders.of("{0} {name!r} {size:>10} {1}"));
        assertEquals(List.of("{0}", "{1}"), Placeholders.of("{} of {}"));
        assertEquals(List.of("$HOME", "${XDG_CONFIG_HOME}"), Placeholders.of("set $HOME or ${XDG_CONFIG_HOME}"));
        // printf's argument survives the shell rule: %1$s is one placeholder, not % plus $s
        assertEquals(List.of("%1$s"), Placeholders.of("%1$s"));
    }

    @Test
    void proseIsNotAPlaceholder() {
        for (String prose : List.of("100% sure", "50 % der Dateien", "5%", "costs $5", "a {{literal}} brace",
            "expected '{' or '}'", "{\"key\": 1}", "")) {
            assertEquals(List.of(), Placeholders.of(prose), prose);
        }
    }

    @Test
    void reorderingNumberedPlaceholdersIsFine() {
        assertTrue(Placeholders.same("copy %1$s to %2$s", "%2$s: %1$s kopieren"));
        assertTrue(Placeholders.same("{0} of {1}", "{1} von {0}"));
        assertTrue(Placeholders.same("%(count)d files in %(dir)s", "%(dir)s: %(count)d Dateien"));
        assertTrue(Placeholders.same("set $HOME or ${XDG_CONFIG_HOME}", "${XDG_CONFIG_HOME} oder $HOME setzen"));
        // numbering unnumbered ones keeps each argument where it was
        assertTrue(Placeholders.same("%s has %d files", "%2$d Dateien in %1$s"));
        assertTrue(Placeholders.same("{} of {}", "{0} von {1}"));
        assertTrue(Placeholders.same("no placeholders at all", "gar keine Platzhalter"));
    }

    @Test
    void droppingAddingOrChangingOneIsNot() {
        assertFalse(Placeholders.same("cannot move %s to %s", "kann %s nicht verschieben"), "dropped");
        assertFalse(Placeholders.same("Done", "%s fertig"), "added");
        assertFalse(Placeholders.same("%s", "%s %s"), "repeated");
        assertFalse(Placeholders.same("%s has %d files", "%d Dateien in %s"), "unnumbered ones swapped: %s gets the number");
        assertFalse(Placeholders.same("100%% done: %s", "100% fertig: %s"), "%% lost");
        assertFalse(Placeholders.same("%5d bytes", "%d Bytes"), "width changed");
        assertFalse(Placeholders.same("{name} left", "{Name} ist gegangen"), "name changed");
        assertFalse(Placeholders.same("copy %1$s to %2$s", "%1$s kopieren"), "numbered one dropped");
    }

    @Test
    void scoreIsTheShareOfHypothesesWithTheSourcesPlaceholders() {
        List<String> sources = List.of("copy %1$s to %2$s", "cannot move %s to %s", "Done", "Quit now", "{0} of {1}");
        List<String> hyps = List.of("%2$s: %1$s kopieren", "kann %s nicht verschieben", "%s fertig", "Jetzt beenden",
            "{1} von {0}");
        Placeholders.Score s = Placeholders.score(sources, hyps);
        assertEquals(new Placeholders.Score(5, 3, 60.0), s); // the reordering two and "Jetzt beenden"
        assertEquals("placeholders 60.00% (3 sources with some)", s.toString());
        assertEquals(new Placeholders.Score(0, 0, 0.0), Placeholders.score(List.of(), List.of()));
        assertThrows(ShiftformerException.class, () -> Placeholders.score(List.of("a"), List.of()));

        Metrics m = Metrics.evaluate(sources, hyps, hyps);
        assertEquals(s, m.placeholders());
        assertTrue(m.toString().matches("exact 100\\.00%  chrF2 100\\.00  BLEU 100\\.00  placeholders 60\\.00% "
            + "\\(3 sources with some\\)  \\(5 segments\\)"), m.toString());
        assertEquals(null, Metrics.evaluate(hyps, hyps).placeholders(), "without sources it is not measured");
        // without placeholders on either side the score is a trivial 100% and the line leaves it out
        Metrics words = Metrics.evaluate(List.of("zwölf"), List.of("twelve"), List.of("twelve"));
        assertEquals(new Placeholders.Score(1, 0, 100.0), words.placeholders());
        assertFalse(words.placeholders().informative());
        assertFalse(words.toString().contains("placeholders"), words.toString());
        assertTrue(Placeholders.score(List.of("zwölf"), List.of("%d")).informative(), "an invented one shows");
    }
}
