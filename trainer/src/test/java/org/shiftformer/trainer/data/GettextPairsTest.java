package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The {@code .mo} reader on catalogs compiled here from {@code .po} text ({@link PoCompiler}): both byte
 * orders, minor revision 1, plural and context entries, an ISO-8859-1 catalog, a directory with a
 * repeated source and the byte limit, and each kind of bad file; against GNU {@code msgfmt}'s output and
 * the system's catalogs only when those are installed.
 */
class GettextPairsTest {
    static final Path SYSTEM = Path.of("/usr/share/locale/de/LC_MESSAGES");

    @TempDir
    Path dir;

    /** A catalog with what real ones have: header, format strings, wrapped lines, plural, context, untranslated. */
    static final String PO = """
        # German translations for a test program.
        msgid ""
        msgstr ""
        "Project-Id-Version: test 1.0\\n"
        "Content-Type: text/plain; charset=%s\\n"
        "Plural-Forms: nplurals=2; plural=(n != 1);\\n"

        msgid "Open the file"
        msgstr "Datei öffnen"

        #, c-format
        msgid ""
        "cannot remove %%s:\\n"
        "  directory not empty"
        msgstr "%%s kann nicht entfernt werden:\\n\\tVerzeichnis nicht leer"

        msgid "Quit"
        msgstr "Beenden"

        msgid "%%d file removed"
        msgid_plural "%%d files removed"
        msgstr[0] "%%d Datei entfernt"
        msgstr[1] "%%d Dateien entfernt"

        msgctxt "menu"
        msgid "Open the file"
        msgstr "Datei öffnen (Menü)"

        msgctxt "verb"
        msgid "Save as"
        msgstr "Speichern unter"

        msgid "Not translated yet"
        msgstr ""

        msgid "Save the changes"
        msgstr "Änderungen speichern"
        """;

    /** What {@link #PO} gives: in msgid byte order, the header, single words, plural, context and empty ones skipped. */
    static final List<Pair> EXPECTED = List.of(
        new Pair("Open the file", "Datei öffnen"),
        new Pair("Save the changes", "Änderungen speichern"),
        new Pair("cannot remove %s: directory not empty", "%s kann nicht entfernt werden: Verzeichnis nicht leer"));

    static String po(String charset) {
        return PO.formatted(charset);
    }

