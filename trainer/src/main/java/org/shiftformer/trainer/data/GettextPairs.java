package org.shiftformer.trainer.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.IllegalCharsetNameException;
import java.nio.charset.StandardCharsets;
import java.nio.charset.UnsupportedCharsetException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.eval.PyText;

/**
 * Reads message pairs (msgid → msgstr: English → the catalog's language) from gettext catalogs: the
 * compiled GNU {@code .mo} files under {@code /usr/share/locale/LANG/LC_MESSAGES}, and {@code .po} source
 * files ({@link PoReader}, which turns a {@code .po} into the entries a {@code .mo} compiled from it would
 * hold, so that everything below applies to both; a file is read as {@code .po} when its name ends in
 * {@code .po}).
 *
 * <p><b>Format</b> (GNU gettext manual, "The Format of GNU MO Files"). Seven 32-bit words: the magic
 * {@code 0x950412de} (its byte order is the file's: little- and big-endian files are both read), the
 * revision (major in the high 16 bits, minor in the low), the number of strings N, the offset of the
 * table of original strings, the offset of the table of translations, and the size and offset of a hash
 * table (not read). Each table holds N (length, offset) pairs; a string is {@code length} bytes at
 * {@code offset} (a NUL follows it in the file, not counted). Major revision 0 is read, with any minor
 * revision: minor 1 adds a table of system-dependent strings ({@code <PRIu64>} and the like), which is
 * not read, so those messages are left out; another major revision is refused, as the manual says.
 *
 * <p><b>Messages.</b> The entry with the empty msgid is the header: its {@code Content-Type} gives the
 * charset all strings are decoded with ({@code charset=UTF-8} when absent). Plural entries (msgid
 * {@code singular\0plural}, msgstr {@code form0\0form1...}) and context entries ({@code context\4msgid})
 * are <b>skipped</b>: a plural's forms need a number to choose from, and a context entry translates the
 * same English differently by situation, so neither is one source with one reference. Both sides have
 * their whitespace collapsed (Python's {@code ' '.join(s.split())}, {@link PyText}); a pair is kept when
 * its translation is not empty and its source has two or more words. Catalogs are read in file name
 * order and a repeated source keeps its first translation, then the optional byte limit drops pairs
 * with a side longer than {@code maxBytes} bytes of UTF-8. This is what {@code scripts/mo2tsv} did before
 * the trainer read catalogs itself: the pairs are the same, in the same order.
 *
 * <p><b>Errors</b> name the file and what is wrong: shorter than the header, a wrong magic, an unsupported
 * major revision, a table or a string that runs past the end of the file, a charset Java does not know,
 * and a message whose bytes are not valid in the catalog's charset (with its index).
 */
public final class GettextPairs {
    /** The magic number as read in the file's own byte order. */
    static final int MAGIC = 0x950412de;
    /** The header's seven words. */
    static final int HEADER_BYTES = 28;
    private static final Pattern CHARSET = Pattern.compile("charset=([-\\w]+)");

    private GettextPairs() {
    }

    /**
     * One catalog entry: the original string and its translation, raw bytes; {@code line} is where a
     * {@code .po} entry starts, 0 for a {@code .mo} entry.
     */
    record Entry(byte[] original, byte[] translation, int line) {
        Entry(byte[] original, byte[] translation) {
            this(original, translation, 0);
        }
    }

    /**
     * The pairs of {@code path}: a {@code .mo} or {@code .po} file, or a directory whose {@code *.mo} and
     * {@code *.po} files (not hidden ones) are read in name order; {@code maxBytes} 0 means no limit (see
     * the class comment).
     */
    public static List<Pair> read(Path path, int maxBytes) {
        checkMaxBytes(maxBytes);
        List<Pair> all = new ArrayList<>();
        for (Path mo : catalogs(path)) {
            all.addAll(pairs(mo, readFile(mo)));
        }
        return firstThenLimit(all, maxBytes);
    }

    /**
     * The pairs of {@code path} ({@link #read}) catalog by catalog, named by file name, in name order: within
     * a catalog a repeated source keeps its first translation, then the byte limit applies; a source may
     * occur in several catalogs (for a split by catalog, {@link Corpus#splitByCatalog}).
     */
    public static List<Catalog> readCatalogs(Path path, int maxBytes) {
        checkMaxBytes(maxBytes);
        List<Catalog> out = new ArrayList<>();
        for (Path mo : catalogs(path)) {
            out.add(new Catalog(mo.getFileName().toString(), firstThenLimit(pairs(mo, readFile(mo)), maxBytes)));
        }
        return out;
    }

