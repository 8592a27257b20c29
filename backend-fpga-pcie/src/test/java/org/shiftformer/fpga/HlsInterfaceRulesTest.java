package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.abort;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;

/**
 * The build's check of the kernel's memory interface (issue 16 item 1, {@link HlsInterfaceRules}): the
 * source passes every rule, each rule catches the construct it forbids, and the kernel as it was before
 * the rewrite (commit 34c372c, read from git when the history is there) fails them. The other half of the
 * check, g++ {@code -std=c++17 -Wall -Werror} on each kernel file, is in src/main/native/build.sh.
 */
class HlsInterfaceRulesTest {
    private static final Path HLS = Path.of("src/main/hls");
    private static final Path GLUE = Path.of("src/main/native/kernel-emu/shiftformer_emu.cpp");
    private static final Path VITIS = Path.of("src/main/vitis");
    private static final String BEFORE = "34c372c";

    @Test
    void theKernelFollowsTheInterfaceRules() throws IOException {
        Map<String, String> kernel = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(HLS)) {
            for (Path f : files.sorted().toList()) {
                kernel.put(f.getFileName().toString(), Files.readString(f));
            }
        }
        assertTrue(kernel.size() >= 3, "kernel sources " + kernel.keySet());
        List<String> bad = HlsInterfaceRules.check(kernel, Files.readString(GLUE), connectivity());
        assertEquals(List.of(), bad);
    }

    @Test
    void theHlsSourceIsCompiledWithWarningsAsErrors() throws IOException {
        String build = Files.readString(Path.of("src/main/native/build.sh"));
        assertTrue(build.contains("\"$cxx\" -std=c++17 -Wall -Werror -Wno-unknown-pragmas -I \"$hls\" -I \"$glue\" -c \"$f\""),
                "build.sh no longer compiles each src/main/hls file with -Wall -Werror");
    }

    @Test
    void theKernelBeforeTheRewriteBreaksTheRules() throws IOException, InterruptedException {
        String header = gitShow("src/main/hls/shiftformer_kernel.h");
        Map<String, String> kernel = Map.of("shiftformer_kernel.h", header,
                "shiftformer_kernel.cpp", gitShow("src/main/hls/shiftformer_kernel.cpp"),
                "int_ops.h", gitShow("src/main/hls/int_ops.h"));
        List<String> bad = HlsInterfaceRules.check(kernel, gitShow("src/main/native/kernel-emu/shiftformer_emu.cpp"),
                Map.of("connectivity-u250.cfg", gitShow("src/main/vitis/connectivity-u250.cfg")));
        String all = String.join("\n", bad);
        assertTrue(all.contains("shiftformer_kernel.cpp: void* (rule 1)"), all);
        assertTrue(all.contains("pointer or reference member 'const int8_t* w'"), all);
        assertTrue(all.contains("pointer or reference member 'uint8_t* g'"), all);
        assertTrue(all.contains("pointer 'tap' may be null (rule 3)"), all);
        assertTrue(all.contains("ports in and out share bundle gmem3"), all);
        assertTrue(all.contains("returns 'int32_t', not void"), all);
        assertTrue(all.contains("m_axi port weights has no positive depth= (rule 7)"), all);
        assertTrue(all.contains("has a run-time bound and no LOOP_TRIPCOUNT min= max= pragma (rule 8)"), all);
        assertEquals(82, bad.size(), all);
    }

    @Test
    void eachRuleCatchesWhatItForbids() {
        String glue = "{\"op\", XRT_EMU_ARG_SCALAR, 4, 0}, {\"a\", XRT_EMU_ARG_BUFFER, 0, 0}, {\"b\", XRT_EMU_ARG_BUFFER, 0, 1},";
        String cfg = "sp=k_1.a:DDR[0]\nsp=k_1.b:DDR[1]\n";
        String header = "extern \"C\" { void shiftformer_step(int32_t op, const uint8_t* a, int32_t* b); }";
        String good = "struct D { int32_t w_off; int32_t n; int32_t f(int32_t i) const { int32_t j = 0; return i + j; } };\n"
                + top("int32_t op, const uint8_t* a, int32_t* b", "  b[0] = a[op];", "a", "b");
        assertEquals(List.of(), check(header, good, glue, cfg));
        assertRule(header, good.replace("int32_t n;", "const int8_t* w;"), glue, cfg, "member 'const int8_t* w' in a struct");
        assertRule(header, good.replace("int32_t n;", "int32_t& n;"), glue, cfg, "member 'int32_t& n' in a struct");
        assertRule(header, good.replace("b[0] = a[op];", "void* o = b; (void)o;"), glue, cfg, "void* (rule 1)");
        assertRule(header, good.replace("b[0] = a[op];", "int32_t* t = op ? b : 0; t[0] = 1;"), glue, cfg, "pointer 't' may be null");
        assertRule(header, good.replace("b[0] = a[op];", "int32_t* t = 0; t[0] = 1;"), glue, cfg, "pointer 't' may be null");
        assertRule(header, good.replace("b[0] = a[op];", "int32_t* t = nullptr; (void)t;"), glue, cfg, "nullptr/NULL");
        assertRule(header, good.replace("bundle=m_b", "bundle=m_a"), glue, cfg, "ports a and b share bundle m_a");
        assertRule(header, good.replace(" bundle=m_b", ""), glue, cfg, "m_axi port b has no bundle=");
        assertRule(header, good.replace("bundle=m_b depth=64", "bundle=m_b"), glue, cfg, "m_axi port b has no positive depth=");
        assertRule(header, good.replace("bundle=m_b depth=64", "bundle=m_b depth=0"), glue, cfg,
                "m_axi port b has no positive depth=");
        assertRule(header, good.replace("#pragma HLS INTERFACE m_axi port=b offset=slave bundle=m_b depth=64\n", ""), glue, cfg,
                "pointer port b has no m_axi INTERFACE pragma");
        assertRule(header, good.replace("#pragma HLS INTERFACE s_axilite port=op\n", ""), glue, cfg,
                "op has no s_axilite INTERFACE pragma");
        assertRule(header, good.replace("port=b offset", "port=c offset"), glue, cfg, "names port c, which is no parameter");
        assertRule(header.replace("int32_t* b", "void* b"), good.replace("int32_t* b", "void* b"), glue, cfg,
                "port b has type 'void*'");
        assertRule(header.replace("void shift", "int32_t shift"), good.replace("extern \"C\" void", "extern \"C\" int32_t"),
                glue, cfg, "returns 'int32_t', not void");
        assertRule(header.replace("int32_t* b", "int32_t* out"), good, glue, cfg, "declaration of shiftformer_step differs");
        assertRule(header, good, glue.replace("\"b\"", "\"out\""), cfg, "argument table [op, a, out] differs");
        assertRule(header, good, glue, cfg.replace("k_1.b", "k_1.out"), "places [a, out], the m_axi ports are [a, b]");
    }

    @Test
    void wordPortsNeedTheirDefinitionAndAreOnlyTouchedInSegments() {
        String glue = "{\"op\", XRT_EMU_ARG_SCALAR, 4, 0}, {\"a\", XRT_EMU_ARG_BUFFER, 0, 0},";
        String cfg = "sp=k_1.a:DDR[0]\n";
        String header = "extern \"C\" { void shiftformer_step(int32_t op, const word512_t* a); }";
        String word = """
                #ifdef __SYNTHESIS__
                #include <ap_int.h>
                typedef ap_uint<512> word512_t;
                #else
                struct word512_t { uint8_t b[64]; };
                #endif
                static_assert(sizeof(word512_t) == 64, "a port word is 512 bits");
                inline void rd_bytes(const word512_t* port, int64_t off, uint8_t* dst, int32_t n) {
                  const uint8_t* p = reinterpret_cast<const uint8_t*>(port) + off;
                  for (int32_t i = 0; i < n; i++) {
                #pragma HLS LOOP_TRIPCOUNT min=1 max=64
                    dst[i] = p[i];
                  }
                }
                """;
        String good = top("int32_t op, const word512_t* a", "  uint8_t row[64];\n  rd_bytes(a, 64 * op, row, 64);", "a");
        Map<String, String> kernel = new LinkedHashMap<>();
        kernel.put("w.h", word);
        kernel.put("k.h", header);
        kernel.put("k.cpp", good);
        assertEquals(List.of(), HlsInterfaceRules.check(kernel, glue, Map.of("c.cfg", cfg)));
        for (String access : List.of("row[0] = a[op].b[0];", "rd_bytes(a + op, 0, row, 64);", "const word512_t* q = 1 + a; (void)q;")) {
            kernel.put("k.cpp", good.replace("rd_bytes(a, 64 * op, row, 64);", access));
            List<String> bad = HlsInterfaceRules.check(kernel, glue, Map.of("c.cfg", cfg));
            assertTrue(bad.stream().anyMatch(v -> v.contains("word port a is indexed or offset")), access + ": " + bad);
        }
        kernel.put("k.cpp", good);
        kernel.put("w.h", word.replace("ap_uint<512>", "ap_uint<256>"));
        List<String> bad = HlsInterfaceRules.check(kernel, glue, Map.of("c.cfg", cfg));
        assertTrue(bad.stream().anyMatch(v -> v.contains("port a is a word512_t, which no source defines")), bad.toString());
    }

    @Test
    void everyLoopWithARunTimeBoundHasATripcount() {
        String tc = "#pragma HLS LOOP_TRIPCOUNT min=1 max=64\n";
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("for (int32_t i = 0; i < n; i++) {\n  s += i;\n}",
                "loop 'for (int32_t i = 0; i < n; i++)' has a run-time bound and no LOOP_TRIPCOUNT");
        cases.put("for (int32_t t = 0; t * PE_R < kw; t++) {\n  s += t;\n}",
                "loop 'for (int32_t t = 0; t * PE_R < kw; t++)' has a run-time bound");
        cases.put("while (bit != 0) {\n  bit >>= 2;\n}", "loop 'while (bit != 0)' has a run-time bound");
        cases.put("for (int32_t i = 0; i < n; i++) s += i;", "no braced body");
        cases.put("for (int32_t i = 0; i < n; i++) {\n  for (int32_t j = 0; j < m; j++) {\n" + tc + "  s += j;\n  }\n}",
                "loop 'for (int32_t i = 0; i < n; i++)' has a run-time bound and no LOOP_TRIPCOUNT");
        cases.put("for (int32_t i = 0; i < n; i++) {\n#pragma HLS LOOP_TRIPCOUNT min=9 max=4\n  s += i;\n}",
                "min=9 max=4 is no range");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            List<String> bad = HlsInterfaceRules.loopsWithoutTripcount("k.cpp", c.getKey());
            assertTrue(bad.stream().anyMatch(v -> v.contains(c.getValue())), () -> c.getKey() + ": " + bad);
        }
        for (String ok : List.of("for (int32_t i = 0; i < PE_R; i++) {\n  s += i;\n}",
                "for (int32_t j = 0; j < 64; j++) {\n  s += j;\n}",
                "for (int32_t i = 0; i < n; i++) {\n" + tc + "#pragma HLS PIPELINE II=1\n  s += i;\n}",
                "while (bit != 0) {\n#pragma HLS LOOP_TRIPCOUNT min=0 max=32\n  bit >>= 2;\n}",
                "for (int32_t i = 0; i < n; i++) {\n" + tc
                        + "  for (int32_t j = 0; j < WORD_BYTES; j++) {\n    s += j;\n  }\n}")) {
            assertEquals(List.of(), HlsInterfaceRules.loopsWithoutTripcount("k.cpp", ok), ok);
        }
    }

    /** Rule 10 on a small source: each pragma's max is derived from the clamp on its loop's bound, or reported. */
    @Test
    void eachTripcountMaxIsTheLargestTripCountItsClampedBoundAllows() {
        String good = """
                constexpr int32_t ROW_TILE = 64;
                constexpr int32_t MAX_D = 1024;
                const int32_t WORDS = MAX_D / 16 + 1;
                inline int32_t min32(int32_t a, int32_t b) { return a < b ? a : b; }
                void rows(int32_t m, int32_t s, int32_t* acc) {
                  int32_t all = min32(m, ROW_TILE);
                  for (int32_t r = 0; r < all; r++) {
                #pragma HLS LOOP_TRIPCOUNT min=1 max=64
                    acc[r] = 0;
                  }
                  for (int32_t c = s; c < min32(m, MAX_D / 4); c += 4) {
                #pragma HLS LOOP_TRIPCOUNT min=0 max=64
                    acc[c] = 1;
                  }
                  for (int32_t w = 16; w < min32(m, WORDS); w++) {
                #pragma HLS LOOP_TRIPCOUNT min=0 max=49
                    acc[w] = 2;
                  }
                }
                void heads(int32_t* acc, int32_t heads) {
                  for (int32_t h = 0; h < heads; h++) {
                #pragma HLS LOOP_TRIPCOUNT min=1 max=1024
                    acc[h] = 3;
                  }
                }
                void top(int32_t* acc, int32_t n, int32_t k) {
                  int32_t dk = min32(n, MAX_D) - k;
                  heads(acc, min32(n, MAX_D));
                  heads(acc, dk);
                }
                """;
        assertEquals(List.of(), HlsInterfaceRules.tripcountsMatchLimits(Map.of("k.cpp", good)));
        assertTripcount(good.replace("max=64\n    acc[r]", "max=63\n    acc[r]"),
                "loop 'for (int32_t r = 0; r < all; r++)': LOOP_TRIPCOUNT max=63, but its clamped bound allows 64 iterations");
        assertTripcount(good.replace("c += 4", "c += 2"), "LOOP_TRIPCOUNT max=64, but its clamped bound allows 128 iterations");
        assertTripcount(good.replace("max=49", "max=50"), "LOOP_TRIPCOUNT max=50, but its clamped bound allows 49 iterations");
        assertTripcount(good.replace("int32_t all = min32(m, ROW_TILE);", "int32_t all = m;"),
                "loop 'for (int32_t r = 0; r < all; r++)' has no bound clamped to a compile-time limit");
        assertTripcount(good.replace("heads(acc, dk);", "heads(acc, n);"),
                "loop 'for (int32_t h = 0; h < heads; h++)' has no bound clamped");
        assertTripcount(good.replace("MAX_D) - k;", "ROW_TILE) * 32;"),
                "LOOP_TRIPCOUNT max=1024, but its clamped bound allows 2048 iterations");
        assertTripcount(good.replace("for (int32_t h = 0; h < heads; h++) {", "while (heads-- > 0) {"),
                "loop 'while (heads-- > 0)' is a while loop: no compile-time limit");
        // and on the kernel itself: head h's key rows are up to MAX_POSITIONS, not MAX_D
        String kernel = HlsInterfaceRules.stripComments(read(HLS.resolve("shiftformer_kernel.cpp")));
        int at = kernel.indexOf("void load_head(");
        String broken = kernel.substring(0, at) + kernel.substring(at).replaceFirst("max=8192", "max=1024");
        Map<String, String> code = new LinkedHashMap<>();
        code.put("datapath.h", HlsInterfaceRules.stripComments(read(HLS.resolve("datapath.h"))));
        code.put("int_ops.h", HlsInterfaceRules.stripComments(read(HLS.resolve("int_ops.h"))));
        code.put("shiftformer_kernel.cpp", broken);
        code.put("shiftformer_kernel.h", HlsInterfaceRules.stripComments(read(HLS.resolve("shiftformer_kernel.h"))));
        List<String> bad = HlsInterfaceRules.tripcountsMatchLimits(code);
        assertEquals(1, bad.size(), bad.toString());
        assertTrue(bad.get(0).contains("loop 'for (int32_t j = 0; j < n; j++)': LOOP_TRIPCOUNT max=1024, but its clamped bound"
                + " allows 8192 iterations (rule 10)"), bad.get(0));
    }

    private static void assertTripcount(String source, String expected) {
        List<String> bad = HlsInterfaceRules.tripcountsMatchLimits(Map.of("k.cpp", source));
        assertTrue(bad.stream().anyMatch(v -> v.contains(expected)), () -> "expected '" + expected + "' in " + bad);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * The m_axi depths are the sizes of the buffers the host allocates for the base preset (vocabulary 8000,
     * the default 64 KV and 64 source slots, {@link FpgaModel#bufferBytes}, the weights and the weight stripes its
     * {@link DeviceImage}),
     * in port elements: 64-byte words (every port is 512 bits wide). C/RTL co-simulation of a base-preset step fits.
     */
    @Test
    void theDepthsAreTheHostsBufferSizesOfTheBasePreset() throws IOException {
        ModelConfig base = RandomModels.preset("base", 8000);
        int slots = FpgaSettings.DEFAULT_KV_SLOTS;
        assertEquals(slots, FpgaSettings.DEFAULT_SOURCE_SLOTS);
        long[] bytes = FpgaModel.bufferBytes(base, slots, slots);
        DeviceImage image = DeviceImage.pack(TransformerWeights.of(
                RandomModels.generate(base, 1, RandomModels.Style.PEAKED)), slots, slots);
        bytes[FpgaLayout.ARG_WEIGHTS] = image.bytes().length;
        for (int s = 0; s < FpgaLayout.WEIGHT_STRIPES; s++) {
            bytes[FpgaLayout.ARG_WSTRIPE0 + s] = image.stripes()[s].length;
        }
        Map<String, Long> expected = new LinkedHashMap<>();
        String[] names = {"op", "batch", "flags", "weights", "kv", "src", "in", "out", "scratch", "taps", "wstripe0",
            "wstripe1", "wstripe2", "wstripe3"};
        assertEquals(FpgaLayout.ARG_COUNT, names.length);
        for (int arg = FpgaLayout.ARG_WEIGHTS; arg < FpgaLayout.ARG_COUNT; arg++) {
            expected.put(names[arg], (bytes[arg] + 63) / 64);
        }
        String kernel = HlsInterfaceRules.stripComments(Files.readString(HLS.resolve("shiftformer_kernel.cpp")));
        Map<String, Long> depths = new LinkedHashMap<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(
                "#pragma\\s+HLS\\s+INTERFACE\\s+m_axi\\s+port=(\\w+)[^\\n]*\\bdepth=(\\d+)").matcher(kernel);
        while (m.find()) {
            depths.put(m.group(1), Long.parseLong(m.group(2)));
        }
        assertEquals(expected, depths);
    }

    @Test
    void weightStripesAreNumberedReadOnlyOnBundlesAndPseudoChannelsOfTheirOwn() {
        String glue = "{\"op\", XRT_EMU_ARG_SCALAR, 4, 0}, {\"a\", XRT_EMU_ARG_BUFFER, 0, 0}, "
                + "{\"wstripe0\", XRT_EMU_ARG_BUFFER, 0, 1}, {\"wstripe1\", XRT_EMU_ARG_BUFFER, 0, 2},";
        String cfg = "sp=k_1.a:HBM[0]\nsp=k_1.wstripe0:HBM[1:2]\nsp=k_1.wstripe1:HBM[3:4]\n";
        String params = "int32_t op, int32_t* a, const uint8_t* wstripe0, const uint8_t* wstripe1";
        String header = "extern \"C\" { void shiftformer_step(" + params + "); }";
        String good = top(params, "  a[0] = wstripe0[op] + wstripe1[op];", "a", "wstripe0", "wstripe1");
        assertEquals(List.of(), check(header, good, glue, cfg));
        assertRule(header, good.replace("bundle=m_wstripe1", "bundle=m_wstripe0"), glue, cfg,
                "stripe port wstripe1 shares bundle m_wstripe0 with wstripe0 (rule 9)");
        assertRule(header, good.replace("bundle=m_wstripe1", "bundle=m_a"), glue, cfg,
                "stripe port wstripe1 shares bundle m_a with a (rule 9)");
        assertRule(header.replace("const uint8_t* wstripe1", "uint8_t* wstripe1"),
                good.replace("const uint8_t* wstripe1", "uint8_t* wstripe1"), glue, cfg, "stripe port wstripe1 is not const");
        assertRule(header, good, glue, cfg.replace("wstripe1:HBM[3:4]", "wstripe1:HBM[2:3]"),
                "c.cfg: stripe port wstripe0 shares HBM pseudo-channels with wstripe1 (rule 9)");
        assertRule(header, good, glue, cfg.replace("wstripe0:HBM[1:2]", "wstripe0:HBM[0:1]"),
                "c.cfg: stripe port wstripe0 shares HBM pseudo-channels with a (rule 9)");
        String gap = good.replace("wstripe1", "wstripe2");
        assertRule(header.replace("wstripe1", "wstripe2"), gap, glue.replace("wstripe1", "wstripe2"),
                cfg.replace("wstripe1", "wstripe2"), "stripe ports [wstripe0, wstripe2] are not wstripe0 .. wstripe1");
        // on one DDR bank the stripes may share it (a U250): only HBM windows are compared
        assertEquals(List.of(), check(header, good, glue, "sp=k_1.a:DDR[0]\nsp=k_1.wstripe0:DDR[0]\nsp=k_1.wstripe1:DDR[0]\n"));
    }

    /** A top-level function with the scalar {@code op} and the given m_axi ports, each pragma on its own line. */
    private static String top(String params, String body, String... ports) {
        StringBuilder b = new StringBuilder("extern \"C\" void shiftformer_step(" + params + ") {\n");
        for (String p : ports) {
            b.append("#pragma HLS INTERFACE m_axi port=").append(p).append(" offset=slave bundle=m_").append(p)
                    .append(" depth=64\n");
        }
        b.append("#pragma HLS INTERFACE s_axilite port=op\n");
        for (String p : ports) {
            b.append("#pragma HLS INTERFACE s_axilite port=").append(p).append('\n');
        }
        return b.append("#pragma HLS INTERFACE s_axilite port=return\n").append(body).append("\n}\n").toString();
    }

    private static List<String> check(String header, String source, String glue, String cfg) {
        Map<String, String> kernel = new LinkedHashMap<>();
        kernel.put("k.h", header);
        kernel.put("k.cpp", source);
        return HlsInterfaceRules.check(kernel, glue, Map.of("c.cfg", cfg));
    }

    private static void assertRule(String header, String source, String glue, String cfg, String expected) {
        List<String> bad = check(header, source, glue, cfg);
        assertTrue(bad.stream().anyMatch(v -> v.contains(expected)), () -> "expected '" + expected + "' in " + bad);
    }

    private static Map<String, String> connectivity() throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(VITIS)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cfg")).sorted().toList()) {
                out.put(f.getFileName().toString(), Files.readString(f));
            }
        }
        assertEquals(2, out.size(), "connectivity files " + out.keySet());
        return out;
    }

    /** A module file at commit {@link #BEFORE}; aborts (skips) when git or that history is not available. */
    private static String gitShow(String path) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("git", "show", BEFORE + ":./" + path).redirectErrorStream(false).start();
        } catch (IOException e) {
            abort("git is not available: " + e.getMessage());
            throw e;
        }
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            abort("commit " + BEFORE + " is not in this checkout's history (shallow clone?): cannot read " + path);
        }
        return new String(out, StandardCharsets.UTF_8);
    }
}
