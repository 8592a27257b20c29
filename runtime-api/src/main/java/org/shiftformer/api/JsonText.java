package org.shiftformer.api;

/**
 * JSON string literals for the machine-readable reports the tools print (the logits trace, the
 * conformance report): the project writes a few flat objects and needs no JSON library for that.
 */
public final class JsonText {
    private JsonText() {
    }

    /** A JSON string literal (RFC 8259): quotes, backslash and control characters escaped (U+2028/9 too). */
    public static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
