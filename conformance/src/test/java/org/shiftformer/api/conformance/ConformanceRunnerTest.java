package org.shiftformer.api.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.PluginJars;

/**
 * {@link ConformanceRunner} outside a backend's build: the reference passes every check; a plugin jar
 * built while the test runs passes through its own class loader; a plugin whose requantization rounds
 * ties down instead of up fails exactly the requantize check, naming the case, the index and both values.
 */
class ConformanceRunnerTest {
    /** A backend over the reference whose requantize rounds ties down: one rounding changed. */
    private static final String BROKEN = """
            package ext.broken;
            import java.util.Map;
            import java.util.Optional;
            import org.shiftformer.api.DType;
            import org.shiftformer.api.QuantizedModel;
            import org.shiftformer.api.backend.*;
            import org.shiftformer.api.spec.ReferenceBackendProvider;
            import org.shiftformer.api.spec.ReferenceKernels;
            public final class TiesDownProvider implements BackendProvider {
              private final ReferenceBackendProvider reference = new ReferenceBackendProvider();
              @Override public int spiVersion() { return SPI_VERSION; }
              @Override public String name() { return "ties-down"; }
              @Override public int rank() { return -100; }
              @Override public Availability availability() { return reference.availability(); }
              @Override public Capabilities capabilities() { return reference.capabilities(); }
              @Override public Backend open(Map<String, String> settings) {
                Backend inner = reference.open(settings);
                IntKernels r = ReferenceKernels.INSTANCE;
                IntKernels broken = new IntKernels() {
                  public void linear(byte[] x, int rows, int k, boolean u, byte[] w, int n, int[] b, int[] acc) { r.linear(x, rows, k, u, w, n, b, acc); }
                  public void requantize(int[] acc, int len, int shift, DType t, byte[] out) {
                    r.requantize(acc, len, shift, t, out);
                    if (shift > 0) {
                      for (int i = 0; i < len; i++) {
                        if ((acc[i] & ((1 << shift) - 1)) == (1 << (shift - 1)) && out[i] != Byte.MIN_VALUE && out[i] != 0) { out[i]--; }
                      }
                    }
                  }
                  public void softmax2(int[] s, int rows, int len, int[] v, int e, int[] lut, byte[] p) { r.softmax2(s, rows, len, v, e, lut, p); }
                  public void layerNorm(short[] x, int rows, int d, short[] g, int[] b, int ge, int oe, byte[] o) { r.layerNorm(x, rows, d, g, b, ge, oe, o); }
                  public void residual(short[] a, int ae, int[] acc, int ce, int oe, int len, short[] o) { r.residual(a, ae, acc, ce, oe, len, o); }
                };
                return new Backend() {
                  public BackendIdentity identity() { return inner.identity(); }
                  public LoadedModel load(QuantizedModel m) { return inner.load(m); }
                  public Optional<IntKernels> kernels() { return Optional.of(broken); }
                  public void close() { inner.close(); }
                };
              }
            }
            """;

    @Test
    void theReferenceConforms() {
        ConformanceRunner.Report r = ConformanceRunner.run("reference", Map.of());
        assertTrue(r.passed(), r.text());
        assertEquals(9, r.checks().size(), r.text());
        assertTrue(r.text().contains("backend reference: CONFORMS (9 of 9 checks bit-exact)"), r.text());
        assertTrue(r.json().startsWith("{\"backend\": \"reference\", \"passed\": true"), r.json());
    }

    @Test
    void aPluginIsJudgedThroughItsClassLoaderAndOneChangedRoundingFailsNamingTheOp(@TempDir Path work) throws Exception {
        Path dir = Files.createDirectories(work.resolve("plugins"));
        PluginJars.build(work, dir.resolve("good.jar"), Map.of("ext.good.WrapperProvider",
                PluginJars.provider("ext.good", "WrapperProvider", "wrapper", "SPI_VERSION", "")),
                List.of("ext.good.WrapperProvider"));
        PluginJars.build(work, dir.resolve("ties-down.jar"), Map.of("ext.broken.TiesDownProvider", BROKEN),
                List.of("ext.broken.TiesDownProvider"));
        assertEquals(List.of(), Backends.addPlugins(dir).problems());

        ConformanceRunner.Report good = ConformanceRunner.run("wrapper", Map.of());
        assertTrue(good.passed(), good.text());
        assertTrue(Backends.select("wrapper").getClass().getClassLoader().getName().contains("good.jar"));

        ConformanceRunner.Report bad = ConformanceRunner.run("ties-down", Map.of());
        assertFalse(bad.passed());
        List<ConformanceRunner.Check> failed = bad.checks().stream().filter(c -> !c.passed()).toList();
        assertEquals(1, failed.size(), bad.text());
        assertEquals("requantizeMatchesReferenceIncludingTiesAndSaturation", failed.get(0).check());
        assertTrue(failed.get(0).failure().startsWith("requantize case ")
                && failed.get(0).failure().contains("array contents differ at index"), failed.get(0).failure());
        assertTrue(bad.text().contains("backend ties-down: DOES NOT CONFORM (8 of 9 checks bit-exact)"), bad.text());
        assertTrue(bad.json().contains("\"passed\": false"), bad.json());
    }
}
