package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;

class ArtifactInspectorTest {
    @TempDir
    Path dir;

    @Test
    void reportShowsHeaderConfigTokenizerTensorsExponentsProvenanceAndChecksum() throws IOException {
        Path file = dir.resolve("m.itm");
        QuantizedModel model = TestArtifacts.smallModel();
        String sha = ArtifactWriter.write(model, TokenizerSpec.bytesOnly(), TestArtifacts.provenance(), file);

        String report = ArtifactInspector.inspect(file);
        String[] lines = report.split("\n");

        assertTrue(report.contains("magic      SFTM\n"), report);
        assertTrue(report.contains("format     1\n"), report);
        assertTrue(report.contains("size       " + Files.size(file) + " bytes"), report);
        assertTrue(report.contains("checksum   sha256 " + sha + " verified\n"), report);
        assertTrue(report.contains("d_model 8, heads 2 (d_k 4), d_ff 8, layers 1 encoder + 1 decoder"), report);
        assertTrue(report.contains("kind byte-bpe, 0 merges, vocab 259"), report);
        assertTrue(report.contains("tensors (" + model.tensors().size() + ")"), report);
        for (QTensor t : model.tensors().values()) {
            int min = Integer.MAX_VALUE;
            int max = Integer.MIN_VALUE;
            for (int i = 0; i < t.elementCount(); i++) {
                min = Math.min(min, t.get(i));
                max = Math.max(max, t.get(i));
            }
            String line = Arrays.stream(lines).filter(l -> l.startsWith("  " + t.name() + " ")).findFirst()
                    .orElseThrow(() -> new AssertionError("no line for " + t.name() + " in\n" + report));
            String expected = "  " + java.util.stream.Stream.of(t.name(), t.dtype().name(), Arrays.toString(t.shape()),
                    Integer.toString(t.exponent()), Long.toString(t.data().byteSize()), Integer.toString(min),
                    Integer.toString(max)).map(java.util.regex.Pattern::quote).collect(java.util.stream.Collectors.joining(" +"));
            assertTrue(line.matches(expected), () -> line + " !~ " + expected);
        }
        for (var e : model.exponents().entrySet()) {
            assertTrue(Arrays.stream(lines).anyMatch(l -> l.matches("  " + e.getKey().replace(".", "\\.") + " +"
                    + e.getValue())), e.getKey());
        }
        assertTrue(report.contains("trainer    shiftformer-trainer test"), report);
        assertTrue(report.contains("notes      ünïcödé notes ✓"), report);
        assertTrue(report.matches("(?s).*int8\\.chrf +88\\.5\n.*"), report);
    }

    @Test
    void inspectingACorruptFileReportsTheProblem() throws IOException {
        Path file = dir.resolve("m.itm");
        ArtifactWriter.write(TestArtifacts.smallModel(), TokenizerSpec.bytesOnly(), TestArtifacts.provenance(), file);
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 1] ^= 0x10;
        Files.write(file, bytes);
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactInspector.inspect(file));
        assertEquals(ErrorCode.INVALID_ARTIFACT, e.code());
        assertTrue(e.getMessage().contains("checksum mismatch"), e.getMessage());
    }
}
