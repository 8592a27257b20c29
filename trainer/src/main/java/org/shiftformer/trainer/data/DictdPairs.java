package org.shiftformer.trainer.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Reads a dictionary in dictd format, such as Debian's {@code dict-freedict-deu-eng} (the Ding
 * German-English dictionary: {@code /usr/share/dictd/freedict-deu-eng.index} and {@code .dict.dz}),
 * into (headword, translation) pairs.
 *
 * <p><b>Files.</b> The index has one entry per line: {@code headword<TAB>offset<TAB>length}, where offset
 * and length locate the entry's UTF-8 text in the data file and are written in dictd's base64: big-endian
 * digits over {@code A-Z a-z 0-9 + /}, no padding. The data file is {@code .dict.dz} (dictzip, which is
 * gzip with a random-access table in an extra field, so {@link GZIPInputStream} reads it) or a plain
 * {@code .dict}. Entries whose headword starts with {@code 00database}/{@code 00-database} are dictd
 * metadata and are skipped; several index lines may point to one entry, which is read once.
 *
 * <p><b>Entry to pair</b> (FreeDict's dictfmt layout: line 1 is
 * {@code Headword /IPA/ (variants) <grammar>}, line 2 the translations, then {@code Note:},
 * example, {@code Synonym:} and {@code see:} lines, which are ignored):
 * <ol>
 * <li>source: line 1 up to the pronunciation ({@code " /"}), or else up to the first {@code " <"} or
 *     {@code " ("}, trimmed, original case kept ({@code "Bank /bˈaŋk/ <fem, n, sg>" -> "Bank"});</li>
 * <li>target: line 2 without leading domain labels ({@code "[fin.] "}); its first alternative, where
 *     alternatives are separated by {@code ", "} outside brackets, or for a sentence headword (ending
 *     in {@code . ! ?}) only by {@code ", "} right after {@code . ! ?}, so commas inside a translated
 *     sentence stay; the alternative is cut at its first grammar tag {@code <...>} (which also drops an
 *     abbreviation glued after it, {@code "chairman <n>chm."}), {@code [...]} usage labels are removed
 *     ({@code "dotty <adj> [Br.]" -> "dotty"}), whitespace is collapsed;</li>
 * <li>the entry is dropped when either side is empty or contains {@code …} (affix and template entries
 *     such as {@code "Haus…"} or {@code "… ab"}).</li>
 * </ol>
 * Pairs come in index order, so for a headword with several senses the first sense listed comes first
 * (and {@link Corpus} keeps the first pair of each source).
 */
public final class DictdPairs {
    private static final Pattern LABEL = Pattern.compile("\\[[^\\]]*\\]");
    private static final Pattern SPACES = Pattern.compile("\\s+");
    private static final String B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    private DictdPairs() {
    }

    /** The index and data files of a dictionary. */
    public record Location(Path index, Path data) {
    }

