package org.shiftformer.bench;

import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * A CA and a server certificate for 127.0.0.1 and localhost (P-256, valid for a day), made when a
 * benchmark starts and written as PEM under a directory: no key is committed. The same shape as the
 * tests' {@code TestPki}, which lives in a test-jar the benchmarks do not depend on.
 */
final class BenchPki {
    private BenchPki() {
    }

    /** Writes {@code ca.pem}, {@code server.pem} and {@code server.key} (PKCS#8) under {@code dir}; returns them in that order. */
    static Path[] write(Path dir) throws Exception {
        Instant now = Instant.now();
        CertificateBuilder base = new CertificateBuilder().ecp256().notBefore(now.minus(1, ChronoUnit.HOURS))
                .notAfter(now.plus(1, ChronoUnit.DAYS));
        X509Bundle ca = base.copy().subject("CN=shiftformer bench CA").setIsCertificateAuthority(true)
                .setKeyUsage(true, CertificateBuilder.KeyUsage.keyCertSign).buildSelfSigned();
        X509Bundle server = base.copy().subject("CN=localhost").addSanDnsName("localhost").addSanIpAddress("127.0.0.1")
                .setKeyUsage(true, CertificateBuilder.KeyUsage.digitalSignature).addExtendedKeyUsageServerAuth()
                .buildIssuedBy(ca);
        return new Path[] {
            Files.writeString(dir.resolve("ca.pem"), ca.getCertificatePEM()),
            Files.writeString(dir.resolve("server.pem"), server.getCertificatePathPEM()),
            Files.writeString(dir.resolve("server.key"), server.getPrivateKeyPEM())};
    }
}
