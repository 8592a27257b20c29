package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The dictd reader against a small dictionary built here in FreeDict's layout (so the test needs no
 * package), and against the real {@code dict-freedict-deu-eng} when it is installed.
 */
class DictdPairsTest {
    static final Path REAL = Path.of("/usr/share/dictd/freedict-deu-eng");

    @TempDir
    Path dir;

    /** Entries copied in form from freedict-deu-eng 2022.04.21 (line 1 headword, line 2 translations). */
    private static final List<String> ENTRIES = List.of(
        "German - English test dictionary\n",
        "Bank /bˈaŋk/ <fem, n, sg>\n [fin.] bank <n>\n      \"die vorlegende Bank\"  - the presenting bank\n"
            + "   Synonym: {Bankinstitut}\n\n see: {Banken}\n\n",
        "kauzig /kˈaʊtsɪç/ <adj>\ndotty <adj> [Br.]  [coll.]\n   Synonym: {schrullig}\n\n",
        "Vorsitzende /fˈoːɾzˌɪtsəndə/ <fem, n, sg>\nchairman <n>chm.,  /tsˌeːhˌɑːˈɛm/ , chairwoman <n>chw.\n",
        "Haus… /hˈaʊs/ <adj>\ndomestic <adj>, household <adj>\n",
        "Brautschau /bɾˈaʊtʃaʊ/ <fem, n, sg>\n\n      \"auf Brautschau gehen\"  - go/be looking for a wife\n",
        "Wie der Vater, so der Sohn. /viː dɛɾ fˈɑːtɜ zoː dɛɾ zˈoːn/\nLike father, like son.\n",
        "Das sind olle Kamellen! /das zɪnt ˈɔlə kamˈɛlən/\n [ugs.] That's nothing new!, That's old hat! [coll.]\n",
        "und /ˈʊnt/ (u. /ˈuː/) <conj>\nand <conj>\n",
        "Eins /ˈaɪns/ <fem, n, sg>\none <n> [number]\n   Synonyms: {Einser}, {Einer}\n\n");

    private static final List<Pair> EXPECTED = List.of(
        new Pair("Bank", "bank"),
        new Pair("kauzig", "dotty"),
        new Pair("Vorsitzende", "chairman"),
        new Pair("Wie der Vater, so der Sohn.", "Like father, like son."),
        new Pair("Das sind olle Kamellen!", "That's nothing new!"),
        new Pair("und", "and"),
        new Pair("Eins", "one"));

    /** Writes base.index and base.dict.dz; index headwords in dictd's folded form, one entry listed twice. */
    private Path writeDictionary(String name, boolean realDictzipHeader) throws IOException {
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        List<String> index = new ArrayList<>();
        for (String entry : ENTRIES) {
            byte[] bytes = entry.getBytes(StandardCharsets.UTF_8);
            String head = entry.substring(0, entry.indexOf('\n')).split(" /")[0].toLowerCase();
            String key = entry == ENTRIES.get(0) ? "00databaseshort" : head;
            index.add(key + "\t" + DictdPairs.encodeBase64(data.size()) + "\t" + DictdPairs.encodeBase64(bytes.length));
            data.write(bytes);
        }
        index.add(2, "dotty\t" + index.get(2).split("\t", 2)[1]); // a second key for kauzig's entry
        Path base = dir.resolve(name);
        Files.write(Path.of(base + ".index"), index, StandardCharsets.UTF_8);
        byte[] raw = data.toByteArray();
        try (OutputStream out = Files.newOutputStream(Path.of(base + ".dict.dz"))) {
            out.write(realDictzipHeader ? dictzip(raw) : gzip(raw));
        }
        return base;
    }