    /**
     * Resolves {@code path}: either the base name without extension ({@code /usr/share/dictd/freedict-deu-eng})
     * or the index file itself ({@code ....index}); the data file is {@code base.dict.dz} or else
     * {@code base.dict}. Missing files are an error naming the paths tried.
     */
    public static Location resolve(Path path) {
        String name = path.toString();
        String base = name.endsWith(".index") ? name.substring(0, name.length() - ".index".length()) : name;
        Path index = Path.of(base + ".index");
        if (!Files.isRegularFile(index)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "dictd: index file " + index + " not found");
        }
        Path dz = Path.of(base + ".dict.dz");
        Path plain = Path.of(base + ".dict");
        if (Files.isRegularFile(dz)) {
            return new Location(index, dz);
        }
        if (Files.isRegularFile(plain)) {
            return new Location(index, plain);
        }
        throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "dictd: data file " + dz + " (or " + plain + ") not found");
    }

    /** All pairs of the dictionary at {@code path} (see {@link #resolve(Path)} and the class comment). */
    public static List<Pair> read(Path path) {
        Location files = resolve(path);
        byte[] data = readData(files.data());
        List<Pair> pairs = new ArrayList<>();
        Set<Long> seen = new HashSet<>();
        try (TextFiles reader = TextFiles.open(files.index())) {
            String line;
            while ((line = reader.readLine()) != null) {
                long lineNumber = reader.lineNumber();
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                if (f.length != 3) {
                    throw indexError(files.index(), lineNumber, "expected headword<TAB>offset<TAB>length, found "
                        + f.length + " fields");
                }
                if (f[0].startsWith("00database") || f[0].startsWith("00-database")) {
                    continue;
                }
                long offset = decodeBase64(f[1], files.index(), lineNumber);
                long length = decodeBase64(f[2], files.index(), lineNumber);
                if (offset + length > data.length) {
                    throw indexError(files.index(), lineNumber, "entry at offset " + offset + " length " + length
                        + " ends beyond the " + data.length + " bytes of " + files.data());
                }
                if (!seen.add(offset << 32 | length)) { // both < 2^31: the data is one array
                    continue;
                }
                entryToPair(firstLines(data, (int) offset, (int) length)).ifPresent(pairs::add);
            }
        }
        return pairs;
    }

    /** Decodes one dictd base64 number ({@code "B0" = 1·64 + 52}); a bad digit names file and line. */
    static long decodeBase64(String digits, Path file, long lineNumber) {
        if (digits.isEmpty() || digits.length() > 10) {
            throw indexError(file, lineNumber, "bad base64 number \"" + digits + "\"");
        }
        long v = 0;
        for (int i = 0; i < digits.length(); i++) {
            int d = B64.indexOf(digits.charAt(i));
            if (d < 0) {
                throw indexError(file, lineNumber, "bad base64 digit '" + digits.charAt(i) + "' in \"" + digits + "\"");
            }
            v = v * 64 + d;
        }
        return v;
    }

    /** Encodes {@code v >= 0} in dictd base64 (used by tests and tools that write dictd files). */
    public static String encodeBase64(long v) {
        if (v < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "dictd base64: negative " + v);
        }
        StringBuilder sb = new StringBuilder();
        do {
            sb.append(B64.charAt((int) (v & 63)));
            v >>>= 6;
        } while (v > 0);
        return sb.reverse().toString();
    }

    private static byte[] readData(Path data) {
        try (InputStream in = Files.newInputStream(data)) {
            if (data.getFileName().toString().endsWith(".dz")) {
                try (InputStream gz = new GZIPInputStream(in, 1 << 16)) {
                    return gz.readAllBytes();
                }
            }
            return in.readAllBytes();
        } catch (ZipException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "dictd: " + data + " is not dictzip/gzip data: "
                + e.getMessage(), e);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "dictd: cannot read " + data + ": " + e.getMessage(), e);
        }
    }

    /** The first two lines of an entry: all the pair rule reads (entries can be kilobytes of examples). */
    private static String firstLines(byte[] data, int offset, int length) {
        int end = offset + length;
        int newlines = 0;
        for (int i = offset; i < end; i++) {
            if (data[i] == '\n' && ++newlines == 2) {
                end = i;
                break;
            }
        }
        return new String(data, offset, end - offset, StandardCharsets.UTF_8);
    }

    private static ShiftformerException indexError(Path file, long lineNumber, String what) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":" + lineNumber + ": " + what);
    }

    /** Applies the entry-to-pair rule of the class comment; empty when the entry is dropped. */
    public static Optional<Pair> entryToPair(String entry) {
        String[] lines = entry.split("\n", -1);
        if (lines.length < 2) {
            return Optional.empty();
        }
        String source = headword(lines[0]);
        String target = translation(lines[1], isSentence(source));
        if (source.isEmpty() || target.isEmpty() || source.contains("…") || target.contains("…")) {
            return Optional.empty();
        }
        return Optional.of(new Pair(source, target));
    }

    static String headword(String line) {
        int cut = line.indexOf(" /");
        if (cut < 0) {
            cut = firstOf(line, " <", " (");
        }
        return collapse(cut < 0 ? line : line.substring(0, cut));
    }

    private static boolean isSentence(String headword) {
        return headword.indexOf(' ') > 0 && !headword.isEmpty() && ".!?".indexOf(headword.charAt(headword.length() - 1)) >= 0;
    }

    static String translation(String line, boolean sentence) {
        String s = line.strip();
        while (s.startsWith("[")) { // leading domain labels: "[fin.] bank <n>"
            int close = s.indexOf(']');
            if (close < 0) {
                break;
            }
            s = s.substring(close + 1).strip();
        }
        String first = firstAlternative(s, sentence);
        int tag = first.indexOf('<');
        if (tag >= 0) {
            first = first.substring(0, tag);
        }
        return collapse(LABEL.matcher(first).replaceAll(" "));
    }

    private static String firstAlternative(String s, boolean sentence) {
        int depth = 0;
        for (int i = 0; i + 1 < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '(' || c == '[' || c == '<' || c == '{') {
                depth++;
            } else if ((c == ')' || c == ']' || c == '>' || c == '}') && depth > 0) {
                depth--;
            } else if (c == ',' && s.charAt(i + 1) == ' ' && depth == 0
                && (!sentence || (i > 0 && ".!?".indexOf(s.charAt(i - 1)) >= 0))) {
                return s.substring(0, i);
            }
        }
        return s;
    }

    private static int firstOf(String s, String a, String b) {
        int i = s.indexOf(a);
        int j = s.indexOf(b);
        return i < 0 ? j : j < 0 ? i : Math.min(i, j);
    }

    private static String collapse(String s) {
        return SPACES.matcher(s.strip()).replaceAll(" ");
    }
}