    private Path mo(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private Path mo(String name, String po, Charset charset, ByteOrder order) throws IOException {
        return mo(name, PoCompiler.compile(po, charset, order, 0));
    }

    private static ShiftformerException refused(Path file) {
        var e = assertThrows(ShiftformerException.class, () -> GettextPairs.read(file, 0));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        return e;
    }

    private static void assertMessage(String expectedPart, ShiftformerException e) {
        assertTrue(e.getMessage().contains(expectedPart), e.getMessage());
    }

    @Test
    void bothByteOrdersGiveTheSamePairsWithoutHeaderPluralContextOrSingleWords() throws IOException {
        Path le = mo("le.mo", po("UTF-8"), StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN);
        Path be = mo("be.mo", po("UTF-8"), StandardCharsets.UTF_8, ByteOrder.BIG_ENDIAN);
        byte[] leBytes = Files.readAllBytes(le);
        assertEquals((byte) 0xde, leBytes[0]); // 0x950412de written little-endian
        assertEquals((byte) 0x95, Files.readAllBytes(be)[0]);
        assertEquals(EXPECTED, GettextPairs.read(le, 0));
        assertEquals(EXPECTED, GettextPairs.read(be, 0));
        // the raw entries are all there: header, plural (msgid NUL msgid_plural, forms NUL-separated), context (ctx EOT msgid)
        List<GettextPairs.Entry> entries = GettextPairs.entries(le, leBytes);
        assertEquals(9, entries.size());
        assertEquals(0, entries.get(0).original().length);
        assertEquals("%d file removed\0%d files removed", new String(entries.get(1).original(), StandardCharsets.UTF_8));
        assertEquals("%d Datei entfernt\0%d Dateien entfernt", new String(entries.get(1).translation(), StandardCharsets.UTF_8));
        assertEquals("verb\u0004Save as", new String(entries.get(8).original(), StandardCharsets.UTF_8));
    }

    @Test
    void minorRevisionOneIsReadAndMajorRevisionOneIsRefused() throws IOException {
        Path minor = mo("minor1.mo", PoCompiler.compile(po("UTF-8"), StandardCharsets.UTF_8, ByteOrder.BIG_ENDIAN, 1));
        assertEquals(EXPECTED, GettextPairs.read(minor, 0));
        Path major = mo("major1.mo", PoCompiler.compile(po("UTF-8"), StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN,
            0x0001_0000));
        assertMessage("unsupported .mo major revision 1 (minor 0); this reader knows major revision 0", refused(major));
    }

    @Test
    void anIso88591CatalogIsDecodedWithTheHeadersCharset() throws IOException {
        Path latin1 = mo("latin1.mo", po("ISO-8859-1"), StandardCharsets.ISO_8859_1, ByteOrder.LITTLE_ENDIAN);
        byte[] bytes = Files.readAllBytes(latin1);
        byte[] umlaut = "Änderungen".getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(10, umlaut.length); // one byte for Ä: really Latin-1, not UTF-8
        assertTrue(indexOf(bytes, umlaut) > 0);
        assertEquals(-1, indexOf(bytes, "Änderungen".getBytes(StandardCharsets.UTF_8)));
        assertEquals(EXPECTED, GettextPairs.read(latin1, 0));
    }

    @Test
    void aDirectoryIsReadInNameOrderFirstTranslationWinsThenTheByteLimit() throws IOException {
        Path d = Files.createDirectory(dir.resolve("LC_MESSAGES"));
        // b.mo: a second translation of a.mo's source comes later in name order and loses
        Files.write(d.resolve("b.mo"), PoCompiler.compile("""
            msgid "Open the file"
            msgstr "Öffne die Datei"

            msgid "Print the page"
            msgstr "Seite drucken"

            msgid "Show all the details"
            msgstr "Alles zeigen"
            """, StandardCharsets.UTF_8, ByteOrder.BIG_ENDIAN, 0));
        Files.write(d.resolve("a.mo"), PoCompiler.compile(po("UTF-8") + """

            msgid "Show all the details"
            msgstr "Alle Einzelheiten der Reihe nach anzeigen"
            """, StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN, 0));
        Files.writeString(d.resolve(".hidden.mo"), "not a catalog, and not read");
        Files.writeString(d.resolve("README"), "not a catalog");
        Files.createDirectory(d.resolve("dir.mo"));
        List<Pair> all = GettextPairs.read(d, 0);
        assertEquals(List.of(EXPECTED.get(0), EXPECTED.get(1),
            new Pair("Show all the details", "Alle Einzelheiten der Reihe nach anzeigen"), EXPECTED.get(2),
            new Pair("Print the page", "Seite drucken")), all);
        // 30 bytes: a.mo's long translation (41 bytes) drops its source, b.mo's short one does not replace it
        assertEquals(List.of(EXPECTED.get(0), EXPECTED.get(1), new Pair("Print the page", "Seite drucken")),
            GettextPairs.read(d, 30));
        Dataset ds = DataSpec.parse("gettext:" + d + ",30").load(new SplitConfig(1, 1, 0, 1));
        assertEquals("gettext:" + d + ",30", ds.name());
        assertEquals(3, ds.size());

        var empty = assertThrows(ShiftformerException.class, () -> GettextPairs.read(Files.createDirectory(dir.resolve("e")), 0));
        assertEquals("gettext: no .mo or .po files in " + dir.resolve("e"), empty.getMessage());
        var missing = assertThrows(ShiftformerException.class, () -> GettextPairs.read(dir.resolve("nope"), 0));
        assertEquals("gettext: " + dir.resolve("nope") + ": no such file or directory", missing.getMessage());
    }

    @Test
    void truncatedFilesAreRefusedNamingTheFile() throws IOException {
        byte[] good = PoCompiler.compile(po("UTF-8"), StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN, 0);
        assertMessage("truncated: 20 bytes, shorter than the 28-byte .mo header",
            refused(mo("short.mo", Arrays.copyOf(good, 20))));
        assertMessage("truncated: 0 bytes", refused(mo("empty.mo", new byte[0])));
        // cut inside the translation table (28 + 9*8 = 100 is where it starts)
        assertMessage("the table of translations (9 entries of 8 bytes at offset 100) runs past the end of the file (120 bytes)",
            refused(mo("cut-table.mo", Arrays.copyOf(good, 120))));
        // cut inside the strings: the last msgstr ends past the end
        assertMessage("msgstr 8 (15 bytes at offset ", refused(mo("cut-strings.mo", Arrays.copyOf(good, good.length - 3))));
    }

    @Test
    void aWrongMagicIsRefused() throws IOException {
        Path text = mo("text.mo", "msgid \"Open the file\"\nmsgstr \"Datei öffnen\"\n".getBytes(StandardCharsets.UTF_8));
        assertMessage("not a .mo file: it starts with the bytes 6d 73 67 69, not the magic 0x950412de in either byte order",
            refused(text));
    }

    @Test
    void offsetsAndLengthsPastTheEndAreRefused() throws IOException {
        byte[] good = PoCompiler.compile(po("UTF-8"), StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN, 0);
        byte[] table = good.clone();
        ByteBuffer.wrap(table).order(ByteOrder.LITTLE_ENDIAN).putInt(12, 0xffff_fff0); // the originals' table offset
        assertMessage("the table of original strings (9 entries of 8 bytes at offset 4294967280) runs past the end of the file ("
            + good.length + " bytes)", refused(mo("table.mo", table)));
        byte[] count = good.clone();
        ByteBuffer.wrap(count).order(ByteOrder.LITTLE_ENDIAN).putInt(8, 0x7fff_ffff); // the number of strings
        assertMessage("(2147483647 entries of 8 bytes at offset 28) runs past the end", refused(mo("count.mo", count)));
        byte[] offset = good.clone();
        ByteBuffer.wrap(offset).order(ByteOrder.LITTLE_ENDIAN).putInt(28 + 8 * 3 + 4, good.length); // msgid 3's offset
        assertMessage("msgid 3 (13 bytes at offset " + good.length + ") runs past the end of the file (" + good.length
            + " bytes)", refused(mo("offset.mo", offset)));
        byte[] length = good.clone();
        ByteBuffer.wrap(length).order(ByteOrder.BIG_ENDIAN).putInt(100 + 8 * 3, 0xffff_ffff); // msgstr 3's length, BE bytes
        assertMessage("msgstr 3 (4294967295 bytes at offset ", refused(mo("length.mo", length)));
    }

    @Test
    void anUnknownCharsetOrBytesInvalidInTheCharsetAreRefused() throws IOException {
        Path unknown = mo("unknown.mo", po("NO-SUCH-CHARSET"), StandardCharsets.UTF_8, ByteOrder.LITTLE_ENDIAN);
        assertMessage("the header's charset \"NO-SUCH-CHARSET\" is not one Java can decode", refused(unknown));
        Path lying = mo("lying.mo", po("UTF-8"), StandardCharsets.ISO_8859_1, ByteOrder.LITTLE_ENDIAN); // Latin-1 bytes
        assertMessage("msgstr 3 is not valid UTF-8", refused(lying)); // "Datei öffnen"
    }

    @Test
    void specParserReadsGettextPathAndByteLimit() {
        assertEquals(new DataSpec.Gettext(Path.of("/usr/share/locale/de/LC_MESSAGES")),
            DataSpec.parse("gettext:/usr/share/locale/de/LC_MESSAGES"));
        assertEquals(new DataSpec.Gettext(Path.of("coreutils.mo"), 1000), DataSpec.parse(" gettext: coreutils.mo , 1_000 "));
        assertEquals("gettext:x.mo,200", DataSpec.parse("gettext:x.mo,200").toString());
        assertEquals("gettext:d", DataSpec.parse("gettext:d").toString());
        for (String bad : List.of("gettext:", "gettext:,200", "gettext:d,0", "gettext:d,ten", "gettext:d,")) {
            var e = assertThrows(ShiftformerException.class, () -> DataSpec.parse(bad), bad);
            assertTrue(e.getMessage().contains("gettext:"), e.getMessage());
            assertTrue(e.getMessage().contains("accepted: default, default:MAX, FILE.tsv, tsv:FILE, moses:SRC,TGT, dictd:PATH, "
                + "gettext:PATH, gettext:PATH,MAX_BYTES"), e.getMessage());
        }
    }

    static boolean msgfmtInstalled() {
        return Files.isExecutable(Path.of("/usr/bin/msgfmt"));
    }

    /**
     * GNU msgfmt's catalogs (with their hash table) give the same pairs, and the same entries as
     * {@link PoCompiler}'s but for the untranslated one, which msgfmt leaves out.
     */
    @Test
    @EnabledIf("msgfmtInstalled")
    void msgfmtCatalogsInBothByteOrdersReadTheSame() throws IOException, InterruptedException {
        for (String charset : List.of("UTF-8", "ISO-8859-1")) {
            Path po = dir.resolve(charset + ".po");
            Files.writeString(po, po(charset), Charset.forName(charset));
            for (String endianness : List.of("little", "big")) {
                Path mo = dir.resolve(charset + "-" + endianness + ".mo");
                Process p = new ProcessBuilder("/usr/bin/msgfmt", "--endianness=" + endianness, "-o", mo.toString(),
                    po.toString()).redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertEquals(0, p.waitFor(), out);
                assertEquals(EXPECTED, GettextPairs.read(mo, 0), charset + " " + endianness);
                ByteOrder order = endianness.equals("big") ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN;
                assertEquals(text(GettextPairs.entries(mo, PoCompiler.compile(po(charset), Charset.forName(charset), order, 0))),
                    text(GettextPairs.entries(mo, Files.readAllBytes(mo))), charset + " " + endianness);
            }
        }
    }

    static boolean systemCatalogsInstalled() {
        return Files.isDirectory(SYSTEM);
    }

    /** Every installed German catalog reads without error into distinct, collapsed, multi-word sources. */
    @Test
    @EnabledIf("systemCatalogsInstalled")
    void theSystemsGermanCatalogsRead() {
        List<Pair> pairs = GettextPairs.read(SYSTEM, 0);
        assertTrue(pairs.size() > 100, "only " + pairs.size() + " pairs in " + SYSTEM);
        Set<String> sources = new HashSet<>();
        for (Pair p : pairs) {
            assertTrue(sources.add(p.source()), p.source());
            assertTrue(p.source().contains(" ") && !p.source().contains("  ") && p.source().strip().equals(p.source()),
                p.source());
            assertTrue(!p.target().isEmpty() && !p.target().contains("\n") && !p.target().contains("\t"), p.target());
        }
    }

    private static List<String> text(List<GettextPairs.Entry> entries) {
        return entries.stream().filter(e -> e.translation().length > 0)
            .map(e -> new String(e.original(), StandardCharsets.ISO_8859_1) + " => "
                + new String(e.translation(), StandardCharsets.ISO_8859_1)).toList();
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
