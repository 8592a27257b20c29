package org.shiftformer.trainer.data;

import java.util.Locale;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** What a split keeps together ({@link SplitConfig}). */
public enum SplitBy {
    /** Each source text on its own, by a seeded hash of the text ({@link Corpus#split}); the default. */
    TEXT,
    /** Whole catalogs (programs) held out, by a seeded hash of the catalog's file name ({@link Corpus#splitByCatalog}). */
    CATALOG;

    /** {@code text} or {@code catalog}, as on the command line. */
    public static SplitBy parse(String s) {
        for (SplitBy b : values()) {
            if (b.toString().equals(s.strip().toLowerCase(Locale.ROOT))) {
                return b;
            }
        }
        throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "split by \"" + s + "\": expected text or catalog");
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
