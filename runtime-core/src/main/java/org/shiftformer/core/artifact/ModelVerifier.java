package org.shiftformer.core.artifact;

import static org.shiftformer.core.artifact.ArtifactFormat.*;

import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier.Table;

/**
 * The schema-specific half of the verifier: walks every table, vector and string of {@code model.fbs}
 * that the reader will access and checks it with {@link FlatBufferVerifier}, together with the counts
 * and lengths of {@link ArtifactFormat} (so that nothing later allocates in proportion to a crafted
 * length). After {@link #verify} returns, the generated accessors of {@code org.shiftformer.proto.model}
 * can read every field of the model without leaving the buffer. Values are not judged here; that is
 * the reader's semantic step.
 *
 * <p>Fields of a later minor revision (vtable slots beyond those listed) are ignored, as FlatBuffers
 * intends; they are covered by the checksum but never read.
 */
final class ModelVerifier {
    private static final String[] CONFIG_FIELD_NAMES = {"d_model", "heads", "d_ff", "encoder_layers", "decoder_layers",
            "vocab_size", "max_positions", "embed_scale_log2", "pad_id", "bos_id", "eos_id"};

    private final FlatBufferVerifier v;

    private ModelVerifier(FlatBufferVerifier v) {
        this.v = v;
    }

    /** Verifies the whole buffer of {@code v} as a {@code Model}. */
    static void verify(FlatBufferVerifier v) {
        new ModelVerifier(v).model();
    }

    private void model() {
        Table m = v.beginTable("Model", v.rootTable("root table"));
        v.requiredField(m, MODEL_FORMAT_VERSION, "format_version", 4, 4);
        v.requiredField(m, MODEL_CHECKSUM, "checksum", CHECKSUM_BYTES, 8);
        v.requiredField(m, MODEL_FILE_SIZE, "file_size", 8, 8);
        config(v.offsetField(m, MODEL_CONFIG, "config", true));
        tokenizer(v.offsetField(m, MODEL_TOKENIZER, "tokenizer", true));
        tensors(v.offsetField(m, MODEL_TENSORS, "tensors", true));
        exponents(v.offsetField(m, MODEL_EXPONENTS, "exponents", true));
        v.vector("Model.softmax_lut", v.offsetField(m, MODEL_SOFTMAX_LUT, "softmax_lut", true), 4, SOFTMAX_LUT_ENTRIES);
        provenance(v.offsetField(m, MODEL_PROVENANCE, "provenance", true));
        v.endTable();
    }

    private void config(int pos) {
        Table t = v.beginTable("Model.config", pos);
        for (int id = 0; id < CONFIG_FIELDS; id++) {
            v.field(t, id, CONFIG_FIELD_NAMES[id], 4, 4);
        }
        v.endTable();
    }

    private void tokenizer(int pos) {
        Table t = v.beginTable("Model.tokenizer", pos);
        v.string("Model.tokenizer.kind", v.offsetField(t, TOKENIZER_KIND, "kind", true), MAX_NAME_BYTES);
        v.vector("Model.tokenizer.merges", v.offsetField(t, TOKENIZER_MERGES, "merges", true), MERGE_BYTES,
                TokenizerSpec.MAX_MERGES);
        v.endTable();
    }

    private void tensors(int pos) {
        int n = v.vector("Model.tensors", pos, 4, MAX_TENSORS);
        for (int i = 0; i < n; i++) {
            String path = "Model.tensors[" + i + "]";
            Table t = v.beginTable(path, v.vectorElementOffset("Model.tensors", pos, i));
            v.string(path + ".name", v.offsetField(t, TENSOR_NAME, "name", true), MAX_NAME_BYTES);
            v.field(t, TENSOR_DTYPE, "dtype", 1, 1);
            v.vector(path + ".shape", v.offsetField(t, TENSOR_SHAPE, "shape", true), 4, MAX_RANK);
            v.field(t, TENSOR_EXPONENT, "exponent", 4, 4);
            v.vector(path + ".data", v.offsetField(t, TENSOR_DATA, "data", true), 1, MAX_FILE_BYTES);
            v.endTable();
        }
    }

    private void exponents(int pos) {
        int n = v.vector("Model.exponents", pos, 4, MAX_EXPONENTS);
        for (int i = 0; i < n; i++) {
            String path = "Model.exponents[" + i + "]";
            Table t = v.beginTable(path, v.vectorElementOffset("Model.exponents", pos, i));
            v.string(path + ".name", v.offsetField(t, NAMED_EXPONENT_NAME, "name", true), MAX_NAME_BYTES);
            v.field(t, NAMED_EXPONENT_VALUE, "value", 4, 4);
            v.endTable();
        }
    }

    private void provenance(int pos) {
        Table t = v.beginTable("Model.provenance", pos);
        optionalString(t, PROVENANCE_TRAINER, "trainer");
        v.field(t, PROVENANCE_CREATED_UNIX_MS, "created_unix_ms", 8, 8);
        optionalString(t, PROVENANCE_DATA_HASH, "data_hash");
        optionalString(t, PROVENANCE_COMMAND, "command");
        optionalString(t, PROVENANCE_NOTES, "notes");
        int metrics = v.offsetField(t, PROVENANCE_METRICS, "metrics", false);
        if (metrics >= 0) {
            int n = v.vector("Model.provenance.metrics", metrics, 4, MAX_METRICS);
            for (int i = 0; i < n; i++) {
                String path = "Model.provenance.metrics[" + i + "]";
                Table m = v.beginTable(path, v.vectorElementOffset("Model.provenance.metrics", metrics, i));
                v.string(path + ".name", v.offsetField(m, METRIC_NAME, "name", true), MAX_NAME_BYTES);
                v.field(m, METRIC_VALUE, "value", 8, 8);
                v.endTable();
            }
        }
        v.endTable();
    }

    private void optionalString(Table t, int id, String name) {
        int pos = v.offsetField(t, id, name, false);
        if (pos >= 0) {
            v.string(t.path() + "." + name, pos, MAX_TEXT_BYTES);
        }
    }
}
