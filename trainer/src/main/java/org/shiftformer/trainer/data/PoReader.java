package org.shiftformer.trainer.data;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeMap;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Reads the entries of a gettext {@code .po} file (GNU gettext manual, "The Format of PO Files") into the
 * same form the {@code .mo} reader gives ({@link GettextPairs.Entry}: raw bytes, a context joined to its
 * msgid by EOT, a plural's msgid and msgid_plural and its forms joined by NUL, the header as the empty
 * msgid), so that {@link GettextPairs} applies one rule to both formats.
 *
 * <p>What is read: {@code msgctxt}, {@code msgid}, {@code msgid_plural}, {@code msgstr} and
 * {@code msgstr[N]}, each a quoted string followed by any number of quoted continuation lines, which are
 * concatenated; the C escapes {@code \n \t \r \a \b \f \v \\ \" \' \?}, octal {@code \NNN} (one to three
 * digits) and hex {@code \xHH...}, which give bytes; comments ({@code #...}). An entry starts at its first
 * comment, {@code msgctxt} or {@code msgid} after the previous entry's msgstr; blank lines are not needed.
 * <b>Skipped</b>: entries flagged {@code #, fuzzy} (msgfmt leaves them out of a {@code .mo} too: a fuzzy
 * translation is a guess awaiting review, not a reviewed reference), except the header, whose charset is
 * needed either way; obsolete entries ({@code #~} lines), which are comments. The file is parsed byte by
 * byte (the syntax is ASCII) and the strings stay bytes in the header's charset, decoded later like a
 * {@code .mo}'s; charsets in which a multi-byte character can contain the byte of {@code "} or
 * {@code \} (BIG5, GBK, GB18030, Shift_JIS, JOHAB) are refused rather than misread.
 *
 * <p><b>Errors</b> name the file and line: a string without its closing quote, an unknown or incomplete
 * escape, a msgstr without a msgid (or a msgid without a msgstr), a continuation line with no keyword
 * before it, an unknown keyword, and a keyword repeated within an entry.
 */
final class PoReader {
    private static final Set<String> UNSAFE_CHARSETS = Set.of("BIG5", "BIG5-HKSCS", "GBK", "GB18030", "SHIFT_JIS",
        "SHIFT-JIS", "SJIS", "CP932", "WINDOWS-31J", "JOHAB");

    private PoReader() {
    }

    /** The entries of {@code .po} text {@code b} in file order (the header too, even when fuzzy). */
    static List<GettextPairs.Entry> entries(Path file, byte[] b) {
        String text = new String(b, StandardCharsets.ISO_8859_1); // one char per byte, so bytes survive
        if (text.startsWith("\u00ef\u00bb\u00bf")) {
            text = text.substring(3); // a UTF-8 byte order mark
        }
        Parser p = new Parser(file);
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            p.line(i + 1, lines[i].strip());
        }
        p.finish(lines.length);
        for (GettextPairs.Entry e : p.out) {
            if (e.original().length == 0) {
                checkCharset(file, e);
            }
        }
        return p.out;
    }

    /** Refuses a header charset whose multi-byte characters may hold {@code "} or {@code \} bytes. */
    private static void checkCharset(Path file, GettextPairs.Entry header) {
        String name = GettextPairs.charset(file, header.translation()).name().toUpperCase(Locale.ROOT);
        if (UNSAFE_CHARSETS.contains(name) || name.contains("JIS")) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":" + header.line() + ": the header's charset "
                + name + " can hide quote and backslash bytes inside characters; convert the file to UTF-8 (msgconv)");
        }
    }

    /** The state of one pass over the lines. */
    private static final class Parser {
        final Path file;
        final List<GettextPairs.Entry> out = new ArrayList<>();
        /** The current entry's strings by keyword ({@code msgstr[N]} sorted by N), and the one being continued. */
        TreeMap<String, ByteArrayOutputStream> fields = new TreeMap<>();
        ByteArrayOutputStream last;
        boolean fuzzy;
        int start;

        Parser(Path file) {
            this.file = file;
        }

        void line(int n, String line) {
            if (line.isEmpty()) {
                if (hasMsgstr()) {
                    finish(n); // a blank line ends an entry (it is not needed between entries)
                }
                return;
            }
            if (line.startsWith("#")) {
                if (hasMsgstr()) {
                    finish(n);
                }
                if (start == 0) {
                    start = n;
                }
                if (line.startsWith("#,") && flagged(line.substring(2), "fuzzy")) {
                    fuzzy = true;
                }
                last = null; // a comment ends the string being continued
                return;
            }
            if (line.startsWith("\"")) {
                if (last == null) {
                    throw error(n, "a string continuation line with no msgid, msgstr or msgctxt before it");
                }
                last.writeBytes(unquote(n, line));
                return;
            }
            int space = 0;
            while (space < line.length() && !Character.isWhitespace(line.charAt(space)) && line.charAt(space) != '"') {
                space++;
            }
            String keyword = line.substring(0, space);
            String rest = line.substring(space).strip();
            if (!keyword.matches("msgctxt|msgid|msgid_plural|msgstr|msgstr\\[[0-9]+\\]")) {
                throw error(n, "unknown keyword \"" + keyword + "\" (expected msgctxt, msgid, msgid_plural, msgstr or msgstr[N])");
            }
            if (keyword.equals("msgctxt") || keyword.equals("msgid")) {
                if (hasMsgstr()) {
                    finish(n);
                } else if (fields.containsKey("msgid")) {
                    throw error(start, "msgid without a msgstr (the next entry starts at line " + n + ")");
                }
            }
            if (keyword.startsWith("msgstr") && !fields.containsKey("msgid")) {
                throw error(n, keyword + " without a msgid before it");
            }
            if (keyword.equals("msgid_plural") && !fields.containsKey("msgid")) {
                throw error(n, "msgid_plural without a msgid before it");
            }
            if (fields.containsKey(keyword)) {
                throw error(n, keyword + " twice in one entry");
            }
            if (start == 0) {
                start = n;
            }
            if (rest.isEmpty()) {
                throw error(n, keyword + " without a quoted string");
            }
            last = new ByteArrayOutputStream();
            last.writeBytes(unquote(n, rest));
            fields.put(keyword, last);
        }

        private boolean hasMsgstr() {
            return fields.containsKey("msgstr") || fields.containsKey("msgstr[0]");
        }

        /** Ends the current entry ({@code n}: the line after it), keeping it unless fuzzy (the header is kept). */
        void finish(int n) {
            if (fields.containsKey("msgid") && !hasMsgstr()) {
                throw error(start, "msgid without a msgstr (the entry ends before line " + n + ")");
            }
            if (!fields.isEmpty()) {
                byte[] id = bytes("msgid");
                boolean header = id.length == 0 && !fields.containsKey("msgctxt");
                if (!fuzzy || header) {
                    out.add(entry(id));
                }
            }
            fields = new TreeMap<>();
            last = null;
            fuzzy = false;
            start = 0;
        }

        private GettextPairs.Entry entry(byte[] id) {
            ByteArrayOutputStream original = new ByteArrayOutputStream();
            if (fields.containsKey("msgctxt")) {
                original.writeBytes(bytes("msgctxt"));
                original.write(4);
            }
            original.writeBytes(id);
            ByteArrayOutputStream translation = new ByteArrayOutputStream();
            if (fields.containsKey("msgid_plural")) {
                original.write(0);
                original.writeBytes(bytes("msgid_plural"));
                for (int i = 0; fields.containsKey("msgstr[" + i + "]"); i++) {
                    if (i > 0) {
                        translation.write(0);
                    }
                    translation.writeBytes(bytes("msgstr[" + i + "]"));
                }
            } else {
                translation.writeBytes(bytes("msgstr"));
            }
            return new GettextPairs.Entry(original.toByteArray(), translation.toByteArray(), start);
        }

        private byte[] bytes(String keyword) {
            ByteArrayOutputStream s = fields.get(keyword);
            return s == null ? new byte[0] : s.toByteArray();
        }

        private static boolean flagged(String flags, String flag) {
            for (String f : flags.split(",")) {
                if (f.strip().equals(flag)) {
                    return true;
                }
            }
            return false;
        }

        /** The bytes of a quoted string {@code q} (the whole rest of the line), its escapes resolved. */
        private byte[] unquote(int n, String q) {
            if (!q.startsWith("\"")) {
                throw error(n, "expected a quoted string, got " + q);
            }
            ByteArrayOutputStream s = new ByteArrayOutputStream();
            int i = 1;
            while (true) {
                if (i >= q.length()) {
                    throw error(n, "unterminated string (no closing \")");
                }
                char c = q.charAt(i++);
                if (c == '"') {
                    break;
                }
                if (c != '\\') {
                    s.write(c);
                    continue;
                }
                if (i >= q.length()) {
                    throw error(n, "unterminated string (a backslash at the end of the line)");
                }
                char e = q.charAt(i++);
                switch (e) {
                    case 'n' -> s.write('\n');
                    case 't' -> s.write('\t');
                    case 'r' -> s.write('\r');
                    case 'a' -> s.write(7);
                    case 'b' -> s.write('\b');
                    case 'f' -> s.write('\f');
                    case 'v' -> s.write(11);
                    case '\\', '"', '\'', '?' -> s.write(e);
                    case 'x' -> {
                        int from = i;
                        int v = 0;
                        while (i < q.length() && Character.digit(q.charAt(i), 16) >= 0) {
                            v = v * 16 + Character.digit(q.charAt(i++), 16);
                            if (v > 0xff) {
                                throw error(n, "hex escape \\x" + q.substring(from, i) + " is larger than a byte");
                            }
                        }
                        if (i == from) {
                            throw error(n, "bad escape \\x without hex digits");
                        }
                        s.write(v);
                    }
                    default -> {
                        if (e < '0' || e > '7') {
                            throw error(n, "bad escape \\" + e);
                        }
                        int v = e - '0';
                        for (int k = 0; k < 2 && i < q.length() && q.charAt(i) >= '0' && q.charAt(i) <= '7'; k++) {
                            v = v * 8 + q.charAt(i++) - '0';
                        }
                        if (v > 0xff) {
                            throw error(n, "octal escape larger than a byte");
                        }
                        s.write(v);
                    }
                }
            }
            if (!q.substring(i).isBlank()) {
                throw error(n, "text after the closing quote: " + q.substring(i).strip());
            }
            return s.toByteArray();
        }

        private ShiftformerException error(int n, String what) {
            return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":" + n + ": " + what);
        }
    }
}
