package org.shiftformer.trainer.data;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small {@code .po} to {@code .mo} compiler for tests, so that {@link GettextPairs} is tested on catalogs
 * written here, not only on the system's, and without GNU {@code msgfmt}.
 *
 * <p>The {@code .po} subset: {@code #} comments, {@code msgctxt}, {@code msgid}, {@code msgid_plural},
 * {@code msgstr} and {@code msgstr[N]}, each with one or more quoted strings (continuation lines),
 * escapes {@code \n \t \" \\}; entries separated by blank lines. Entries flagged {@code #, fuzzy} are
 * left out except the header, as msgfmt does. An entry with a context is stored as
 * {@code context\4msgid}, a plural one as {@code msgid\0msgid_plural} with its forms joined by NUL, as
 * msgfmt does. The strings are encoded with the given charset and sorted by their bytes (msgfmt sorts
 * them for its binary search); the file has the seven-word header (no hash table), the two tables, then
 * the strings, each followed by a NUL.
 */
final class PoCompiler {
    private PoCompiler() {
    }

    /** One stored entry: the msgid with context or plural joined in, and the msgstr (forms joined). */
    record Message(String id, String str) {
    }

    /** Compiles {@code po} into {@code .mo} bytes of major revision 0, minor {@code minor}. */
    static byte[] compile(String po, Charset charset, ByteOrder order, int minor) {
        List<byte[][]> entries = new ArrayList<>();
        for (Message m : parse(po)) {
            entries.add(new byte[][] {m.id().getBytes(charset), m.str().getBytes(charset)});
        }
        entries.sort((a, b) -> Arrays.compareUnsigned(a[0], b[0]));
        int n = entries.size();
        int originals = GettextPairs.HEADER_BYTES;
        int translations = originals + 8 * n;
        int strings = translations + 8 * n;
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        ByteBuffer head = ByteBuffer.allocate(strings).order(order);
        head.putInt(GettextPairs.MAGIC).putInt(minor).putInt(n).putInt(originals).putInt(translations).putInt(0)
            .putInt(strings);
        for (int side = 0; side < 2; side++) {
            for (byte[][] e : entries) {
                head.putInt(e[side].length).putInt(strings + data.size());
                data.writeBytes(e[side]);
                data.write(0);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(head.array());
        out.writeBytes(data.toByteArray());
        return out.toByteArray();
    }

    /** The stored messages of {@code po}, in file order (the header too, as msgid ""). */
    static List<Message> parse(String po) {
        List<Message> out = new ArrayList<>();
        Map<String, StringBuilder> entry = new LinkedHashMap<>();
        StringBuilder last = null;
        boolean fuzzy = false;
        for (String raw : (po + "\n").split("\n", -1)) {
            String line = raw.strip();
            if (line.startsWith("#")) {
                fuzzy |= line.startsWith("#,") && line.contains("fuzzy");
                continue;
            }
            if (line.startsWith("\"")) {
                last.append(unquote(line));
                continue;
            }
            if (line.isEmpty()) {
                if (!entry.isEmpty()) {
                    Message m = message(entry);
                    if (!fuzzy || m.id().isEmpty()) {
                        out.add(m);
                    }
                    entry.clear();
                }
                fuzzy = false;
                continue;
            }
            int space = line.indexOf(' ');
            last = new StringBuilder(unquote(line.substring(space + 1).strip()));
            entry.put(line.substring(0, space), last);
        }
        return out;
    }

    private static Message message(Map<String, StringBuilder> e) {
        String id = e.get("msgid").toString();
        if (e.containsKey("msgid_plural")) {
            id += "\0" + e.get("msgid_plural");
        }
        if (e.containsKey("msgctxt")) {
            id = e.get("msgctxt") + "\u0004" + id;
        }
        StringBuilder str = new StringBuilder();
        if (e.containsKey("msgstr")) {
            str.append(e.get("msgstr"));
        }
        for (int i = 0; e.containsKey("msgstr[" + i + "]"); i++) {
            str.append(i > 0 ? "\0" : "").append(e.get("msgstr[" + i + "]"));
        }
        return new Message(id, str.toString());
    }

    private static String unquote(String q) {
        if (q.length() < 2 || !q.startsWith("\"") || !q.endsWith("\"")) {
            throw new IllegalArgumentException("not a quoted .po string: " + q);
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < q.length() - 1; i++) {
            char c = q.charAt(i);
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            char esc = q.charAt(++i);
            sb.append(switch (esc) {
                case 'n' -> '\n';
                case 't' -> '\t';
                case '"' -> '"';
                case '\\' -> '\\';
                default -> throw new IllegalArgumentException("unsupported .po escape \\" + esc);
            });
        }
        return sb.toString();
    }
}
