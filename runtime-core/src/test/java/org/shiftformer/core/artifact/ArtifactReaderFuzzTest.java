package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.protocol.FuzzCounters;

/**
 * Jazzer fuzz target of the artifact reader ({@link ArtifactReader}: header, checksum,
 * {@link org.shiftformer.protocol.flatbuffers.FlatBufferVerifier}, {@link ModelVerifier}, semantics). Every input is a file; it must load a
 * model that {@link TransformerWeights#of} accepts and {@link ArtifactInspector} can describe, or be
 * rejected with a ShiftformerException INVALID_ARTIFACT or UNSUPPORTED_VERSION naming the file and the
 * problem ({@link TestArtifacts#assertCleanRejection}: never the reader's "verifier gap" safety net, never
 * another exception).
 *
 * <p>Each input is read twice: as it is (mostly stopped by the SHA-256 check, as random damage should be)
 * and resealed with a correct file size and checksum, as a deliberate forger would, so that mutations
 * reach the structural and semantic checks. A reading may not allocate more than
 * {@link #allocationBound} bytes: a length or count field must not make the reader allocate beyond what
 * the file itself holds (the fuzzing JVM's heap is also small, FUZZING.md).
 *
 * <p>Without {@code JAZZER_FUZZ} this runs the committed corpus ({@code ArtifactReaderFuzzTestInputs/artifacts}:
 * small valid artifacts, and every crash ever found) with the unit tests; {@code mvn verify} also fuzzes it
 * for a fixed time.
 */
class ArtifactReaderFuzzTest {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final FuzzCounters COUNTERS = new FuzzCounters("artifacts", "readings", "valid models",
            "rejections");

    static {
        // Loading and initialising the reader's classes and static tables happens once per JVM and would be
        // counted against the first input: read a valid file first.
        byte[] warmUp = TestArtifacts.smallFile();
        TransformerWeights.of(TestArtifacts.read(warmUp).model());
    }

    @AfterAll
    static void report() {
        COUNTERS.print();
    }

    @FuzzTest(maxDuration = "25s")
    void artifacts(byte[] file) {
        COUNTERS.execution();
        read(file);
        byte[] resealed = TestArtifacts.resealed(file);
        if (!Arrays.equals(resealed, file)) {
            read(resealed);
        }
    }

    /**
     * Allocation allowed for reading a file of {@code fileBytes}: a fixed allowance for the reader's own
     * objects plus a small multiple of the file (tensor tables, names, the int arrays of merges and the
     * softmax table are all bounded by what the file holds).
     */
    static long allocationBound(long fileBytes) {
        return (16L << 20) + 64 * fileBytes;
    }

    /**
     * Rewrites the committed seeds (only with {@code -Dgroups=fuzz-seeds}, FUZZING.md): the small artifact of
     * {@link TestArtifacts} and one with BPE merges and a larger vocabulary, both valid.
     */
    @Test
    @Tag("fuzz-seeds") // excluded from normal runs (runtime-core/pom.xml): it rewrites committed files
    void writeSeeds() throws IOException {
        Path dir = Path.of("src/test/resources/org/shiftformer/core/artifact/ArtifactReaderFuzzTestInputs/artifacts");
        Files.createDirectories(dir);
        Files.write(dir.resolve("seed-small"), TestArtifacts.smallFile());
        ModelConfig withMerges = TestArtifacts.withVocab(TestArtifacts.SMALL, 259 + 3);
        RawArtifact raw = RawArtifact.of(RandomModels.generate(withMerges, 3), TestArtifacts.merges(3),
                TestArtifacts.provenance());
        byte[] file = TestArtifacts.encode(raw);
        TestArtifacts.read(file); // valid
        Files.write(dir.resolve("seed-merges"), file);
    }

    private static void read(byte[] file) {
        COUNTERS.add(0, 1);
        long before = THREADS.getCurrentThreadAllocatedBytes();
        try {
            Artifact a = TestArtifacts.read(file);
            TransformerWeights.of(a.model());
            ArtifactInspector.report(TestArtifacts.NAME, file.length, a);
            COUNTERS.add(1, 1);
        } catch (ShiftformerException e) {
            TestArtifacts.assertCleanRejection(e);
            COUNTERS.add(2, 1);
        }
        long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated <= allocationBound(file.length), () -> "reading a file of " + file.length
                + " bytes allocated " + allocated + " bytes, more than " + allocationBound(file.length));
    }
}
