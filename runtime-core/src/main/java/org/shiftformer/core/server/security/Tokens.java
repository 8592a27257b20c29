package org.shiftformer.core.server.security;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A parsed tokens file (SECURITY.md, "Tokens file"): who may use the server, each with a name for logs
 * and metrics, an optional limit on requests in flight over all of its connections, and an optional
 * admin role. One client per line, fields separated by blanks, {@code #} starts a comment:
 *
 * <pre>
 * # name   token (or sha256:HEX of it)                                            options
 * alice    9c1e2b47d0a8f5e36b21c4d7e8f90a1b                                        max_in_flight=64
 * ops      sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8  role=admin
 * </pre>
 *
 * A token is 16 to 1024 printable ASCII characters without blanks; a file may hold only its SHA-256
 * ({@code sha256:} and 64 hex digits) so that the file itself holds no secret. Names are 1 to 64 of
 * {@code [A-Za-z0-9._-]} (they become metric label values) and unique; tokens are unique. Any mistake
 * fails the whole file with {@link ErrorCode#INVALID_ARGUMENT} naming the file, the line and what is
 * wrong, and never quotes a token.
 *
 * <p>A presented token is looked up by its SHA-256, so the time a lookup takes tells nothing about how
 * much of a token matched.
 */
public final class Tokens {
    /** Shortest token accepted in a file: 16 characters (e.g. 16 hex digits are 64 bits). */
    public static final int MIN_TOKEN_CHARS = 16;
    /** Longest token (and the longest {@code Hello.token} the protocol carries). */
    public static final int MAX_TOKEN_CHARS = 1024;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    private static final Pattern HASH = Pattern.compile("sha256:[0-9a-fA-F]{64}");
    private static final String ADMIN = "admin";

    /**
     * One client of the tokens file.
     *
     * @param name        for logs and metrics (the {@code client} tag)
     * @param maxInFlight translate requests it may have in flight over all its connections; 0 for no limit
     *                    beyond the server's per-connection one
     * @param admin       may use the admin port's {@code POST /admin/reload}
     * @param hash        SHA-256 of its token, lowercase hex (identifies the entry across reloads)
     */
    public record Client(String name, int maxInFlight, boolean admin, String hash) {
        @Override
        public String toString() {
            return "Client[" + name + (maxInFlight > 0 ? ", max_in_flight=" + maxInFlight : "") + (admin ? ", admin" : "")
                    + "]";
        }
    }

    private final Path file;
    private final Map<String, Client> byHash;

    private Tokens(Path file, Map<String, Client> byHash) {
        this.file = file;
        this.byHash = Map.copyOf(byHash);
    }

    /** The client whose token this is, or null. */
    public Client lookup(String token) {
        if (token == null || token.isEmpty() || token.length() > MAX_TOKEN_CHARS) {
            return null;
        }
        return byHash.get(sha256(token));
    }

    /** True while {@code client}'s entry (same token, same name) is in the file. */
    public boolean contains(Client client) {
        Client now = byHash.get(client.hash());
        return now != null && now.name().equals(client.name());
    }

    /** Whether any client has the admin role. */
    public boolean hasAdmin() {
        return byHash.values().stream().anyMatch(Client::admin);
    }

    /** Clients in the file. */
    public int size() {
        return byHash.size();
    }

    /** The file these came from. */
    public Path file() {
        return file;
    }

    /** Reads the first of {@code files} (the {@link WatchedFile} reader). */
    static Tokens read(List<Path> files) {
        return read(files.get(0));
    }

    /**
     * Reads and checks a tokens file.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the line and the mistake,
     *         {@link ErrorCode#IO_ERROR} if it cannot be read
     */
    public static Tokens read(Path file) {
        String text;
        try {
            if (!Files.isRegularFile(file)) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "tokens file " + file
                        + " is not a regular file");
            }
            text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(Files.readAllBytes(file)))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "tokens file " + file + " is not UTF-8 text", e);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read tokens file " + file + ": " + e, e);
        }
        return parse(file, text);
    }

    static Tokens parse(Path file, String text) {
        Map<String, Client> byHash = new HashMap<>();
        Set<String> names = new HashSet<>();
        String[] lines = text.split("\r?\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash);
            }
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = "tokens file " + file + " line " + (i + 1) + ": ";
            String[] f = line.split("[ \t]+");
            if (f.length < 2) {
                throw invalid(where + "expected '<name> <token> [max_in_flight=N] [role=admin]'");
            }
            String name = f[0];
            if (!NAME.matcher(name).matches()) {
                throw invalid(where + "client name must be 1 to 64 of A-Z a-z 0-9 . _ -");
            }
            if (!names.add(name)) {
                throw invalid(where + "client name '" + name + "' appears twice");
            }
            String digest = digestOf(f[1], where);
            int maxInFlight = 0;
            boolean admin = false;
            for (int k = 2; k < f.length; k++) {
                String opt = f[k];
                if (opt.startsWith("max_in_flight=")) {
                    String v = opt.substring("max_in_flight=".length());
                    try {
                        maxInFlight = Integer.parseInt(v);
                    } catch (NumberFormatException e) {
                        maxInFlight = -1;
                    }
                    if (maxInFlight < 1 || maxInFlight > (1 << 20)) {
                        throw invalid(where + "max_in_flight '" + v + "' must be an integer in [1, 1048576]");
                    }
                } else if (opt.equals("role=" + ADMIN)) {
                    admin = true;
                } else {
                    throw invalid(where + "unknown option '" + opt + "' (known: max_in_flight=N, role=admin)");
                }
            }
            if (byHash.putIfAbsent(digest, new Client(name, maxInFlight, admin, digest)) != null) {
                throw invalid(where + "client '" + name + "' has the same token as client '" + byHash.get(digest).name()
                        + "'");
            }
        }
        return new Tokens(file, byHash);
    }

    private static String digestOf(String token, String where) {
        if (HASH.matcher(token).matches()) {
            return token.substring("sha256:".length()).toLowerCase(java.util.Locale.ROOT);
        }
        if (token.startsWith("sha256:")) {
            throw invalid(where + "a hashed token is 'sha256:' and 64 hex digits");
        }
        if (token.length() < MIN_TOKEN_CHARS || token.length() > MAX_TOKEN_CHARS) {
            throw invalid(where + "the token has " + token.length() + " characters; a token has " + MIN_TOKEN_CHARS
                    + " to " + MAX_TOKEN_CHARS + " (generate one with: openssl rand -hex 32)");
        }
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c < 0x21 || c > 0x7e) {
                throw invalid(where + "the token has a character outside printable ASCII at position " + i);
            }
        }
        return sha256(token);
    }

    /** SHA-256 of the token's UTF-8 bytes, lowercase hex. */
    public static String sha256(String token) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every JDK", e);
        }
    }

    private static ShiftformerException invalid(String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, message);
    }
}
