package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The split by catalog ({@link Corpus#splitByCatalog}): which catalogs are held out depends only on the
 * seed and the file names, held-out sources never occur in training, the held-out sizes are at least the
 * requested ones, the breakdown names each held-out pair's catalog, and data without catalogs is refused.
 */
class CatalogSplitTest {
    @TempDir
    Path dir;

    /**
     * 20 catalogs of 10 to 29 pairs; every catalog also has the shared messages "Report bugs to" and
     * "Try --help for more", and catalog k shares "message k of ..." with catalog k+1.
     */
    static List<Catalog> catalogs() {
        List<Catalog> out = new ArrayList<>();
        for (int k = 0; k < 20; k++) {
            List<Pair> pairs = new ArrayList<>();
            pairs.add(new Pair("Report bugs to", "Fehler melden an " + k));
            pairs.add(new Pair("Try --help for more", "Mehr mit --help"));
            pairs.add(new Pair("message " + k + " of the chain", "Meldung " + k));
            if (k > 0) {
                pairs.add(new Pair("message " + (k - 1) + " of the chain", "Meldung " + (k - 1) + " in " + k));
            }
            for (int j = 0; j < 10 + k; j++) {
                pairs.add(new Pair("prog" + k + " says " + j, "prog" + k + " sagt " + j));
            }
            out.add(new Catalog("prog" + k + ".mo", pairs));
        }
        return out;
    }

    private static Set<String> catalogsOf(Dataset d, List<Pair> split) {
        Set<String> s = new TreeSet<>();
        for (Pair p : split) {
            s.add(d.breakdown().groupOf(p));
        }
        return s;
    }

    private static Set<String> sources(List<Pair> pairs) {
        Set<String> s = new HashSet<>();
        pairs.forEach(p -> s.add(p.source()));
        return s;
    }

    @Test
    void heldOutCatalogsAreDeterministicBySeedAndIndependentOfInputOrder() {
        SplitConfig config = new SplitConfig(40, 60, 0, 7, SplitBy.CATALOG);
        Dataset a = Corpus.splitByCatalog("t", catalogs(), config);
        List<Catalog> shuffled = new ArrayList<>(catalogs());
        Collections.shuffle(shuffled, new java.util.Random(3));
        Dataset b = Corpus.splitByCatalog("t", shuffled, config);
        assertEquals(a, b);
        Dataset other = Corpus.splitByCatalog("t", catalogs(), new SplitConfig(40, 60, 0, 8, SplitBy.CATALOG));
        assertNotEquals(catalogsOf(a, a.test()), catalogsOf(other, other.test()));
        // held-out catalogs are whole: every pair of a test catalog that is not also in training is a test pair
        Set<String> trainSources = sources(a.train());
        for (Catalog c : catalogs()) {
            if (catalogsOf(a, a.test()).contains(c.name())) {
                for (Pair p : c.pairs()) {
                    assertTrue(sources(a.test()).contains(p.source()) || trainSources.contains(p.source()), p.toString());
                }
            }
        }
        assertEquals(new ArrayList<>(catalogsOf(a, a.test())).size() + catalogsOf(a, a.validation()).size(),
            a.breakdown().groups().size());
        assertEquals(Set.copyOf(a.breakdown().groups()), a.breakdown().heldOut());
    }

    @Test
    void noHeldOutSourceIsTrainedOnAndSizesAreAtLeastTheRequested() {
        for (long seed = 0; seed < 20; seed++) {
            Dataset d = Corpus.splitByCatalog("t", catalogs(), new SplitConfig(30, 50, 0, seed, SplitBy.CATALOG));
            Set<String> train = sources(d.train());
            assertTrue(d.test().size() >= 50, d.toString());
            assertTrue(d.validation().size() >= 30, d.toString());
            for (Pair p : d.test()) {
                assertFalse(train.contains(p.source()), p.toString());
            }
            for (Pair p : d.validation()) {
                assertFalse(train.contains(p.source()), p.toString());
            }
            // the messages every program has are always training pairs (some catalog is a training one)
            assertTrue(train.containsAll(Set.of("Report bugs to", "Try --help for more")));
            assertTrue(Collections.disjoint(catalogsOf(d, d.test()), catalogsOf(d, d.validation())));
            // removing a catalog's leaked sources never removes its own messages
            for (String c : catalogsOf(d, d.test())) {
                int k = Integer.parseInt(c.substring(4, c.indexOf('.')));
                assertTrue(sources(d.test()).contains("prog" + k + " says 0"));
            }
            // all the data is used: every distinct source is in exactly one split
            Set<String> all = new HashSet<>();
            catalogs().forEach(c -> all.addAll(sources(c.pairs())));
            assertEquals(all.size(), d.size());
        }
        Dataset capped = Corpus.splitByCatalog("t", catalogs(), new SplitConfig(30, 50, 100, 1, SplitBy.CATALOG));
        assertEquals(100, capped.train().size());
        Dataset none = Corpus.splitByCatalog("t", catalogs(), new SplitConfig(0, 0, 0, 1, SplitBy.CATALOG));
        assertEquals(0, none.test().size() + none.validation().size());
    }

    @Test
    void aSplitThatWouldTakeEveryCatalogOrDataWithoutCatalogsIsRefused() {
        var all = assertThrows(ShiftformerException.class,
            () -> Corpus.splitByCatalog("t", catalogs(), new SplitConfig(100, 10_000, 0, 1, SplitBy.CATALOG)));
        assertEquals(ErrorCode.INVALID_ARGUMENT, all.code());
        assertTrue(all.getMessage().contains("would leave no training catalog (20 catalogs)"), all.getMessage());
        SplitConfig byCatalog = new SplitConfig(1, 1, 0, 1, SplitBy.CATALOG);
        for (String spec : List.of("default:1000", "x.tsv", "moses:a,b", "dictd:d")) {
            var e = assertThrows(ShiftformerException.class, () -> {
                DataSpec d = DataSpec.parse(spec);
                // the text formats are refused before reading: no file is needed
                d.load(byCatalog);
            });
            assertTrue(e.getMessage().contains("split by catalog needs data made of catalogs"), spec + ": " + e.getMessage());
        }
        assertThrows(ShiftformerException.class, () -> SplitBy.parse("program"));
        assertEquals(SplitBy.CATALOG, SplitBy.parse("catalog"));
    }

    /** The installed German catalogs split by catalog: the same pairs as by text, none held-out trained on. */
    @Test
    @EnabledIf("org.shiftformer.trainer.data.GettextPairsTest#systemCatalogsInstalled")
    void theSystemsGermanCatalogsSplitByCatalog() {
        DataSpec spec = new DataSpec.Gettext(GettextPairsTest.SYSTEM, 200);
        Dataset d = spec.load(new SplitConfig(200, 1000, 0, SplitConfig.DEFAULT_SEED, SplitBy.CATALOG));
        assertTrue(d.test().size() >= 1000 && d.validation().size() >= 200, d.toString());
        Set<String> train = sources(d.train());
        d.test().forEach(p -> assertFalse(train.contains(p.source()), p.toString()));
        d.validation().forEach(p -> assertFalse(train.contains(p.source()), p.toString()));
        assertEquals(spec.load(new SplitConfig(200, 1000, 0, SplitConfig.DEFAULT_SEED)).size(), d.size());
        System.out.println(d + ", test catalogs " + catalogsOf(d, d.test()) + ", validation catalogs "
            + catalogsOf(d, d.validation()));
    }

    @Test
    void gettextDataSplitsByCatalogFileName() throws IOException {
        for (int k = 0; k < 6; k++) {
            StringBuilder po = new StringBuilder("msgid \"Report bugs to\"\nmsgstr \"Fehler melden an\"\n\n");
            for (int j = 0; j < 5; j++) {
                po.append("msgid \"prog").append(k).append(" says ").append(j).append("\"\nmsgstr \"sagt ").append(j)
                    .append("\"\n\n");
            }
            Files.write(dir.resolve("prog" + k + ".po"), po.toString().getBytes(StandardCharsets.UTF_8));
        }
        DataSpec spec = DataSpec.parse("gettext:" + dir);
        Dataset d = spec.load(new SplitConfig(3, 4, 0, 5, SplitBy.CATALOG));
        assertEquals(5, d.test().size()); // one whole catalog (5 of its own messages; the shared one is trained on)
        assertEquals(5, d.validation().size());
        assertEquals(21, d.train().size()); // 4 catalogs' own messages and the shared one
        assertEquals(1, catalogsOf(d, d.test()).size());
        assertTrue(catalogsOf(d, d.test()).iterator().next().endsWith(".po"));
        assertEquals(spec.load(new SplitConfig(3, 4, 0, 5)).size(), d.size()); // by text: the same pairs
        assertEquals(null, spec.load(new SplitConfig(3, 4, 0, 5)).breakdown());
    }
}
