package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;

/**
 * The host and the kernel agree on the interface: every int constant of {@link FpgaLayout} equals the
 * same-named constant of src/main/hls/shiftformer_kernel.h (enums with implicit values and sums
 * included), and the packed device image has the descriptor table the header describes. Needs no
 * compiler.
 */
class FpgaLayoutTest {
    private static final Path HEADER = Path.of("src/main/hls/shiftformer_kernel.h");
    private static final Path DATAPATH = Path.of("src/main/hls/datapath.h");

    @Test
    void everyLayoutConstantEqualsTheKernelHeaders() throws IOException, IllegalAccessException {
        Map<String, Long> header = headerConstants(Files.readString(DATAPATH) + Files.readString(HEADER));
        int checked = 0;
        for (Field f : FpgaLayout.class.getDeclaredFields()) {
            if (f.getType() == int.class && Modifier.isStatic(f.getModifiers()) && !f.getName().equals("DECODE_WORDS_PER_SEQ")) {
                f.setAccessible(true);
                assertTrue(header.containsKey(f.getName()), () -> f.getName() + " is missing in " + HEADER);
                assertEquals(header.get(f.getName()).longValue(), f.getInt(null), f.getName());
                checked++;
            }
        }
        assertTrue(checked > 60, "only " + checked + " constants compared");
    }

    /** The Java walk of the kernel's loop nest uses datapath.h's sizes and depths (and the header's table sizes). */
    @Test
    void everyDatapathConstantEqualsTheKernelHeaders() throws IOException, IllegalAccessException {
        Map<String, Long> header = headerConstants(Files.readString(DATAPATH) + Files.readString(HEADER));
        int checked = 0;
        for (Field f : DatapathCycles.class.getDeclaredFields()) {
            if (f.getType() == int.class && Modifier.isStatic(f.getModifiers()) && Modifier.isPublic(f.getModifiers())) {
                assertTrue(header.containsKey(f.getName()), () -> f.getName() + " is missing in " + DATAPATH);
                assertEquals(header.get(f.getName()).longValue(), f.getInt(null), f.getName());
                checked++;
            }
        }
        assertEquals(17, checked, "constants compared");
    }

    @Test
    void theDeviceImageStartsWithTheDescriptorTable() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 2, 3, 300, 40, 2, 0, 1, 2);
        TransformerWeights w = TransformerWeights.of(RandomModels.generate(cfg, 1));
        DeviceImage image = DeviceImage.pack(w, 5, 7);
        ByteBuffer b = ByteBuffer.wrap(image.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(FpgaLayout.WEIGHTS_MAGIC, b.getInt(4 * FpgaLayout.H_MAGIC));
        assertEquals(DeviceImage.tableBytes(cfg) / 4, b.getInt(4 * FpgaLayout.H_TOTAL_WORDS));
        assertEquals(40, b.getInt(4 * FpgaLayout.H_ROWS));
        assertEquals(5, b.getInt(4 * FpgaLayout.H_KV_SLOTS));
        assertEquals(7, b.getInt(4 * FpgaLayout.H_SRC_SLOTS));
        int embedOff = b.getInt(4 * FpgaLayout.H_EMBED_OFF);
        assertEquals(0, embedOff % FpgaLayout.TENSOR_ALIGN);
        assertTrue(embedOff >= DeviceImage.tableBytes(cfg));
        for (int i = 0; i < w.embed().length; i++) {
            assertEquals(w.embed()[i], b.get(embedOff + i));
        }
        // the second decoder layer's ffn.2 bias, found through its descriptor
        int base = FpgaLayout.HDR_WORDS + 2 * FpgaLayout.ENC_LAYER_WORDS + FpgaLayout.DEC_LAYER_WORDS + FpgaLayout.D_FFN2;
        int biasOff = b.getInt(4 * (base + 1));
        int[] bias = w.decoder().get(1).ffn2().bias();
        for (int i = 0; i < bias.length; i++) {
            assertEquals(bias[i], b.getInt(biasOff + 4 * i));
        }
        assertEquals(w.decoder().get(1).ffn2().accExp(), b.getInt(4 * (base + 2)));
        assertEquals(w.decoder().get(1).ffn2().outExp(), b.getInt(4 * (base + 3)));
    }

    /** {@code NAME = expr} of constexpr lines and enum bodies; implicit enum values count up. */
    static Map<String, Long> headerConstants(String text) {
        String code = text.replaceAll("//[^\n]*", "").replaceAll("(?s)/\\*.*?\\*/", "");
        Map<String, Long> out = new HashMap<>();
        Matcher ce = Pattern.compile("constexpr\\s+int\\w*\\s+(\\w+)\\s*=\\s*([^;]+);").matcher(code);
        while (ce.find()) {
            out.put(ce.group(1), eval(ce.group(2), out));
        }
        Matcher en = Pattern.compile("enum\\s+\\w+\\s*(?::\\s*\\w+)?\\s*\\{([^}]*)}").matcher(code);
        while (en.find()) {
            long next = 0;
            for (String item : en.group(1).split(",")) {
                String s = item.trim();
                if (s.isEmpty()) {
                    continue;
                }
                int eq = s.indexOf('=');
                String name = eq < 0 ? s : s.substring(0, eq).trim();
                long v = eq < 0 ? next : eval(s.substring(eq + 1), out);
                out.put(name, v);
                next = v + 1;
            }
        }
        return out;
    }

    private static long eval(String expr, Map<String, Long> known) {
        long sum = 0;
        for (String term : expr.split("\\+")) {
            String t = term.trim();
            if (t.startsWith("0x")) {
                sum += Long.parseLong(t.substring(2), 16);
            } else if (t.matches("-?\\d+")) {
                sum += Long.parseLong(t);
            } else {
                Long v = known.get(t);
                if (v == null) {
                    throw new AssertionError("cannot evaluate '" + t + "' in " + expr);
                }
                sum += v;
            }
        }
        return sum;
    }
}
