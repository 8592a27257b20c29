package org.shiftformer.trainer.data;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Reads tab-separated pairs: one {@code source<TAB>target} per line, UTF-8 (gzip when the name ends in
 * {@code .gz}). Blank lines are skipped. A line must have exactly one tab and two non-blank fields;
 * anything else is an error that names the file and the 1-based line. Fields are trimmed.
 */
public final class TsvPairs {
    private TsvPairs() {
    }

    /** All pairs of {@code file}, in file order. */
    public static List<Pair> read(Path file) {
        List<Pair> pairs = new ArrayList<>();
        try (TextFiles reader = TextFiles.open(file)) {
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                pairs.add(parseLine(line, file, reader.lineNumber()));
            }
        }
        return pairs;
    }

    /**
     * Writes {@code pairs} as UTF-8 TSV that {@link #read(Path)} reads back unchanged (for saving a split
     * to inspect or to evaluate on later). A field containing a tab or a line break, or with leading or
     * trailing whitespace, cannot round-trip and is an error naming the pair's index.
     */
    public static void write(Path file, List<Pair> pairs) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < pairs.size(); i++) {
            Pair p = pairs.get(i);
            checkField(file, i, "source", p.source());
            checkField(file, i, "target", p.target());
            sb.append(p.source()).append('\t').append(p.target()).append('\n');
        }
        try {
            Files.writeString(file, sb, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, file + ": cannot write: " + e.getMessage(), e);
        }
    }

    private static void checkField(Path file, int index, String name, String field) {
        if (field.isEmpty() || !field.strip().equals(field) || field.indexOf('\t') >= 0 || field.indexOf('\n') >= 0
            || field.indexOf('\r') >= 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ": pair " + index + " has a " + name
                + " that TSV cannot hold (empty, outer whitespace, tab or line break): \"" + field + "\"");
        }
    }

    /** Parses one non-blank line; {@code file} and {@code lineNumber} only label errors. */
    static Pair parseLine(String line, Path file, long lineNumber) {
        int tab = line.indexOf('\t');
        if (tab < 0) {
            throw error(file, lineNumber, "expected source<TAB>target, found no tab", line);
        }
        if (line.indexOf('\t', tab + 1) >= 0) {
            long tabs = line.chars().filter(c -> c == '\t').count();
            throw error(file, lineNumber, "expected source<TAB>target, found " + tabs + " tabs", line);
        }
        String source = line.substring(0, tab).strip();
        String target = line.substring(tab + 1).strip();
        if (source.isEmpty()) {
            throw error(file, lineNumber, "empty source field", line);
        }
        if (target.isEmpty()) {
            throw error(file, lineNumber, "empty target field", line);
        }
        return new Pair(source, target);
    }

    private static ShiftformerException error(Path file, long lineNumber, String what, String line) {
        String shown = line.length() > 80 ? line.substring(0, 80) + "..." : line;
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
            file + ":" + lineNumber + ": " + what + ": \"" + shown.replace("\t", "\\t") + "\"");
    }
}
