package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.RandomModels;

/** Shared fixtures: a deliberately small model, raw encodings, resealing, and raw navigation of a file. */
final class TestArtifacts {
    /** d_model 8, 2 heads, d_ff 8, 1+1 layers, vocab 259 (no merges), 4 positions. */
    static final ModelConfig SMALL = new ModelConfig(8, 2, 8, 1, 1, 259, 4, 2, 0, 1, 2);
    static final String NAME = "model.itm";

    private TestArtifacts() {
    }

    static QuantizedModel smallModel() {
        return RandomModels.generate(SMALL, 7);
    }

    static ModelConfig withVocab(ModelConfig c, int vocab) {
        return new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(), vocab,
                c.maxPositions(), c.embedScaleLog2(), c.padId(), c.bosId(), c.eosId());
    }

    /** {@code n} valid, distinct merges: merge r = (3 + 'a' + r % 26, 3 + 'b' + r / 26). */
    static TokenizerSpec merges(int n) {
        int[] left = new int[n];
        int[] right = new int[n];
        for (int r = 0; r < n; r++) {
            left[r] = 3 + 'a' + r % 26;
            right[r] = 3 + 'b' + r / 26;
        }
        return new TokenizerSpec(left, right);
    }

    static Provenance provenance() {
        Map<String, Double> metrics = new LinkedHashMap<>();
        metrics.put("fp32.exact_match", 0.975);
        metrics.put("int8.exact_match", 0.9625);
        metrics.put("int8.chrf", 88.5);
        return new Provenance("shiftformer-trainer test", 1_700_000_000_123L, "sha256:feedface", "train --preset tiny",
                "ünïcödé notes ✓", metrics);
    }

    static RawArtifact smallRaw() {
        return RawArtifact.of(smallModel(), TokenizerSpec.bytesOnly(), provenance());
    }

    static byte[] encode(RawArtifact raw) {
        return ArtifactWriter.encode(raw).toByteArray();
    }

    static byte[] smallFile() {
        return encode(smallRaw());
    }

    static Artifact read(byte[] file) {
        return ArtifactReader.read(NAME, MemorySegment.ofArray(file));
    }

    /**
     * Asserts that reading {@code file} fails with a ShiftformerException of an artifact code, that is
     * not the reader's "verifier gap" safety net, and returns it.
     */
    static ShiftformerException rejected(byte[] file) {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> read(file));
        assertCleanRejection(e);
        return e;
    }

    /**
     * The checks of {@link #rejected}. The safety net is recognised by its form (ArtifactReader.read: the
     * message starts with "NAME: malformed artifact (unexpected", the cause is not a ShiftformerException),
     * not by the words "verifier gap" anywhere in the message: messages quote names from the file, and the
     * fuzzer once wrote a tensor called "dverifier gapa" (ArtifactReaderFuzzTestInputs/artifacts/crash-fb3c65...).
     */
    static void assertCleanRejection(ShiftformerException e) {
        assertTrue(e.code() == ErrorCode.INVALID_ARTIFACT || e.code() == ErrorCode.UNSUPPORTED_VERSION,
                () -> "unexpected code " + e);
        assertFalse(e.getMessage().startsWith(NAME + ": malformed artifact (unexpected "), () -> "safety net hit: " + e);
        assertTrue(e.getCause() == null || e.getCause() instanceof ShiftformerException,
                () -> "unexpected cause of " + e + ": " + e.getCause());
        assertTrue(e.getMessage().startsWith(NAME + ": ") || e.getMessage().contains(NAME),
                () -> "message does not name the file: " + e.getMessage());
    }

    /**
     * A copy of {@code file} with file_size and the checksum recomputed, as a deliberate forger would.
     * If the header itself cannot be located there is nothing to reseal and the copy is returned as is.
     */
    static byte[] resealed(byte[] file) {
        byte[] copy = file.clone();
        MemorySegment seg = MemorySegment.ofArray(copy);
        ArtifactHeader h;
        try {
            h = ArtifactHeader.locate(ArtifactFormat.verifier(NAME, seg));
        } catch (ShiftformerException headerBroken) {
            return copy;
        }
        ByteBuffer bb = le(copy);
        if (h.fileSizePos() >= 0) {
            bb.putLong(h.fileSizePos(), copy.length);
        }
        if (h.checksumPos() >= 0 && h.checksumPos() + 32 <= copy.length) {
            ArtifactChecksum.store(seg, h.checksumPos(), ArtifactChecksum.compute(seg, h.checksumPos()));
        }
        return copy;
    }

    /** Applies {@code edit} to a copy of {@code file} and reseals it. */
    static byte[] patched(byte[] file, java.util.function.Consumer<ByteBuffer> edit) {
        byte[] copy = file.clone();
        edit.accept(le(copy));
        return resealed(copy);
    }

    static ByteBuffer le(byte[] bytes) {
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    // ---- raw navigation (independent of the reader's code) ----------------------------------------

    static int rootTable(ByteBuffer bb) {
        return bb.getInt(0);
    }

    static int vtable(ByteBuffer bb, int table) {
        return table - bb.getInt(table);
    }

    /** Position of field {@code id} of the table at {@code table}, or -1. */
    static int field(ByteBuffer bb, int table, int id) {
        int vt = vtable(bb, table);
        int slot = 4 + 2 * id;
        if (slot >= bb.getShort(vt)) {
            return -1;
        }
        int off = bb.getShort(vt + slot);
        return off == 0 ? -1 : table + off;
    }

    /** Target of the uoffset field {@code id} of the table at {@code table}. */
    static int target(ByteBuffer bb, int table, int id) {
        int pos = field(bb, table, id);
        return pos + bb.getInt(pos);
    }

    /** Position of the Tensor table at {@code index}. */
    static int tensorTable(ByteBuffer bb, int index) {
        int vec = target(bb, rootTable(bb), ArtifactFormat.MODEL_TENSORS);
        int elem = vec + 4 + 4 * index;
        return elem + bb.getInt(elem);
    }

    /** Index of the tensor called {@code name}. */
    static int tensorIndex(RawArtifact raw, String name) {
        for (int i = 0; i < raw.tensors().size(); i++) {
            if (raw.tensors().get(i).name().equals(name)) {
                return i;
            }
        }
        throw new AssertionError("no tensor " + name);
    }

    /** The only position of {@code text}'s UTF-8 bytes in {@code file}. */
    static int find(byte[] file, String text) {
        byte[] needle = text.getBytes(StandardCharsets.UTF_8);
        int found = -1;
        for (int i = 0; i + needle.length <= file.length; i++) {
            if (java.util.Arrays.equals(file, i, i + needle.length, needle, 0, needle.length)) {
                if (found >= 0) {
                    throw new AssertionError("\"" + text + "\" occurs more than once");
                }
                found = i;
            }
        }
        if (found < 0) {
            throw new AssertionError("\"" + text + "\" not found");
        }
        return found;
    }

    /** Replaces the only occurrence of {@code from} by {@code to} (same UTF-8 length) and reseals. */
    static byte[] replaced(byte[] file, String from, String to) {
        byte[] a = from.getBytes(StandardCharsets.UTF_8);
        byte[] b = to.getBytes(StandardCharsets.UTF_8);
        if (a.length != b.length) {
            throw new AssertionError("lengths differ");
        }
        int at = find(file, from);
        byte[] copy = file.clone();
        System.arraycopy(b, 0, copy, at, b.length);
        return resealed(copy);
    }

    // ---- RawArtifact variations ---------------------------------------------------------------------

    static RawArtifact withVersion(RawArtifact r, long version) {
        return new RawArtifact(version, r.config(), r.tokenizerKind(), r.mergeLeft(), r.mergeRight(), r.tensors(),
                r.exponents(), r.softmaxLut(), r.provenance());
    }

    static RawArtifact withConfig(RawArtifact r, ModelConfig config) {
        return new RawArtifact(r.formatVersion(), config, r.tokenizerKind(), r.mergeLeft(), r.mergeRight(), r.tensors(),
                r.exponents(), r.softmaxLut(), r.provenance());
    }

    static RawArtifact withTokenizer(RawArtifact r, String kind, int[] left, int[] right) {
        return new RawArtifact(r.formatVersion(), r.config(), kind, left, right, r.tensors(), r.exponents(),
                r.softmaxLut(), r.provenance());
    }

    static RawArtifact withTensors(RawArtifact r, List<RawArtifact.RawTensor> tensors) {
        return new RawArtifact(r.formatVersion(), r.config(), r.tokenizerKind(), r.mergeLeft(), r.mergeRight(), tensors,
                r.exponents(), r.softmaxLut(), r.provenance());
    }

    static RawArtifact withExponents(RawArtifact r, Map<String, Integer> exponents) {
        return new RawArtifact(r.formatVersion(), r.config(), r.tokenizerKind(), r.mergeLeft(), r.mergeRight(),
                r.tensors(), exponents, r.softmaxLut(), r.provenance());
    }

    static RawArtifact withLut(RawArtifact r, int[] lut) {
        return new RawArtifact(r.formatVersion(), r.config(), r.tokenizerKind(), r.mergeLeft(), r.mergeRight(),
                r.tensors(), r.exponents(), lut, r.provenance());
    }

    /** {@code r} with the tensor called {@code name} replaced by {@code edit} of it. */
    static RawArtifact withTensor(RawArtifact r, String name, UnaryOperator<RawArtifact.RawTensor> edit) {
        List<RawArtifact.RawTensor> tensors = new ArrayList<>(r.tensors());
        int i = tensorIndex(r, name);
        tensors.set(i, edit.apply(tensors.get(i)));
        return withTensors(r, tensors);
    }
}
