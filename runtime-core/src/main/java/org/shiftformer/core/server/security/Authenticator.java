package org.shiftformer.core.server.security;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.server.metrics.ServerMeters;

/**
 * Who a connection is (SECURITY.md): the client of the bearer token in its {@code Hello} when the server
 * has a tokens file, else the subject CN of its TLS client certificate when the server requires one,
 * else nobody in particular. Keeps, per client name, the requests in flight over all of its connections
 * (for {@code max_in_flight} of the tokens file) and the meters labelled by it; tokens themselves never
 * reach a log, a metric or an error message.
 *
 * <p>Meters ({@link ServerMeters}): {@code AUTH_FAILURES}, {@code CLIENT_REQUESTS}, {@code CLIENT_IN_FLIGHT},
 * {@code TOKENS_RELOADS}.
 */
public final class Authenticator {
    /** How often a changed tokens file is noticed, at most. */
    public static final long TOKENS_CHECK_INTERVAL_MS = 1000;

    /**
     * One authenticated connection's client.
     *
     * @param name        the {@code client} tag value
     * @param maxInFlight requests in flight over all its connections; 0 for no per-client limit
     * @param token       its tokens-file entry, or null when it was identified by a certificate
     * @param load        shared by every connection of this name
     */
    public record Identity(String name, int maxInFlight, Tokens.Client token, ClientLoad load) {
    }

    /** Requests in flight of one client name, over all its connections, and its request counter. */
    public static final class ClientLoad {
        private final AtomicInteger inFlight = new AtomicInteger();
        private final Counter requests;

        private ClientLoad(String name, MeterRegistry registry) {
            this.requests = Counter.builder(ServerMeters.CLIENT_REQUESTS).tag(ServerMeters.CLIENT, name)
                    .description("translate requests accepted, by authenticated client").register(registry);
            Gauge.builder(ServerMeters.CLIENT_IN_FLIGHT, inFlight, AtomicInteger::get).tag(ServerMeters.CLIENT, name)
                    .description("translate requests in flight, by authenticated client").register(registry);
        }

        /** Takes a slot if fewer than {@code max} are in flight (no limit when {@code max} is 0). */
        public boolean tryAcquire(int max) {
            while (true) {
                int n = inFlight.get();
                if (max > 0 && n >= max) {
                    return false;
                }
                if (inFlight.compareAndSet(n, n + 1)) {
                    requests.increment();
                    return true;
                }
            }
        }

        public void release(int n) {
            inFlight.addAndGet(-n);
        }

        public int inFlight() {
            return inFlight.get();
        }
    }

    /** Why an admin request is refused: HTTP 401 (no or unknown token) or 403 (a token without the role). */
    public record AdminDenied(int status, String message) {
    }

    private final WatchedFile<Tokens> tokens;
    private final boolean certificates;
    private final MeterRegistry registry;
    private final ConcurrentHashMap<String, ClientLoad> loads = new ConcurrentHashMap<>();
    private final Counter missing;
    private final Counter unknown;
    private final Counter revoked;

    /**
     * @param tokensFile   the tokens file, or null for none
     * @param certificates the server requires TLS client certificates (their CN names clients without tokens)
     * @throws ShiftformerException what is wrong with the tokens file
     */
    public Authenticator(Path tokensFile, boolean certificates, MeterRegistry registry) {
        this.tokens = tokensFile == null ? null
                : new WatchedFile<>("tokens file " + tokensFile, List.of(tokensFile), Tokens::read, TOKENS_CHECK_INTERVAL_MS);
        this.certificates = certificates;
        this.registry = registry;
        this.missing = failures("missing");
        this.unknown = failures("unknown");
        this.revoked = failures("revoked");
        if (tokens != null) {
            FunctionCounter.builder(ServerMeters.TOKENS_RELOADS, tokens, WatchedFile::reloads).tag(ServerMeters.STATUS, "done")
                    .description("re-reads of a changed tokens file").register(registry);
            FunctionCounter.builder(ServerMeters.TOKENS_RELOADS, tokens, WatchedFile::failedReloads).tag(ServerMeters.STATUS, "error")
                    .description("re-reads of a changed tokens file").register(registry);
        }
    }

