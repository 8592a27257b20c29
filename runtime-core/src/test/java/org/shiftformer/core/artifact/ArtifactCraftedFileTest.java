package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.spec.Tables;
import org.shiftformer.core.artifact.RawArtifact.RawTensor;
import org.shiftformer.proto.model.DType;

/**
 * Files with a valid checksum that are wrong in one specific way, built with the raw encoder or by
 * patching bytes and resealing: each is rejected with a message naming the problem.
 */
class ArtifactCraftedFileTest {
    private static final RawArtifact RAW = TestArtifacts.smallRaw();
    private static final byte[] FILE = TestArtifacts.encode(RAW);

    private static void assertRejected(byte[] file, ErrorCode code, String... fragments) {
        ShiftformerException e = TestArtifacts.rejected(file);
        assertEquals(code, e.code(), e::getMessage);
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), () -> "expected \"" + f + "\" in: " + e.getMessage());
        }
    }

    private static void assertRejected(RawArtifact raw, String... fragments) {
        assertRejected(TestArtifacts.encode(raw), ErrorCode.INVALID_ARTIFACT, fragments);
    }

    private static RawTensor reshaped(RawTensor t, int[] shape, int dataBytes) {
        return new RawTensor(t.name(), t.dtype(), shape, t.exponent(), MemorySegment.ofArray(new byte[dataBytes]));
    }

    @Test
    void theUnmodifiedSmallFileLoads() {
        assertEquals(TestArtifacts.SMALL, TestArtifacts.read(FILE).model().config());
    }

    // ---- header ------------------------------------------------------------------------------------

    @Test
    void newerFormatVersionIsUnsupportedVersion() {
        assertRejected(TestArtifacts.encode(TestArtifacts.withVersion(RAW, 2)), ErrorCode.UNSUPPORTED_VERSION,
                "model.itm: artifact format version 2, this build reads 1");
    }

    @Test
    void versionIsReportedEvenWhenTheRestOfANewerFormatDiffers() {
        // A later format may move or change the checksum: the version is checked first.
        byte[] file = TestArtifacts.encode(TestArtifacts.withVersion(RAW, 7));
        ByteBuffer bb = TestArtifacts.le(file);
        int checksum = TestArtifacts.field(bb, TestArtifacts.rootTable(bb), ArtifactFormat.MODEL_CHECKSUM);
        bb.putLong(checksum, 0x1234);
        assertRejected(file, ErrorCode.UNSUPPORTED_VERSION, "artifact format version 7");
    }

    @Test
    void missingFormatVersionIsRejected() {
        assertRejected(TestArtifacts.withVersion(RAW, 0), "Model.format_version is missing");
    }

    @Test
    void wrongFileIdentifierIsRejected() {
        byte[] file = FILE.clone();
        file[7] = 'X';
        assertRejected(TestArtifacts.resealed(file), ErrorCode.INVALID_ARTIFACT,
                "not a shiftformer artifact: file identifier is \"SFTX\"");
    }

    @Test
    void missingRequiredTableIsRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> {
            int vt = TestArtifacts.vtable(bb, TestArtifacts.rootTable(bb));
            bb.putShort(vt + 4 + 2 * ArtifactFormat.MODEL_CONFIG, (short) 0);
        });
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "Model.config is missing");
    }

    // ---- structure ---------------------------------------------------------------------------------

    @Test
    void vtablePointingOutsideTheBufferIsRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> bb.putInt(TestArtifacts.tensorTable(bb, 1), -0x100000));
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "Model.tensors[1]: vtable at", "lies outside the buffer");
    }

    @Test
    void rootVtablePointingBeforeTheBufferIsRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> bb.putInt(TestArtifacts.rootTable(bb), 0x7FFFFFF0));
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "Model: vtable at -", "lies outside the buffer");
    }

    @Test
    void hugeVectorLengthIsRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> {
            int data = TestArtifacts.target(bb, TestArtifacts.tensorTable(bb, 0), ArtifactFormat.TENSOR_DATA);
            bb.putInt(data, 0x7FFFFFF0);
        });
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "Model.tensors[0].data: vector of 2147483632 elements",
                "extends past the end of the buffer");

        byte[] tooMany = TestArtifacts.patched(FILE, bb -> {
            int tensors = TestArtifacts.target(bb, TestArtifacts.rootTable(bb), ArtifactFormat.MODEL_TENSORS);
            bb.putInt(tensors, -1);
        });
        assertRejected(tooMany, ErrorCode.INVALID_ARTIFACT, "Model.tensors: 4294967295 elements, at most 65536 allowed");
    }

    @Test
    void fieldOutsideItsTableIsRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> {
            int vt = TestArtifacts.vtable(bb, TestArtifacts.tensorTable(bb, 2));
            bb.putShort(vt + 4 + 2 * ArtifactFormat.TENSOR_EXPONENT, (short) 0x4000);
        });
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "Model.tensors[2].exponent: field at table offset 16384",
                "lies outside the table");
    }

    @Test
    void misalignedOffsetIsRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> {
            int field = TestArtifacts.field(bb, TestArtifacts.tensorTable(bb, 0), ArtifactFormat.TENSOR_SHAPE);
            bb.putInt(field, bb.getInt(field) + 1);
        });
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "Model.tensors[0].shape length", "not aligned to 4 bytes");
    }

    @Test
    void invalidUtf8InANameIsRejected() {
        byte[] file = FILE.clone();
        file[TestArtifacts.find(file, "pos.table") + 3] = (byte) 0xC0;
        assertRejected(TestArtifacts.resealed(file), ErrorCode.INVALID_ARTIFACT, "name: string at", "not valid UTF-8");
    }

    @Test
    void stringWithoutNulTerminatorIsRejected() {
        byte[] file = FILE.clone();
        int at = TestArtifacts.find(file, "pos.table");
        file[at + "pos.table".length()] = 'x';
        assertRejected(TestArtifacts.resealed(file), ErrorCode.INVALID_ARTIFACT, "is not NUL-terminated");
    }

    // ---- tensors -----------------------------------------------------------------------------------

    @Test
    void tensorDataLengthNotMatchingItsShapeIsRejected() {
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.weight", t -> reshaped(t, t.shape(), 63));
        assertRejected(raw, "model.itm: tensor enc.0.attn.q.weight: data is 63 bytes, shape [8, 8] of INT8 needs 64");
    }

    @Test
    void negativeDimensionIsRejected() {
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.weight", t -> reshaped(t, new int[] {-8, -8}, 64));
        assertRejected(raw, "tensor enc.0.attn.q.weight: dimension -8 in shape [-8, -8] is not positive");
    }

    @Test
    void zeroDimensionIsRejected() {
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.bias", t -> reshaped(t, new int[] {0}, 0));
        assertRejected(raw, "tensor enc.0.attn.q.bias: dimension 0 in shape [0] is not positive");
    }

    @Test
    void shapeWhoseProductOverflowsIsRejected() {
        int big = Integer.MAX_VALUE;
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.weight",
                t -> reshaped(t, new int[] {big, big, big, big, big, big, big, big}, 64));
        assertRejected(raw, "tensor enc.0.attn.q.weight: data is 64 bytes", "needs more than 2147483647");
    }

    @Test
    void emptyAndOverlongShapesAreRejected() {
        assertRejected(TestArtifacts.withTensor(RAW, "enc.0.attn.q.bias", t -> reshaped(t, new int[0], 32)),
                "tensor enc.0.attn.q.bias: empty shape");
        assertRejected(TestArtifacts.withTensor(RAW, "enc.0.attn.q.bias", t -> reshaped(t, new int[9], 32)),
                "Model.tensors[", "].shape: 9 elements, at most 8 allowed");
    }

    @Test
    void unknownDtypeIsRejected() {
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.bias",
                t -> new RawTensor(t.name(), (byte) 9, t.shape(), t.exponent(), t.data()));
        assertRejected(raw, "tensor enc.0.attn.q.bias: unknown dtype 9");
    }

    @Test
    void wrongDtypeIsRejected() {
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.bias",
                t -> new RawTensor(t.name(), DType.UINT8, new int[] {32}, t.exponent(), t.data()));
        assertRejected(raw, "tensor enc.0.attn.q.bias is UINT8, expected INT32");
    }

    @Test
    void duplicatedTensorNameIsRejected() {
        List<RawTensor> tensors = new ArrayList<>(RAW.tensors());
        tensors.add(tensors.get(3));
        assertRejected(TestArtifacts.withTensors(RAW, tensors), "tensor " + tensors.get(3).name() + " appears twice");

        byte[] renamed = TestArtifacts.replaced(FILE, "enc.0.attn.k.bias", "enc.0.attn.q.bias");
        assertRejected(renamed, ErrorCode.INVALID_ARTIFACT, "tensor enc.0.attn.q.bias appears twice");
    }

    @Test
    void missingTensorIsRejected() {
        List<RawTensor> tensors = new ArrayList<>(RAW.tensors());
        tensors.remove(TestArtifacts.tensorIndex(RAW, "dec.0.ffn.2.bias"));
        assertRejected(TestArtifacts.withTensors(RAW, tensors), "missing tensor dec.0.ffn.2.bias");
    }

    @Test
    void unexpectedTensorIsRejected() {
        List<RawTensor> tensors = new ArrayList<>(RAW.tensors());
        RawTensor t = tensors.get(TestArtifacts.tensorIndex(RAW, "enc.0.attn.q.bias"));
        tensors.add(new RawTensor("enc.0.attn.extra", t.dtype(), t.shape(), t.exponent(), t.data()));
        assertRejected(TestArtifacts.withTensors(RAW, tensors), "unexpected tensor(s) [enc.0.attn.extra]");
    }

    @Test
    void tensorsSharingDataBytesAreRejected() {
        byte[] file = TestArtifacts.patched(FILE, bb -> {
            int q = TestArtifacts.tensorTable(bb, TestArtifacts.tensorIndex(RAW, "enc.0.attn.q.bias"));
            int k = TestArtifacts.tensorTable(bb, TestArtifacts.tensorIndex(RAW, "enc.0.attn.k.bias"));
            int qData = TestArtifacts.target(bb, q, ArtifactFormat.TENSOR_DATA);
            int kField = TestArtifacts.field(bb, k, ArtifactFormat.TENSOR_DATA);
            bb.putInt(kField, qData - kField);
        });
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "share data bytes");
    }

    @Test
    void tensorExponentOutOfRangeIsRejected() {
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.weight",
                t -> new RawTensor(t.name(), t.dtype(), t.shape(), 99, t.data()));
        assertRejected(raw, "tensor enc.0.attn.q.weight: exponent 99 is outside [-48, 16]");
    }

    @Test
    void accumulatorBoundViolationIsRejected() {
        byte[] big = new byte[32];
        ByteBuffer.wrap(big).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, Integer.MAX_VALUE);
        RawArtifact raw = TestArtifacts.withTensor(RAW, "enc.0.attn.q.bias",
                t -> new RawTensor(t.name(), t.dtype(), t.shape(), t.exponent(), MemorySegment.ofArray(big)));
        assertRejected(raw, "accumulator bound of enc.0.attn.q row 0");
    }

    // ---- exponents, softmax table ------------------------------------------------------------------

    @Test
    void embedScaleLog2IsLoadedInsideSpecRangeAndRejectedOutside() {
        ModelConfig c = RAW.config();
        for (int s : new int[] {0, 16}) {
            ModelConfig inRange = new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(),
                    c.vocabSize(), c.maxPositions(), s, c.padId(), c.bosId(), c.eosId());
            assertEquals(s, TestArtifacts.read(TestArtifacts.encode(TestArtifacts.withConfig(RAW, inRange)))
                    .model().config().embedScaleLog2());
        }
        for (int s : new int[] {-1, 17}) {
            ModelConfig outside = new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(),
                    c.vocabSize(), c.maxPositions(), s, c.padId(), c.bosId(), c.eosId());
            assertRejected(TestArtifacts.withConfig(RAW, outside), "embed_scale_log2 " + s + " must be in [0, 16]");
        }
    }

    @Test
    void activationExponentOutOfRangeIsRejected() {
        Map<String, Integer> exps = new LinkedHashMap<>(RAW.exponents());
        exps.put("enc.0.attn.q.out", 40);
        assertRejected(TestArtifacts.withExponents(RAW, exps), "exponent enc.0.attn.q.out is 40, outside [-48, 16]");
    }

    @Test
    void shiftOutOfRangeIsRejected() {
        Map<String, Integer> exps = new LinkedHashMap<>(RAW.exponents());
        exps.put("enc.0.attn.q.out", -48);
        assertRejected(TestArtifacts.withExponents(RAW, exps), "shift", "enc.0.attn.q.out");
    }

    @Test
    void duplicatedExponentNameIsRejected() {
        byte[] file = TestArtifacts.replaced(FILE, "enc.0.attn.k.out", "enc.0.attn.q.out");
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "exponent enc.0.attn.q.out appears twice");
    }

    @Test
    void missingExponentIsRejected() {
        Map<String, Integer> exps = new LinkedHashMap<>(RAW.exponents());
        exps.remove("dec.final.out");
        assertRejected(TestArtifacts.withExponents(RAW, exps), "missing exponent dec.final.out");
    }

    @Test
    void wrongSoftmaxTableIsRejected() {
        int[] lut = Tables.exp2Lut();
        lut[5]++;
        assertRejected(TestArtifacts.withLut(RAW, lut), "softmax table differs from SPEC.md appendix A");
        assertRejected(TestArtifacts.withLut(RAW, new int[65]), "Model.softmax_lut: 65 elements, at most 64 allowed");
        assertRejected(TestArtifacts.withLut(RAW, new int[0]), "softmax table differs");
    }

    // ---- tokenizer and config ----------------------------------------------------------------------

    @Test
    void mergeReferringToALaterIdIsRejected() {
        RawArtifact raw = TestArtifacts.withConfig(TestArtifacts.withTokenizer(RAW, "byte-bpe", new int[] {100, 260},
                new int[] {101, 100}), TestArtifacts.withVocab(TestArtifacts.SMALL, 261));
        assertRejected(raw, "tokenizer: merge 1 (260, 100) must refer to byte ids or earlier merges, ids in [3, 260)");
    }

    @Test
    void mergeReferringToASpecialIdIsRejected() {
        RawArtifact raw = TestArtifacts.withConfig(TestArtifacts.withTokenizer(RAW, "byte-bpe", new int[] {2},
                new int[] {100}), TestArtifacts.withVocab(TestArtifacts.SMALL, 260));
        assertRejected(raw, "tokenizer: merge 0 (2, 100)");
    }

    @Test
    void vocabularyNotMatchingTheConfigIsRejected() {
        RawArtifact raw = TestArtifacts.withTokenizer(RAW, "byte-bpe", new int[] {100}, new int[] {101});
        assertRejected(raw, "tokenizer: 1 merges give a vocabulary of 260 (259 + merges), but the model config says "
                + "vocab_size 259");
    }

    @Test
    void unknownTokenizerKindIsRejected() {
        assertRejected(TestArtifacts.withTokenizer(RAW, "sentencepiece", new int[0], new int[0]),
                "tokenizer kind \"sentencepiece\" is not supported");
    }

    @Test
    void specialIdsDifferentFromTheTokenizersAreRejected() {
        ModelConfig c = TestArtifacts.SMALL;
        ModelConfig swapped = new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(),
                c.vocabSize(), c.maxPositions(), c.embedScaleLog2(), 0, 2, 1);
        RawArtifact raw = RawArtifact.of(RandomModels.generate(swapped, 7), TokenizerSpec.bytesOnly(),
                TestArtifacts.provenance());
        assertRejected(raw, "special ids pad 0, bos 2, eos 1 differ from the byte-bpe tokenizer's 0, 1, 2");
    }

    @Test
    void invalidConfigIsRejected() {
        ModelConfig c = TestArtifacts.SMALL;
        ModelConfig bad = new ModelConfig(12, c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(), c.vocabSize(),
                c.maxPositions(), c.embedScaleLog2(), c.padId(), c.bosId(), c.eosId());
        assertRejected(TestArtifacts.withConfig(RAW, bad), "model config: d_model 12 must be a power of two");
    }

    @Test
    void duplicatedMetricNameIsRejected() {
        byte[] file = TestArtifacts.replaced(FILE, "int8.exact_match", "fp32.exact_match");
        assertRejected(file, ErrorCode.INVALID_ARTIFACT, "provenance: metric fp32.exact_match appears twice");
    }
}
