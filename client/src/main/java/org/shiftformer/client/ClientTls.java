package org.shiftformer.client;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.nio.file.Path;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * How a {@link ShiftformerClient} speaks TLS (SECURITY.md): TLS 1.3 or 1.2, the server's certificate
 * verified against {@code trustedCertificates} (or the JDK's default trust store) and its name checked
 * against the host connected to (or {@code serverName}), as HTTPS does; optionally a client certificate
 * for servers that require one.
 *
 * @param trustedCertificates PEM CA certificates to trust; null for the JDK's default trust store
 * @param certificate         PEM client certificate chain, for servers that require one; null for none
 * @param key                 PEM PKCS#8 private key of {@code certificate} ({@code BEGIN PRIVATE KEY}); null for none
 * @param serverName          the name the server's certificate must carry (and the SNI name); null for the host
 *                            given to {@link ShiftformerClient#connect}
 */
public record ClientTls(Path trustedCertificates, Path certificate, Path key, String serverName) {
    public ClientTls {
        if ((certificate == null) != (key == null)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "client option tls: a client certificate needs "
                    + "its key and a key its certificate (got " + (certificate == null ? "a key" : "a certificate")
                    + " alone)");
        }
    }

    /** TLS trusting the JDK's default trust store, without a client certificate. */
    public static ClientTls system() {
        return new ClientTls(null, null, null, null);
    }

    /** TLS trusting the CA certificates in this PEM file, without a client certificate. */
    public static ClientTls trusting(Path trustedCertificates) {
        return new ClientTls(trustedCertificates, null, null, null);
    }

    /** The same, presenting this client certificate and PKCS#8 key. */
    public ClientTls withClientCertificate(Path certificate, Path key) {
        return new ClientTls(trustedCertificates, certificate, key, serverName);
    }

    /** The same, checking the server's certificate for this name instead of the host connected to. */
    public ClientTls withServerName(String serverName) {
        return new ClientTls(trustedCertificates, certificate, key, serverName);
    }

    /**
     * The Netty context.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the file that cannot be used
     */
    SslContext context() {
        SslContextBuilder b = SslContextBuilder.forClient().sslProvider(SslProvider.JDK)
                .protocols("TLSv1.3", "TLSv1.2").endpointIdentificationAlgorithm("HTTPS");
        try {
            if (trustedCertificates != null) {
                b.trustManager(trustedCertificates.toFile());
            }
            if (certificate != null) {
                b.keyManager(certificate.toFile(), key.toFile());
            }
            return b.build();
        } catch (Exception e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "client option tls: cannot use "
                    + (trustedCertificates != null ? "trusted certificates " + trustedCertificates : "the default trust store")
                    + (certificate != null ? ", client certificate " + certificate + " and key " + key : "")
                    + " (PEM files; the key PKCS#8, 'BEGIN PRIVATE KEY'): " + e.getMessage(), e);
        }
    }
}
