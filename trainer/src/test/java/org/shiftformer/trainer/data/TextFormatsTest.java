package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** TSV and Moses readers and the data spec parser, with good and malformed input. */
class TextFormatsTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text, StandardCharsets.UTF_8);
        return p;
    }

    @Test
    void tsvReadsPairsSkipsBlankLinesAndHandlesCrlfAndBom() throws IOException {
        Path f = write("a.tsv", "\uFEFFHaus\thouse\r\n\n   \nzwei Bäume\t two trees \nBank\tbank\n");
        assertEquals(List.of(new Pair("Haus", "house"), new Pair("zwei Bäume", "two trees"), new Pair("Bank", "bank")),
            TsvPairs.read(f));
    }

    @Test
    void tsvErrorsNameFileAndLine() throws IOException {
        Path noTab = write("no-tab.tsv", "Haus\thouse\n\nBaum tree\n");
        var e = assertThrows(ShiftformerException.class, () -> TsvPairs.read(noTab));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith(noTab + ":3: expected source<TAB>target, found no tab"), e.getMessage());

        Path threeFields = write("three.tsv", "a\tb\tc\n");
        var e2 = assertThrows(ShiftformerException.class, () -> TsvPairs.read(threeFields));
        assertTrue(e2.getMessage().startsWith(threeFields + ":1: expected source<TAB>target, found 2 tabs"), e2.getMessage());

        Path emptyTarget = write("empty.tsv", "a\tb\nc\t  \n");
        var e3 = assertThrows(ShiftformerException.class, () -> TsvPairs.read(emptyTarget));
        assertTrue(e3.getMessage().startsWith(emptyTarget + ":2: empty target field"), e3.getMessage());

        Path badUtf8 = dir.resolve("latin1.tsv");
        Files.write(badUtf8, "a\tb\nM\u00e4use\tmice\n".getBytes(StandardCharsets.ISO_8859_1));
        var e4 = assertThrows(ShiftformerException.class, () -> TsvPairs.read(badUtf8));
        assertTrue(e4.getMessage().startsWith(badUtf8 + ":2: not valid UTF-8"), e4.getMessage());

        var e5 = assertThrows(ShiftformerException.class, () -> TsvPairs.read(dir.resolve("missing.tsv")));
        assertTrue(e5.getMessage().contains("missing.tsv: no such file"), e5.getMessage());
    }

    @Test
    void tsvWriteRoundTripsASplit() throws IOException {
        Dataset d = NumberTask.generate(new SplitConfig(10, 20, 1000, 1));
        Path f = dir.resolve("test.tsv");
        TsvPairs.write(f, d.test());
        assertEquals(d.test(), TsvPairs.read(f));
        var e = assertThrows(ShiftformerException.class,
            () -> TsvPairs.write(dir.resolve("x.tsv"), List.of(new Pair("a", "b"), new Pair("a\tb", "c"))));
        assertTrue(e.getMessage().contains("pair 1 has a source that TSV cannot hold"), e.getMessage());
    }

    @Test
    void gzippedTsvIsRead() throws IOException {
        Path f = dir.resolve("a.tsv.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(f))) {
            out.write("Maus\tmouse\n".getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(List.of(new Pair("Maus", "mouse")), TsvPairs.read(f));
    }

    @Test
    void mosesPairsLinesAndSkipsPairsWithABlankSide() throws IOException {
        Path de = write("c.de", "Haus\n\nBaum\nBank\n");
        Path en = write("c.en", "house\nempty source\ntree\n  \n");
        assertEquals(List.of(new Pair("Haus", "house"), new Pair("Baum", "tree")), MosesPairs.read(de, en));
    }

    @Test
    void mosesLineCountMismatchNamesBothFilesAndCounts() throws IOException {
        Path de = write("d.de", "a\nb\nc\n");
        Path en = write("d.en", "x\ny\n");
        var e = assertThrows(ShiftformerException.class, () -> MosesPairs.read(de, en));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals("parallel files differ in length: " + en + " has 2 lines but " + de + " has 3", e.getMessage());
        var e2 = assertThrows(ShiftformerException.class, () -> MosesPairs.read(en, de));
        assertEquals("parallel files differ in length: " + en + " has 2 lines but " + de + " has 3", e2.getMessage());
    }

    @Test
    void specParserAcceptsTheDocumentedForms() {
        assertEquals(new DataSpec.Default(999_999), DataSpec.parse("default"));
        assertEquals(new DataSpec.Default(9_999), DataSpec.parse("default:9999"));
        assertEquals(new DataSpec.Default(99_999), DataSpec.parse("default:99_999"));
        assertEquals("default:9999", DataSpec.parse("default:9999").toString());
        assertEquals("default", DataSpec.parse("default").toString());
        assertEquals(new DataSpec.Tsv(Path.of("data/pairs.tsv")), DataSpec.parse("data/pairs.tsv"));
        assertEquals(new DataSpec.Tsv(Path.of("x.tsv.gz")), DataSpec.parse(" x.tsv.gz "));
        assertEquals(new DataSpec.Tsv(Path.of("pairs.txt")), DataSpec.parse("tsv:pairs.txt"));
        assertEquals(new DataSpec.Moses(Path.of("train.de"), Path.of("train.en")), DataSpec.parse("moses:train.de,train.en"));
        assertEquals(new DataSpec.Dictd(Path.of("/usr/share/dictd/freedict-deu-eng")),
            DataSpec.parse("dictd:/usr/share/dictd/freedict-deu-eng"));
        assertEquals("moses:a,b", DataSpec.parse("moses:a,b").toString());
    }

    @Test
    void specParserRejectsMalformedSpecsListingTheForms() {
        for (String bad : List.of("", "pairs.csv", "default:", "default:999", "default:1000000", "default:ten", "moses:only-one", "moses:a,b,c", "moses:,b", "dictd:", "tsv:", "hf:wmt14")) {
            var e = assertThrows(ShiftformerException.class, () -> DataSpec.parse(bad), bad);
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("accepted: default, default:MAX, FILE.tsv, tsv:FILE, moses:SRC,TGT, dictd:PATH, gettext:PATH"), e.getMessage());
        }
        assertTrue(assertThrows(ShiftformerException.class, () -> DataSpec.parse("hf:wmt14")).getMessage()
            .contains("unknown data source \"hf:\""));
    }

    @Test
    void tsvSpecLoadsAndSplits() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 100; i++) {
            sb.append("q").append(i).append('\t').append("s").append(i).append('\n');
        }
        Path f = write("s.tsv", sb.toString());
        Dataset d = DataSpec.parse(f.toString()).load(new SplitConfig(10, 20, 0, 1));
        assertEquals(70, d.train().size());
        assertEquals("tsv:" + f, d.name());
    }
}