    private static void checkMaxBytes(int maxBytes) {
        if (maxBytes < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "gettext: max bytes must be >= 0 (0: no limit), got "
                + maxBytes);
        }
    }

    /** Each source's first translation, then without the pairs that have a side over {@code maxBytes} (0: none). */
    private static List<Pair> firstThenLimit(List<Pair> pairs, int maxBytes) {
        Map<String, String> first = new LinkedHashMap<>();
        for (Pair p : pairs) {
            first.putIfAbsent(p.source(), p.target());
        }
        List<Pair> out = new ArrayList<>(first.size());
        for (Map.Entry<String, String> e : first.entrySet()) {
            if (maxBytes == 0 || Math.max(utf8Length(e.getKey()), utf8Length(e.getValue())) <= maxBytes) {
                out.add(new Pair(e.getKey(), e.getValue()));
            }
        }
        return out;
    }

    /** The catalogs {@code path} names: itself, or a directory's {@code .mo} and {@code .po} files in name order. */
    static List<Path> catalogs(Path path) {
        if (Files.isRegularFile(path)) {
            return List.of(path);
        }
        if (!Files.isDirectory(path)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "gettext: " + path + ": no such file or directory");
        }
        List<Path> found;
        try (Stream<Path> files = Files.list(path)) {
            found = files.filter(p -> {
                String name = p.getFileName().toString();
                return (name.endsWith(".mo") || name.endsWith(".po")) && !name.startsWith(".") && Files.isRegularFile(p);
            }).sorted((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString())).toList();
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "gettext: cannot list " + path + ": " + e.getMessage(), e);
        }
        if (found.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "gettext: no .mo or .po files in " + path);
        }
        return found;
    }

    private static byte[] readFile(Path mo) {
        try {
            return Files.readAllBytes(mo);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, mo + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The kept pairs of one catalog, in catalog order, before deduplication and the byte limit. */
    static List<Pair> pairs(Path file, byte[] bytes) {
        List<Entry> entries = isPo(file) ? PoReader.entries(file, bytes) : entries(file, bytes);
        Charset charset = StandardCharsets.UTF_8;
        for (Entry e : entries) {
            if (e.original().length == 0) {
                charset = charset(file, e.translation());
            }
        }
        CharsetDecoder decoder = charset.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
        List<Pair> pairs = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            if (e.original().length == 0 || contains(e.original(), (byte) 0) || contains(e.original(), (byte) 4)) {
                continue; // the header; plural (msgid\0msgid_plural); context (msgctxt\4msgid)
            }
            String where = e.line() > 0 ? "at line " + e.line() : String.valueOf(i);
            String source = collapse(decode(file, decoder, charset, where, "msgid", e.original()));
            String target = collapse(decode(file, decoder, charset, where, "msgstr", e.translation()));
            if (!target.isEmpty() && source.indexOf(' ') > 0) {
                pairs.add(new Pair(source, target));
            }
        }
        return pairs;
    }

    /** Every (original, translation) entry of a {@code .mo} file's bytes, header and all, in table order. */
    static List<Entry> entries(Path file, byte[] b) {
        if (b.length < HEADER_BYTES) {
            throw bad(file, "truncated: " + b.length + " bytes, shorter than the " + HEADER_BYTES + "-byte .mo header");
        }
        ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (buf.getInt(0) != MAGIC) {
            buf.order(ByteOrder.BIG_ENDIAN);
            if (buf.getInt(0) != MAGIC) {
                throw bad(file, String.format("not a .mo file: it starts with the bytes %02x %02x %02x %02x, not the magic "
                    + "0x950412de in either byte order", b[0], b[1], b[2], b[3]));
            }
        }
        long revision = word(buf, 4);
        if (revision >>> 16 != 0) {
            throw bad(file, "unsupported .mo major revision " + (revision >>> 16) + " (minor " + (revision & 0xffff)
                + "); this reader knows major revision 0");
        }
        long n = word(buf, 8);
        long originals = word(buf, 12);
        long translations = word(buf, 16);
        checkTable(file, b.length, "original strings", originals, n);
        checkTable(file, b.length, "translations", translations, n);
        List<Entry> entries = new ArrayList<>((int) n);
        for (int i = 0; i < n; i++) {
            entries.add(new Entry(string(file, buf, originals, i, "msgid"), string(file, buf, translations, i, "msgstr")));
        }
        return entries;
    }

    private static void checkTable(Path file, int size, String what, long offset, long n) {
        if (offset + 8 * n > size) {
            throw bad(file, "the table of " + what + " (" + n + " entries of 8 bytes at offset " + offset
                + ") runs past the end of the file (" + size + " bytes)");
        }
    }

    private static byte[] string(Path file, ByteBuffer buf, long table, int i, String what) {
        int at = (int) (table + 8L * i);
        long length = word(buf, at);
        long offset = word(buf, at + 4);
        if (offset + length > buf.capacity()) {
            throw bad(file, what + " " + i + " (" + length + " bytes at offset " + offset
                + ") runs past the end of the file (" + buf.capacity() + " bytes)");
        }
        byte[] s = new byte[(int) length];
        buf.get((int) offset, s);
        return s;
    }

    private static long word(ByteBuffer buf, int at) {
        return buf.getInt(at) & 0xffff_ffffL;
    }

    /** The charset a header entry names ({@code Content-Type: text/plain; charset=...}), UTF-8 when none. */
    static Charset charset(Path file, byte[] header) {
        Matcher m = CHARSET.matcher(new String(header, StandardCharsets.ISO_8859_1));
        String name = null;
        while (m.find()) {
            name = m.group(1);
        }
        if (name == null) {
            return StandardCharsets.UTF_8;
        }
        try {
            return Charset.forName(name);
        } catch (IllegalCharsetNameException | UnsupportedCharsetException e) {
            throw bad(file, "the header's charset \"" + name + "\" is not one Java can decode");
        }
    }

    private static String decode(Path file, CharsetDecoder decoder, Charset charset, String i, String what, byte[] bytes) {
        try {
            return decoder.decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw bad(file, what + " " + i + " is not valid " + charset.name());
        }
    }

    private static boolean contains(byte[] b, byte v) {
        for (byte x : b) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    private static String collapse(String s) {
        return String.join(" ", PyText.split(s));
    }

    /** Whether {@code file} is read as {@code .po} text (its name ends in {@code .po}) rather than a {@code .mo}. */
    static boolean isPo(Path file) {
        return file.getFileName().toString().endsWith(".po");
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    private static ShiftformerException bad(Path file, String what) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ": " + what);
    }
}
