package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.proto.model.Model;

/**
 * Exhaustive truncation and single-byte corruption of a small artifact, and random mutations with the
 * checksum recomputed (what a fuzzer or a deliberate forger produces): the reader loads a valid model
 * or throws a ShiftformerException naming the problem, and nothing else ever happens.
 */
class ArtifactCorruptionTest {
    private static byte[] file;
    /** Bytes that are not tensor data: tables, vtables, offsets, lengths, strings, padding. */
    private static int[] structural;

    @TempDir
    Path dir;

    @BeforeAll
    static void writeSmallArtifact() {
        file = TestArtifacts.smallFile();
        assertTrue(file.length < 16_384, "the small artifact grew to " + file.length + " bytes");
        TestArtifacts.read(file); // the unmodified file loads
        BitSet data = new BitSet(file.length);
        Model m = Model.getRootAsModel(ByteBuffer.wrap(file));
        for (int i = 0; i < m.tensorsLength(); i++) {
            ByteBuffer d = m.tensors(i).dataAsByteBuffer();
            data.set(d.position(), d.limit());
        }
        List<Integer> positions = new ArrayList<>();
        for (int i = 0; i < file.length; i++) {
            if (!data.get(i)) {
                positions.add(i);
            }
        }
        structural = positions.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void everyTruncationIsRejectedAsInvalidArtifact() {
        int truncatedMessages = 0;
        for (int length = 0; length < file.length; length++) {
            ShiftformerException e = TestArtifacts.rejected(java.util.Arrays.copyOf(file, length));
            assertEquals(ErrorCode.INVALID_ARTIFACT, e.code(), e::getMessage);
            if (e.getMessage().contains("truncated")) {
                truncatedMessages++;
            }
        }
        // Once the root table is complete, every shorter file is called what it is.
        assertTrue(truncatedMessages > file.length - 200, truncatedMessages + " of " + file.length);
    }

    @Test
    void truncatedFilesOnDiskAreRejectedThroughTheMapping() throws IOException {
        // The same checks as above through FileChannel.map, on a sample of lengths (mapping thousands
        // of files would dominate the test time).
        Path path = dir.resolve(TestArtifacts.NAME);
        for (int length = 0; length < file.length; length += length < 128 ? 1 : 97) {
            Files.write(path, java.util.Arrays.copyOf(file, length));
            int n = length;
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactReader.read(path),
                    () -> "truncated to " + n + " bytes");
            assertEquals(ErrorCode.INVALID_ARTIFACT, e.code(), e::getMessage);
            assertTrue(e.getMessage().startsWith(path + ": "), e::getMessage);
        }
        Files.write(path, java.util.Arrays.copyOf(file, file.length - 1));
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ArtifactReader.read(path));
        assertEquals(path + ": truncated: " + (file.length - 1) + " bytes, the artifact header says " + file.length
                + " (an incomplete copy or download?)", e.getMessage());
    }

    @Test
    void everySingleByteFlipIsRejected() {
        for (int mask : new int[] {0x01, 0xFF}) {
            for (int i = 0; i < file.length; i++) {
                byte[] copy = file.clone();
                copy[i] ^= (byte) mask;
                int at = i;
                ShiftformerException e = assertThrows(ShiftformerException.class, () -> TestArtifacts.read(copy),
                        () -> "byte " + at + " ^ " + mask + " was accepted");
                TestArtifacts.assertCleanRejection(e);
            }
        }
    }

    @Test
    void appendedBytesAreRejected() {
        byte[] longer = java.util.Arrays.copyOf(file, file.length + 1);
        ShiftformerException e = TestArtifacts.rejected(longer);
        assertTrue(e.getMessage().contains((file.length + 1) + " bytes, but the artifact header says " + file.length),
                e.getMessage());
    }

    @Test
    void randomMutationsWithARecomputedChecksumLoadAValidModelOrFailCleanly() {
        SplittableRandom rnd = new SplittableRandom(0x5EED);
        int loaded = 0;
        int rejected = 0;
        for (int iteration = 0; iteration < 3000; iteration++) {
            byte[] mutated = TestArtifacts.resealed(mutate(file, rnd));
            Artifact a;
            try {
                a = TestArtifacts.read(mutated);
            } catch (ShiftformerException e) {
                TestArtifacts.assertCleanRejection(e);
                rejected++;
                continue;
            } catch (RuntimeException | Error e) {
                fail("iteration " + iteration + ": " + e, e);
                return;
            }
            TransformerWeights.of(a.model());
            loaded++;
        }
        // Both outcomes occur: the mutations reach the semantic checks and beyond.
        assertTrue(loaded > 0 && rejected > 0, "loaded " + loaded + ", rejected " + rejected);
    }

    /**
     * One to four mutations: a random byte anywhere, a random byte in the structure, or an interesting
     * 32-bit value (0, -1, extremes, the file size, small offsets) over a structural word.
     */
    static byte[] mutate(byte[] original, SplittableRandom rnd) {
        byte[] copy = original.clone();
        ByteBuffer bb = TestArtifacts.le(copy);
        int count = 1 + rnd.nextInt(4);
        for (int k = 0; k < count; k++) {
            switch (rnd.nextInt(3)) {
                case 0 -> copy[rnd.nextInt(copy.length)] = (byte) rnd.nextInt(256);
                case 1 -> copy[structural[rnd.nextInt(structural.length)]] = (byte) rnd.nextInt(256);
                default -> {
                    int pos = structural[rnd.nextInt(structural.length)] & ~3;
                    if (pos + 4 <= copy.length) {
                        int[] interesting = {0, -1, 1, 4, -4, 8, Integer.MAX_VALUE, Integer.MIN_VALUE, 0x7FFF, 0x8000,
                                0xFFFF, copy.length, copy.length - 4, -copy.length, bb.getInt(pos) + 4,
                                bb.getInt(pos) - 4};
                        bb.putInt(pos, interesting[rnd.nextInt(interesting.length)]);
                    }
                }
            }
        }
        return copy;
    }
}
