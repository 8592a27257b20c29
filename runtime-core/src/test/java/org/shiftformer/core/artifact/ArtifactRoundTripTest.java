package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.proto.model.Model;

class ArtifactRoundTripTest {
    private static final long SEED = 20240607L;

    @TempDir
    Path dir;

    private static QuantizedModel tiny() {
        return RandomModels.generate(RandomModels.preset("tiny", 300), SEED);
    }

    @Test
    void roundTripPreservesEveryTensorExponentConfigTokenizerAndProvenance() {
        QuantizedModel model = tiny();
        TokenizerSpec tokenizer = TestArtifacts.merges(41);
        Provenance provenance = TestArtifacts.provenance();
        Path file = dir.resolve("tiny.itm");

        String sha = ArtifactWriter.write(model, tokenizer, provenance, file);
        Artifact read = ArtifactReader.read(file);

        assertEquals(model.config(), read.model().config());
        assertEquals(List.copyOf(model.tensors().keySet()), List.copyOf(read.model().tensors().keySet()),
                "tensor order");
        for (QTensor t : model.tensors().values()) {
            assertEquals(t, read.model().tensor(t.name()), t.name());
        }
        assertEquals(List.copyOf(model.exponents().entrySet()), List.copyOf(read.model().exponents().entrySet()));
        assertArrayEquals(model.softmaxLut(), read.model().softmaxLut());
        assertEquals(tokenizer, read.tokenizer());
        assertEquals(300, read.tokenizer().vocabSize());
        assertEquals(provenance, read.provenance());
        assertEquals(List.copyOf(provenance.metrics().keySet()), List.copyOf(read.provenance().metrics().keySet()),
                "metric order");
        assertEquals(sha, read.sha256Hex());
        assertEquals(64, sha.length());
        TransformerWeights.of(read.model());
    }

    @Test
    void writingTheSameContentTwiceGivesIdenticalBytes() throws IOException {
        Path a = dir.resolve("a.itm");
        Path b = dir.resolve("b.itm");
        String shaA = ArtifactWriter.write(tiny(), TestArtifacts.merges(41), TestArtifacts.provenance(), a);
        String shaB = ArtifactWriter.write(tiny(), TestArtifacts.merges(41), TestArtifacts.provenance(), b);
        assertEquals(shaA, shaB);
        assertEquals(-1, Files.mismatch(a, b));
        String other = ArtifactWriter.write(RandomModels.generate(RandomModels.preset("tiny", 300), SEED + 1),
                TestArtifacts.merges(41), TestArtifacts.provenance(), dir.resolve("c.itm"));
        assertNotEquals(shaA, other);
    }

    @Test
    void checksumIsTheSha256OfTheFileWithTheChecksumBytesZeroedAsDocumented() throws Exception {
        Path file = dir.resolve("m.itm");
        String sha = ArtifactWriter.write(TestArtifacts.smallModel(), TokenizerSpec.bytesOnly(),
                TestArtifacts.provenance(), file);
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer bb = TestArtifacts.le(bytes);

        // The recipe of ARTIFACT.md, from raw bytes: root table -> vtable slot 7 -> 32 bytes.
        int root = bb.getInt(0);
        int vtable = root - bb.getInt(root);
        int checksumPos = root + Short.toUnsignedInt(bb.getShort(vtable + 4 + 2 * 7));
        byte[] zeroed = bytes.clone();
        java.util.Arrays.fill(zeroed, checksumPos, checksumPos + 32, (byte) 0);
        String expected = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(zeroed));
        assertEquals(expected, sha);

