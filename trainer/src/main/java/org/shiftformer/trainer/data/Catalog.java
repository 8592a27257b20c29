package org.shiftformer.trainer.data;

import java.util.List;
import java.util.Objects;

/**
 * The pairs of one message catalog (one program's gettext catalog, {@link GettextPairs#readCatalogs}), so
 * that a split can hold out whole programs ({@link Corpus#splitByCatalog}). Pairs stay plain
 * {@link Pair}s: the catalog is carried by this grouping, not by every pair.
 *
 * @param name  the catalog's file name ({@code coreutils.mo}), unique within a data set
 * @param pairs its pairs, each source once
 */
public record Catalog(String name, List<Pair> pairs) {
    public Catalog {
        Objects.requireNonNull(name, "name");
        pairs = List.copyOf(pairs);
    }
}
