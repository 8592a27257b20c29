package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The {@code .po} path of {@code gettext:} ({@link PoReader} under {@link GettextPairs}) on hand-written
 * catalogs: continuation lines and every kind of escape, context, plural, fuzzy and obsolete entries, the
 * header's charset, each kind of bad input (named by file and line), and the same pairs as the {@code .mo}
 * compiled from the same text.
 */
class PoReaderTest {
    @TempDir
    Path dir;

    private Path write(String name, String text, Charset charset) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, text.getBytes(charset));
        return p;
    }

    private List<Pair> read(String po) throws IOException {
        return GettextPairs.read(write("t.po", po, StandardCharsets.UTF_8), 0);
    }

    private static final String HEADER = """
        msgid ""
        msgstr ""
        "Content-Type: text/plain; charset=UTF-8\\n"

        """;

    @Test
    void continuationLinesAndEscapesAreResolved() throws IOException {
        List<Pair> pairs = read(HEADER + """
            msgid ""
            "tab\\there, quote \\"q\\", "
            "backslash \\\\ end"
            msgstr "Tab\\tda, \\"q\\", Rückstrich \\\\ Ende"

            msgid "octal and hex bytes"
            msgstr "Gr\\303\\266\\xc3\\x9f \\101\\x42 \\0101"
            msgid "no blank line needed"
            msgstr "keine Leerzeile\\nnötig"
            """);
        assertEquals(List.of(
            new Pair("tab here, quote \"q\", backslash \\ end", "Tab da, \"q\", Rückstrich \\ Ende"),
            new Pair("octal and hex bytes", "Größ AB \b1"),
            new Pair("no blank line needed", "keine Leerzeile nötig")), pairs);
    }

    @Test
    void contextPluralFuzzyObsoleteAndUntranslatedEntriesAreSkipped() throws IOException {
        List<Pair> pairs = read("""
            # a fuzzy header still gives the charset
            #, fuzzy
            msgid ""
            msgstr "Content-Type: text/plain; charset=UTF-8\\n"

            msgctxt "menu"
            msgid "Open the file"
            msgstr "Datei öffnen (Menü)"

            msgid "%d file removed"
            msgid_plural "%d files removed"
            msgstr[0] "%d Datei entfernt"
            msgstr[1] "%d Dateien entfernt"

            #: src/main.c:12
            #, c-format, fuzzy
            msgid "a guess %s"
            msgstr "eine Vermutung %s"

            #, c-format
            msgid "reviewed %s"
            msgstr "geprüft %s"

            #~ msgid "an obsolete message"
            #~ msgstr "eine veraltete Meldung"

            msgid "not translated yet"
            msgstr ""

            msgid "Quit"
            msgstr "Beenden"
            """);
        assertEquals(List.of(new Pair("reviewed %s", "geprüft %s")), pairs);
        List<GettextPairs.Entry> entries = PoReader.entries(dir.resolve("t.po"), Files.readAllBytes(dir.resolve("t.po")));
        assertEquals(6, entries.size()); // header, context, plural, reviewed, untranslated, Quit: not the fuzzy one
        assertEquals("menu\u0004Open the file", new String(entries.get(1).original(), StandardCharsets.UTF_8));
        assertEquals("%d file removed\0%d files removed", new String(entries.get(2).original(), StandardCharsets.UTF_8));
        assertEquals("%d Datei entfernt\0%d Dateien entfernt", new String(entries.get(2).translation(), StandardCharsets.UTF_8));
        assertEquals(10, entries.get(2).line());
    }

    @Test
    void theHeadersCharsetIsHonoured() throws IOException {
        String po = """
            msgid ""
            msgstr "Content-Type: text/plain; charset=ISO-8859-1\\n"

            msgid "Save the changes"
            msgstr "Änderungen speichern"
            """;
        Path latin1 = write("latin1.po", po, StandardCharsets.ISO_8859_1);
        assertEquals(List.of(new Pair("Save the changes", "Änderungen speichern")), GettextPairs.read(latin1, 0));
        // UTF-8 bytes in a file that says ISO-8859-1 decode as Latin-1: the header decides, as for a .mo
        Path mislabelled = write("mislabelled.po", po, StandardCharsets.UTF_8);
        assertEquals("Ã\u0084nderungen speichern", GettextPairs.read(mislabelled, 0).get(0).target());
        // Latin-1 bytes in a UTF-8 catalog are refused, naming the entry's line
        Path bad = write("bad.po", po.replace("ISO-8859-1", "UTF-8"), StandardCharsets.ISO_8859_1);
        assertMessage(bad + ": msgstr at line 4 is not valid UTF-8", refused(bad));
        Path big5 = write("big5.po", po.replace("ISO-8859-1", "BIG5"), StandardCharsets.UTF_8);
        assertMessage(big5 + ":1: the header's charset BIG5", refused(big5));
    }

    @Test
    void badInputIsRefusedNamingFileAndLine() throws IOException {
        String[][] cases = {
            {"msgid \"open\nmsgstr \"x\"\n", ":1: unterminated string"},
            {"msgid \"a b\"\nmsgstr \"x\\\"\n", ":2: unterminated string"},
            {"msgstr \"x\"\n", ":1: msgstr without a msgid"},
            {"msgid \"a b\"\nmsgstr[0] \"x\"\n\nmsgid \"c d\"\n\nmsgid \"e f\"\nmsgstr \"y\"\n", ":4: msgid without a msgstr"},
            {"msgid \"a b\"\n", ":1: msgid without a msgstr"},
            {"msgid \"a \\q b\"\nmsgstr \"x\"\n", ":1: bad escape \\q"},
            {"msgid \"a \\x b\"\nmsgstr \"x\"\n", ":1: bad escape \\x without hex digits"},
            {"msgid \"a b\"\nmsgstr \"\\x100\"\n", ":2: hex escape \\x100 is larger than a byte"},
            {"msgid \"a b\"\nmsgstr \"x\" \"y\"\n", ":2: text after the closing quote"},
            {"\"a b\"\n", ":1: a string continuation line with no msgid"},
            {"msgid \"a b\"\nmsgtxt \"x\"\n", ":2: unknown keyword \"msgtxt\""},
        };
        for (String[] c : cases) {
            Path p = write("bad.po", HEADER + c[0], StandardCharsets.UTF_8);
            String[] at = c[1].split(": ", 2);
            int line = Integer.parseInt(at[0].substring(1)) + 4; // the header's four lines come first
            assertMessage(p + ":" + line + ": " + at[1], refused(p));
        }
    }

    @Test
    void aPoAndTheMoCompiledFromItGiveTheSamePairs() throws IOException {
        String po = GettextPairsTest.po("UTF-8") + """

            #, fuzzy
            msgid "Delete the file"
            msgstr "Datei löschen"
            """;
        Path poFile = write("prog.po", po, StandardCharsets.UTF_8);
        Path moFile = dir.resolve("prog.mo");
        Files.write(moFile, PoCompiler.compile(po, StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN, 0));
        List<Pair> fromPo = GettextPairs.read(poFile, 0);
        List<Pair> fromMo = GettextPairs.read(moFile, 0);
        assertEquals(sorted(GettextPairsTest.EXPECTED), sorted(fromPo));
        assertEquals(sorted(fromMo), sorted(fromPo)); // the .mo is in msgid byte order, the .po in file order
        assertEquals(List.of(
            new Pair("Open the file", "Datei öffnen"),
            new Pair("cannot remove %s: directory not empty", "%s kann nicht entfernt werden: Verzeichnis nicht leer"),
            new Pair("Save the changes", "Änderungen speichern")), fromPo);
        // a directory reads both kinds, in name order: prog.mo first, so its pairs (the same sources) win
        Files.writeString(dir.resolve("other.po"), "msgid \"Print the page\"\nmsgstr \"Seite drucken\"\n");
        List<Pair> all = GettextPairs.read(dir, 0);
        assertEquals(new Pair("Print the page", "Seite drucken"), all.get(0));
        assertEquals(fromMo, all.subList(1, all.size()));
    }

    private static List<Pair> sorted(List<Pair> pairs) {
        List<Pair> s = new ArrayList<>(pairs);
        s.sort(Comparator.comparing(Pair::source));
        return s;
    }

    private static ShiftformerException refused(Path file) {
        var e = assertThrows(ShiftformerException.class, () -> GettextPairs.read(file, 0));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        return e;
    }

    private static void assertMessage(String expectedPart, ShiftformerException e) {
        assertTrue(e.getMessage().contains(expectedPart), e.getMessage());
    }
}
