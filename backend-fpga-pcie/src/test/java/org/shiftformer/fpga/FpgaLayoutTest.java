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
import java.util.Map;
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
        assertEquals(18, checked, "constants compared");
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

    /** The constants of the kernel headers ({@code constexpr} lines and enum bodies), as HlsInterfaceRules reads them. */
    static Map<String, Long> headerConstants(String text) {
        return HlsInterfaceRules.constants(Map.of("headers", HlsInterfaceRules.stripComments(text)));
    }
}
