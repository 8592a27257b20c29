package org.shiftformer.trainer.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Reads Moses-style parallel files: two UTF-8 files (gzip when the name ends in {@code .gz}) where line
 * {@code i} of the source file translates line {@code i} of the target file. The files must have the
 * same number of lines, otherwise the error names both files and both counts. Lines are trimmed; a pair
 * with a blank side is skipped, as Moses' corpus cleaning does.
 */
public final class MosesPairs {
    private MosesPairs() {
    }

    /** All pairs with two non-blank sides, in file order. */
    public static List<Pair> read(Path sourceFile, Path targetFile) {
        List<Pair> pairs = new ArrayList<>();
        try (TextFiles src = TextFiles.open(sourceFile); TextFiles tgt = TextFiles.open(targetFile)) {
            while (true) {
                String s = src.readLine();
                String t = tgt.readLine();
                if (s == null && t == null) {
                    break;
                }
                if (s == null || t == null) {
                    TextFiles shorter = s == null ? src : tgt;
                    TextFiles longer = s == null ? tgt : src;
                    while (longer.readLine() != null) {
                        // count the rest
                    }
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "parallel files differ in length: "
                        + shorter.file() + " has " + shorter.lineNumber() + " lines but " + longer.file() + " has "
                        + longer.lineNumber());
                }
                s = s.strip();
                t = t.strip();
                if (!s.isEmpty() && !t.isEmpty()) {
                    pairs.add(new Pair(s, t));
                }
            }
        }
        return pairs;
    }
}
