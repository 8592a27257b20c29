package org.shiftformer.core.server.security;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The server side of TLS (SECURITY.md): a PEM certificate chain and a PEM PKCS#8 private key, and
 * optionally a PEM bundle of CA certificates whose client certificates are required. TLS 1.3 and 1.2
 * only, the JDK's provider. The files are watched ({@link WatchedFile}): a rotated certificate is used
 * for new connections within a second, and a broken one never replaces a working one.
 */
public final class ServerTls {
    /** How often the certificate files are looked at, at most. */
    public static final long CHECK_INTERVAL_MS = 1000;
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private final WatchedFile<SslContext> context;
    private final boolean clientCertificates;

    /**
     * @param certFile     PEM certificate chain, the server's first
     * @param keyFile      PEM PKCS#8 private key of the first certificate
     * @param clientCaFile PEM CA certificates that sign accepted client certificates, or null for no client
     *                     certificates
     * @param requireClientCertificates with a CA file: refuse a client without a certificate (false: accept
     *                     one, verified, if sent; the admin port's choice for HTTPS probes)
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the file that cannot be used
     */
    public ServerTls(Path certFile, Path keyFile, Path clientCaFile, boolean requireClientCertificates) {
        List<Path> files = new ArrayList<>(List.of(certFile, keyFile));
        if (clientCaFile != null) {
            files.add(clientCaFile);
        }
        ClientAuth auth = clientCaFile == null ? ClientAuth.NONE
                : requireClientCertificates ? ClientAuth.REQUIRE : ClientAuth.OPTIONAL;
        this.clientCertificates = auth == ClientAuth.REQUIRE;
        this.context = new WatchedFile<>("TLS certificate " + certFile + " and key " + keyFile
                + (clientCaFile != null ? " and client CA " + clientCaFile : ""), files,
                f -> build(certFile, keyFile, clientCaFile, auth), CHECK_INTERVAL_MS);
    }

    private static SslContext build(Path cert, Path key, Path ca, ClientAuth auth) {
        SslContextBuilder b;
        try {
            b = SslContextBuilder.forServer(cert.toFile(), key.toFile());
        } catch (RuntimeException e) {
            throw invalid("cannot use TLS certificate " + cert + " with key " + key + " (a PEM certificate chain and a"
                    + " PEM PKCS#8 private key, 'BEGIN PRIVATE KEY'): " + rootMessage(e), e);
        }
        if (ca != null) {
            try {
                b.trustManager(ca.toFile());
            } catch (RuntimeException e) {
                throw invalid("cannot use TLS client CA file " + ca + " (PEM certificates): " + rootMessage(e), e);
            }
        }
        try {
            return b.sslProvider(SslProvider.JDK).protocols(PROTOCOLS).clientAuth(auth).build();
        } catch (Exception e) {
            throw invalid("cannot use TLS certificate " + cert + ", key " + key + (ca != null ? ", client CA " + ca : "")
                    + ": " + rootMessage(e), e);
        }
    }

    /** A new handler for an accepted connection, with the current certificate. */
    public SslHandler newHandler(ByteBufAllocator alloc) {
        return context.get().newHandler(alloc);
    }

    /** Whether a client certificate is required (and its CN names the client when there are no tokens). */
    public boolean clientCertificates() {
        return clientCertificates;
    }

    /** The current context (for tests and the admin port). */
    public SslContext context() {
        return context.get();
    }

    /** Certificate re-reads that failed and kept the previous one. */
    public long failedReloads() {
        return context.failedReloads();
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c == t ? String.valueOf(t.getMessage()) : t.getMessage() + " (" + c + ")";
    }

    private static ShiftformerException invalid(String message, Throwable cause) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, message, cause);
    }
}
