package org.shiftformer.core.server.admin;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The web console's files (README "Console"): classpath resources under
 * {@code org/shiftformer/core/server/admin/console/}, served by {@link AdminHandler} at {@code /console}
 * (the page) and {@code /console/NAME}. Nothing else is reachable: a name is letters, digits, {@code . _ -}
 * and {@code /} between segments that do not start with a dot, with a known extension. Each file that exists
 * is read once and kept with its ETag (the SHA-256 of its bytes), so a browser revalidates and gets 304.
 */
final class ConsoleAssets {
    /** Where the page is; {@code /console/} serves it too. */
    static final String PAGE = "/console";
    private static final String ROOT = "org/shiftformer/core/server/admin/console/";
    private static final Pattern NAME = Pattern.compile("(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*");
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "png", "image/png",
            "txt", "text/plain; charset=utf-8");

    /** One file: its bytes, content type and strong ETag. */
    record Asset(byte[] bytes, String contentType, String etag) {
    }

    private final Map<String, Asset> cache = new ConcurrentHashMap<>();

    /** The file a request path under {@code /console} names, if there is one. */
    Optional<Asset> find(String path) {
        String name = path.equals(PAGE) || path.equals(PAGE + "/") ? "index.html"
                : path.startsWith(PAGE + "/") ? path.substring(PAGE.length() + 1) : null;
        if (name == null || !NAME.matcher(name).matches()) {
            return Optional.empty();
        }
        String type = TYPES.get(name.substring(name.lastIndexOf('.') + 1));
        if (type == null) {
            return Optional.empty();
        }
        Asset cached = cache.get(name);
        if (cached != null) {
            return Optional.of(cached);
        }
        // only files that exist are kept: requests for made-up names cannot grow the map
        Optional<Asset> loaded = load(name, type);
        loaded.ifPresent(a -> cache.putIfAbsent(name, a));
        return loaded;
    }

    private static Optional<Asset> load(String name, String type) {
        try (InputStream in = ConsoleAssets.class.getClassLoader().getResourceAsStream(ROOT + name)) {
            if (in == null) {
                return Optional.empty();
            }
            byte[] bytes = in.readAllBytes();
            return Optional.of(new Asset(bytes, type,
                    '"' + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)) + '"'));
        } catch (IOException e) {
            throw new UncheckedIOException("reading the console file " + name, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
