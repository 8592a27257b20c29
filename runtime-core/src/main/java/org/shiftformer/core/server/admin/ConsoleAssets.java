package org.shiftformer.core.server.admin;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The web console's files (README "Console"): classpath resources under
 * {@code org/shiftformer/core/server/admin/console/}, served by {@link AdminHandler} at {@code /console}
 * (the page) and {@code /console/NAME}. Nothing else is reachable: a name is letters, digits, {@code . _ -}
 * and {@code /} between segments that do not start with a dot, with a known extension. Each file that exists
 * is read once and kept with its ETag (the SHA-256 of its bytes), so a browser revalidates and gets 304.
 *
 * <p>Every file goes out with a {@link #contentSecurityPolicy Content-Security-Policy} that lets the page
 * load and connect to this port only, run no inline code, and be framed by no one.
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

    /**
     * The page's one inline element: its import map, which maps the bare name {@code flatbuffers} (what the JS
     * client's modules import) to the runtime served here. An import map cannot be a file of its own, so the
     * policy allows exactly this one by its hash; anything else inline is refused by the browser.
     */
    private static final Pattern IMPORT_MAP = Pattern.compile("<script type=\"importmap\">(.*?)</script>", Pattern.DOTALL);
    /** A Host header this port's page may have been loaded by: a name or address, maybe a port. */
    private static final Pattern HOST = Pattern.compile("(?:[A-Za-z0-9.-]+|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?");

    private final Map<String, Asset> cache = new ConcurrentHashMap<>();
    private volatile String importMapHash;

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

    /**
     * The Content-Security-Policy of the console's files for a page loaded through {@code host} (the request's
     * Host header, or null), over TLS or not: scripts, styles, images and connections from this port only (the
     * page's WebSocket is {@code ws://HOST/ws}, or {@code wss://}; {@code 'self'} covers it in CSP 3 browsers,
     * the origin itself in the others), no inline script but the import map, no inline style, no plugins, no
     * {@code <base>}, no form submissions (the token form is handled by the script), no framing.
     */
    String contentSecurityPolicy(String host, boolean tls) {
        String ws = host != null && HOST.matcher(host).matches() ? " " + (tls ? "wss://" : "ws://") + host : "";
        return "default-src 'self'; script-src 'self'" + importMapSource() + "; style-src 'self'; img-src 'self' data:; "
                + "connect-src 'self'" + ws + "; object-src 'none'; base-uri 'none'; form-action 'none'; "
                + "frame-ancestors 'none'";
    }

    /** {@code 'sha256-...'} of the page's import map, with a leading space; empty if the page has none. */
    private String importMapSource() {
        String hash = importMapHash;
        if (hash == null) {
            Matcher m = IMPORT_MAP.matcher(find(PAGE).map(a -> new String(a.bytes(), StandardCharsets.UTF_8)).orElse(""));
            hash = m.find() ? " 'sha256-" + Base64.getEncoder().encodeToString(sha256(m.group(1).getBytes(StandardCharsets.UTF_8)))
                    + "'" : "";
            importMapHash = hash;
        }
        return hash;
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Optional<Asset> load(String name, String type) {
        try (InputStream in = ConsoleAssets.class.getClassLoader().getResourceAsStream(ROOT + name)) {
            if (in == null) {
                return Optional.empty();
            }
            byte[] bytes = in.readAllBytes();
            return Optional.of(new Asset(bytes, type, '"' + HexFormat.of().formatHex(sha256(bytes)) + '"'));
        } catch (IOException e) {
            throw new UncheckedIOException("reading the console file " + name, e);
        }
    }
}