    private static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(b)) {
            gz.write(raw);
        }
        return b.toByteArray();
    }

    /**
     * One-chunk dictzip: a gzip member with FEXTRA holding the "RA" random-access subfield (version 1,
     * chunk length, chunk count 1, compressed chunk size), as dictzip writes it.
     */
    private static byte[] dictzip(byte[] raw) {
        Deflater d = new Deflater(9, true);
        d.setInput(raw);
        d.finish();
        byte[] buf = new byte[raw.length + 1024];
        int clen = d.deflate(buf);
        d.end();
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 4, 0, 0, 0, 0, 2, 3});
        int[] ra = {1, 58315, 1, clen}; // ver, chlen, chcnt, size of chunk 1: 16-bit little endian each
        int sublen = 2 * ra.length;
        le16(b, 4 + sublen);
        b.write('R');
        b.write('A');
        le16(b, sublen);
        for (int v : ra) {
            le16(b, v);
        }
        b.write(buf, 0, clen);
        CRC32 crc = new CRC32();
        crc.update(raw);
        le32(b, crc.getValue());
        le32(b, raw.length);
        return b.toByteArray();
    }

    private static void le16(ByteArrayOutputStream b, int v) {
        b.write(v & 0xff);
        b.write(v >>> 8 & 0xff);
    }

    private static void le32(ByteArrayOutputStream b, long v) {
        le16(b, (int) (v & 0xffff));
        le16(b, (int) (v >>> 16 & 0xffff));
    }

    @Test
    void readsPairsByTheDocumentedRule() throws IOException {
        Path base = writeDictionary("tiny", false);
        assertEquals(EXPECTED, DictdPairs.read(base));
        assertEquals(EXPECTED, DictdPairs.read(Path.of(base + ".index")), "the index file names the dictionary too");
    }

    @Test
    void readsDictzipWithItsRandomAccessHeader() throws IOException {
        assertEquals(EXPECTED, DictdPairs.read(writeDictionary("dz", true)));
    }

    @Test
    void specLoadsTheDictionary() throws IOException {
        Path base = writeDictionary("spec", false);
        Dataset d = DataSpec.parse("dictd:" + base).load(new SplitConfig(1, 2, 0, 9));
        assertEquals(EXPECTED.size(), d.size());
    }

    @Test
    void base64IsDictdsBigEndianAlphabet() {
        assertEquals(116, DictdPairs.decodeBase64("B0", Path.of("x"), 1)); // 1*64 + 52
        assertEquals(0, DictdPairs.decodeBase64("A", Path.of("x"), 1));
        assertEquals(63, DictdPairs.decodeBase64("/", Path.of("x"), 1));
        assertEquals(64L * 64 * 64 * 4 + 62, DictdPairs.decodeBase64("EAA+", Path.of("x"), 1));
        for (long v : new long[] {0, 1, 63, 64, 4095, 100_143_555L}) {
            assertEquals(v, DictdPairs.decodeBase64(DictdPairs.encodeBase64(v), Path.of("x"), 1));
        }
    }

    @Test
    void entryRuleEdgeCases() {
        assertEquals(Optional.empty(), DictdPairs.entryToPair("Haus… /hˈaʊs/\nhouse\n"));
        assertEquals(Optional.empty(), DictdPairs.entryToPair("only a headword\n"));
        assertEquals(Optional.of(new Pair("y(o)ustone", "y(o)ustone")),
            DictdPairs.entryToPair("y(o)ustone\ny(o)ustone <n>, jade\n"), "no pronunciation: the headword is line 1");
        assertEquals(Optional.of(new Pair("Kopf", "mind")),
            DictdPairs.entryToPair("Kopf /kˈɔpf/ <masc, n, sg>\nmind <n> [human] , spirit <n> [human]\n"));
        assertEquals(Optional.of(new Pair("etw. tun", "do sth. (for sb.)")),
            DictdPairs.entryToPair("etw. tun /x/\ndo sth. (for sb.), act\n"), "commas inside brackets do not split");
    }

    @Test
    void malformedIndexLinesNameFileAndLine() throws IOException {
        Path base = writeDictionary("bad", false);
        Path index = Path.of(base + ".index");
        List<String> lines = new ArrayList<>(Files.readAllLines(index));
        lines.set(3, "kauzig\tB!\tC");
        Files.write(index, lines);
        var e = assertThrows(ShiftformerException.class, () -> DictdPairs.read(base));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals(index + ":4: bad base64 digit '!' in \"B!\"", e.getMessage());

        lines.set(3, "kauzig\tB");
        Files.write(index, lines);
        e = assertThrows(ShiftformerException.class, () -> DictdPairs.read(base));
        assertEquals(index + ":4: expected headword<TAB>offset<TAB>length, found 2 fields", e.getMessage());

        lines.set(3, "kauzig\tBAAA\tB");
        Files.write(index, lines);
        e = assertThrows(ShiftformerException.class, () -> DictdPairs.read(base));
        assertTrue(e.getMessage().startsWith(index + ":4: entry at offset 262144 length 1 ends beyond the "), e.getMessage());
    }

    @Test
    void missingOrCorruptFilesAreClearErrors() throws IOException {
        var e = assertThrows(ShiftformerException.class, () -> DictdPairs.read(dir.resolve("none")));
        assertEquals("dictd: index file " + dir.resolve("none.index") + " not found", e.getMessage());
        Path base = writeDictionary("corrupt", false);
        Files.write(Path.of(base + ".dict.dz"), "not gzip".getBytes(StandardCharsets.UTF_8));
        var e2 = assertThrows(ShiftformerException.class, () -> DictdPairs.read(base));
        assertTrue(e2.getMessage().startsWith("dictd: " + base + ".dict.dz is not dictzip/gzip data"), e2.getMessage());
        Files.delete(Path.of(base + ".dict.dz"));
        var e3 = assertThrows(ShiftformerException.class, () -> DictdPairs.read(base));
        assertTrue(e3.getMessage().contains("data file " + base + ".dict.dz (or " + base + ".dict) not found"), e3.getMessage());
    }

    static boolean realDictionaryInstalled() {
        return Files.isRegularFile(Path.of(REAL + ".index")) && Files.isRegularFile(Path.of(REAL + ".dict.dz"));
    }

    @Test
    @EnabledIf("realDictionaryInstalled")
    void readsTheInstalledFreedictGermanEnglishDictionary() {
        List<Pair> pairs = DictdPairs.read(REAL);
        assertTrue(pairs.size() > 400_000, "pairs: " + pairs.size());
        for (Pair known : List.of(new Pair("Haus", "house"), new Pair("schnell", "fast"), new Pair("Bank", "bank"),
            new Pair("Tänzerinnen", "dancers"), new Pair("Wie der Vater, so der Sohn.", "Like father, like son."))) {
            assertTrue(pairs.contains(known), known.toString());
        }
        for (Pair p : pairs) {
            assertTrue(!p.source().contains("…") && !p.target().contains("…"), p.toString());
            assertTrue(p.target().indexOf('<') < 0 && p.target().indexOf('[') < 0, p.toString());
            assertTrue(!p.source().startsWith("00"), p.toString());
        }
    }
}