        // The words, as any FlatBuffers runtime reads them, print as the usual hex digest.
        Model m = Model.getRootAsModel(ByteBuffer.wrap(bytes));
        String words = String.format("%016x%016x%016x%016x", m.checksum().w0(), m.checksum().w1(), m.checksum().w2(),
                m.checksum().w3());
        assertEquals(expected, words);
        assertEquals(bytes.length, m.fileSize());
        assertEquals(1, m.formatVersion());
        assertTrue(Model.ModelBufferHasIdentifier(ByteBuffer.wrap(bytes)));
    }

    @Test
    void tensorsAreAlignedSlicesOfTheMappedFileNotCopies() {
        Path file = dir.resolve("m.itm");
        ArtifactWriter.write(TestArtifacts.smallModel(), TokenizerSpec.bytesOnly(), TestArtifacts.provenance(), file);
        Artifact read = ArtifactReader.read(file);
        for (QTensor t : read.model().tensors().values()) {
            MemorySegment data = t.data();
            assertTrue(data.isMapped(), t.name() + " is not a slice of the mapping");
            assertTrue(data.isReadOnly(), t.name());
            assertEquals(0, data.address() % ArtifactFormat.TENSOR_DATA_ALIGNMENT, t.name() + " alignment");
        }
    }

    @Test
    void writerReplacesAnExistingFileAndLeavesNoTemporaryFiles() throws IOException {
        Path file = dir.resolve("m.itm");
        Files.writeString(file, "an older, shorter file");
        ArtifactWriter.write(TestArtifacts.smallModel(), TokenizerSpec.bytesOnly(), TestArtifacts.provenance(), file);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList());
        }
        assertEquals(TestArtifacts.SMALL, ArtifactReader.read(file).model().config());
    }

    @Test
    void writerRefusesATokenizerWhoseVocabularyDiffersFromTheModel() {
        Path file = dir.resolve("m.itm");
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> ArtifactWriter.write(TestArtifacts.smallModel(), TestArtifacts.merges(3), Provenance.unknown(), file));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("refusing to write") && e.getMessage().contains("262"), e.getMessage());
        assertFalse(Files.exists(file));
    }

    @Test
    void writerRefusesAModelThatWouldNotLoad() {
        QuantizedModel good = TestArtifacts.smallModel();
        Map<String, Integer> exps = new java.util.LinkedHashMap<>(good.exponents());
        exps.put("enc.0.attn.q.out", 60);
        QuantizedModel bad = new QuantizedModel(good.config(), List.copyOf(good.tensors().values()), exps,
                good.softmaxLut());
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactWriter.write(bad,
                TokenizerSpec.bytesOnly(), Provenance.unknown(), dir.resolve("m.itm")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("enc.0.attn.q.out"), e.getMessage());
    }

    @Test
    void writeIntoAMissingDirectoryIsAnIoErrorNamingThePath() {
        Path file = dir.resolve("no/such/dir/m.itm");
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactWriter.write(
                TestArtifacts.smallModel(), TokenizerSpec.bytesOnly(), Provenance.unknown(), file));
        assertEquals(ErrorCode.IO_ERROR, e.code());
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void readingAMissingFileIsAnIoErrorNamingThePath() {
        Path file = dir.resolve("absent.itm");
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactReader.read(file));
        assertEquals(ErrorCode.IO_ERROR, e.code());
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void readingADirectoryIsAnIoError() {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactReader.read(dir));
        assertEquals(ErrorCode.IO_ERROR, e.code());
        assertTrue(e.getMessage().contains("directory"), e.getMessage());
    }

    @Test
    void emptyAndForeignFilesAreRejectedWithAMessage() throws IOException {
        Path empty = Files.createFile(dir.resolve("empty.itm"));
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactReader.read(empty));
        assertEquals(ErrorCode.INVALID_ARTIFACT, e.code());
        assertTrue(e.getMessage().contains("truncated or not an artifact: 0 bytes"), e.getMessage());

        Path text = dir.resolve("notes.itm");
        Files.writeString(text, "This is a text file, long enough to pass the minimum size check.\n");
        e = assertThrows(ShiftformerException.class, () -> ArtifactReader.read(text));
        assertEquals(ErrorCode.INVALID_ARTIFACT, e.code());
        assertTrue(e.getMessage().contains("not a shiftformer artifact: file identifier is \" is \""), e.getMessage());
    }
}