    private Counter failures(String reason) {
        return Counter.builder(ServerMeters.AUTH_FAILURES).tag(ServerMeters.REASON, reason)
                .description("connections refused at Hello, or closed, for want of a valid token").register(registry);
    }

    /** Whether a Hello must carry a token. */
    public boolean tokensRequired() {
        return tokens != null;
    }

    /**
     * The identity of a connection that sent {@code token} in its Hello over {@code tls} (null: plaintext).
     *
     * @return null when the server identifies nobody (no tokens file, no client certificates)
     * @throws ShiftformerException {@link ErrorCode#UNAUTHENTICATED} for a missing or unknown token
     */
    public Identity identify(String token, SSLSession tls) {
        if (tokens != null) {
            if (token == null || token.isEmpty()) {
                missing.increment();
                throw new ShiftformerException(ErrorCode.UNAUTHENTICATED,
                        "this server requires a bearer token in Hello.token (PROTOCOL.md section 3); none was sent");
            }
            Tokens.Client c = tokens.get().lookup(token);
            if (c == null) {
                unknown.increment();
                throw new ShiftformerException(ErrorCode.UNAUTHENTICATED,
                        "the token in Hello.token is not one this server accepts");
            }
            return new Identity(c.name(), c.maxInFlight(), c, load(c.name()));
        }
        if (certificates && tls != null) {
            String cn = commonName(tls);
            return new Identity(cn, 0, null, load(cn));
        }
        return null;
    }

    /**
     * Null while {@code id} may go on; otherwise why not: its token was removed from (or changed in) the
     * tokens file since it connected.
     */
    public ShiftformerException revoked(Identity id) {
        if (id == null || id.token() == null || tokens.get().contains(id.token())) {
            return null;
        }
        revoked.increment();
        return new ShiftformerException(ErrorCode.UNAUTHENTICATED, "the token of client '" + id.name()
                + "' was revoked (it is no longer in the server's tokens file)");
    }

    /**
     * Null when an admin request with this {@code Authorization} header value may reload; otherwise the
     * refusal. Without a tokens file every request may (the admin port is then as open as its address).
     */
    public AdminDenied admin(String authorization) {
        if (tokens == null) {
            return null;
        }
        Tokens t = tokens.get();
        if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            missing.increment();
            return new AdminDenied(401, "this server requires 'Authorization: Bearer <token>' of a client with "
                    + "role=admin in its tokens file");
        }
        Tokens.Client c = t.lookup(authorization.substring(7).strip());
        if (c == null) {
            unknown.increment();
            return new AdminDenied(401, "the bearer token is not one this server accepts");
        }
        if (!c.admin()) {
            return new AdminDenied(403, "client '" + c.name() + "' may not reload: it has no role=admin in the tokens "
                    + "file" + (t.hasAdmin() ? "" : " (no client has)"));
        }
        return null;
    }

    private ClientLoad load(String name) {
        return loads.computeIfAbsent(name, n -> new ClientLoad(n, registry));
    }

    /** The subject CN of the peer's certificate (the whole subject when it has no CN), as a metric label. */
    static String commonName(SSLSession tls) {
        try {
            Certificate[] chain = tls.getPeerCertificates();
            if (chain.length > 0 && chain[0] instanceof X509Certificate x) {
                String subject = x.getSubjectX500Principal().getName();
                try {
                    for (Rdn rdn : new LdapName(subject).getRdns()) {
                        if (rdn.getType().equalsIgnoreCase("CN")) {
                            return label(String.valueOf(rdn.getValue()));
                        }
                    }
                } catch (InvalidNameException e) {
                    // fall through to the whole subject
                }
                return label(subject);
            }
        } catch (SSLPeerUnverifiedException e) {
            // no certificate: not reached when the server requires one
        }
        return "anonymous";
    }

    private static String label(String s) {
        String clean = s.replaceAll("[^A-Za-z0-9._@-]", "_");
        return clean.length() > 64 ? clean.substring(0, 64) : clean;
    }
}
