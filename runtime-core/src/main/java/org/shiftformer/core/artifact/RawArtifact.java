package org.shiftformer.core.artifact;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.shiftformer.api.DType;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;

/**
 * What an artifact file says, field by field, before any validation: the input of
 * {@link ArtifactWriter#encode}. The public writer builds one from validated values; tests build
 * invalid ones to craft files the reader must reject.
 */
record RawArtifact(long formatVersion, ModelConfig config, String tokenizerKind, int[] mergeLeft, int[] mergeRight,
                   List<RawTensor> tensors, Map<String, Integer> exponents, int[] softmaxLut, Provenance provenance) {

    /** One tensor as stored: the dtype is the raw enum byte of model.fbs. */
    record RawTensor(String name, byte dtype, int[] shape, int exponent, MemorySegment data) {
        static RawTensor of(QTensor t) {
            return new RawTensor(t.name(), dtypeCode(t.dtype()), t.shape(), t.exponent(), t.data());
        }
    }

    static RawArtifact of(QuantizedModel model, TokenizerSpec tokenizer, Provenance provenance) {
        List<RawTensor> tensors = new ArrayList<>();
        for (QTensor t : model.tensors().values()) {
            tensors.add(RawTensor.of(t));
        }
        return new RawArtifact(ArtifactFormat.VERSION, model.config(), TokenizerSpec.KIND, tokenizer.mergeLeft(),
                tokenizer.mergeRight(), tensors, new LinkedHashMap<>(model.exponents()), model.softmaxLut(), provenance);
    }

    /** The model.fbs enum value of {@code dtype}. */
    static byte dtypeCode(DType dtype) {
        return switch (dtype) {
            case INT8 -> org.shiftformer.proto.model.DType.INT8;
            case UINT8 -> org.shiftformer.proto.model.DType.UINT8;
            case INT16 -> org.shiftformer.proto.model.DType.INT16;
            case INT32 -> org.shiftformer.proto.model.DType.INT32;
        };
    }

    /** The dtype of a model.fbs enum value, or null for a value this format does not define. */
    static DType dtypeOf(byte code) {
        return switch (code) {
            case org.shiftformer.proto.model.DType.INT8 -> DType.INT8;
            case org.shiftformer.proto.model.DType.UINT8 -> DType.UINT8;
            case org.shiftformer.proto.model.DType.INT16 -> DType.INT16;
            case org.shiftformer.proto.model.DType.INT32 -> DType.INT32;
            default -> null;
        };
    }
}
