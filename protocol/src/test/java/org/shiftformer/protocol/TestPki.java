package org.shiftformer.protocol;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * Certificates made when a test runs (no private key is ever committed): a CA, a server certificate for
 * {@code localhost} and {@code 127.0.0.1} issued by it, a client certificate issued by it ({@code CN=cert-client}),
 * and a rogue CA with a client certificate of its own ({@code CN=mallory}) that the server must refuse.
 * Every file is PEM (keys PKCS#8), written under the directory given. Netty's {@code netty-pkitesting}
 * makes them (P-256 ECDSA, valid from an hour ago for a day).
 *
 * @param caCert      the CA that the server trusts for clients and the clients trust for the server
 * @param serverCert  server certificate chain (SANs localhost, 127.0.0.1)
 * @param serverKey   its key
 * @param clientCert  client certificate issued by the CA, CN=cert-client
 * @param clientKey   its key
 * @param rogueCert   client certificate issued by another CA, CN=mallory
 * @param rogueKey    its key
 * @param rogueCaCert the other CA
 * @param wrongNameCert a server certificate of the CA for {@code elsewhere.example} only
 * @param wrongNameKey  its key
 */
public record TestPki(Path caCert, Path serverCert, Path serverKey, Path clientCert, Path clientKey, Path rogueCert,
                      Path rogueKey, Path rogueCaCert, Path wrongNameCert, Path wrongNameKey) {

    /** Makes every certificate and writes them under {@code dir}. */
    public static TestPki create(Path dir) {
        try {
            Files.createDirectories(dir);
            Instant now = Instant.now();
            CertificateBuilder base = new CertificateBuilder().ecp256()
                    .notBefore(now.minus(1, ChronoUnit.HOURS)).notAfter(now.plus(1, ChronoUnit.DAYS));
            X509Bundle ca = base.copy().subject("CN=shiftformer test CA").setIsCertificateAuthority(true)
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.keyCertSign, CertificateBuilder.KeyUsage.cRLSign)
                    .buildSelfSigned();
            X509Bundle server = base.copy().subject("CN=localhost").addSanDnsName("localhost").addSanIpAddress("127.0.0.1")
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
                    .addExtendedKeyUsageServerAuth().buildIssuedBy(ca);
            X509Bundle client = base.copy().subject("CN=cert-client,O=shiftformer tests")
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
                    .addExtendedKeyUsageClientAuth().buildIssuedBy(ca);
            X509Bundle rogueCa = base.copy().subject("CN=rogue CA").setIsCertificateAuthority(true)
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.keyCertSign, CertificateBuilder.KeyUsage.cRLSign)
                    .buildSelfSigned();
            X509Bundle rogue = base.copy().subject("CN=mallory")
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
                    .addExtendedKeyUsageClientAuth().buildIssuedBy(rogueCa);
            X509Bundle wrongName = base.copy().subject("CN=elsewhere.example").addSanDnsName("elsewhere.example")
                    .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature)
                    .addExtendedKeyUsageServerAuth().buildIssuedBy(ca);
            return new TestPki(
                    write(dir.resolve("ca.pem"), ca.getCertificatePEM()),
                    write(dir.resolve("server.pem"), server.getCertificatePathPEM()),
                    write(dir.resolve("server.key"), server.getPrivateKeyPEM()),
                    write(dir.resolve("client.pem"), client.getCertificatePathPEM()),
                    write(dir.resolve("client.key"), client.getPrivateKeyPEM()),
                    write(dir.resolve("rogue.pem"), rogue.getCertificatePathPEM()),
                    write(dir.resolve("rogue.key"), rogue.getPrivateKeyPEM()),
                    write(dir.resolve("rogue-ca.pem"), rogueCa.getCertificatePEM()),
                    write(dir.resolve("wrong-name.pem"), wrongName.getCertificatePathPEM()),
                    write(dir.resolve("wrong-name.key"), wrongName.getPrivateKeyPEM()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (Exception e) {
            throw new IllegalStateException("cannot make test certificates", e);
        }
    }

    private static Path write(Path file, String pem) throws IOException {
        Files.writeString(file, pem);
        return file;
    }
}
