package org.shiftformer.protocol;

import org.shiftformer.proto.stream.Body;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier.Table;

/**
 * The schema walk of stream.fbs: checks, with {@link FlatBufferVerifier}, every table, vector and string
 * of a frame that {@link MessageReader} will read through the generated accessors, so that those
 * accessors cannot read outside the frame or decode malformed UTF-8. Field ids are those of stream.fbs
 * (declaration order; a union takes two ids, its type byte first). Fields a newer peer may append are
 * not looked at.
 */
final class StreamVerifier {
    /** Longest name-like string: names, versions, the tokenizer kind, the model checksum. */
    static final int MAX_NAME_BYTES = 1024;
    /** Every other string and vector is bounded by the frame itself. */
    private static final int UNBOUNDED = Integer.MAX_VALUE;
    /** Deepest nesting in stream.fbs is Frame > Welcome > ModelSummary > Backend. */
    static final int MAX_DEPTH = 8;
    /** Most tables a frame of stream.fbs can hold. */
    static final int MAX_TABLES = 16;

    /** The {@code int} fields of table ModelConfig, in id order. */
    private static final String[] MODEL_CONFIG_FIELDS = {"d_model", "heads", "d_ff", "encoder_layers",
        "decoder_layers", "vocab_size", "max_positions", "embed_scale_log2", "pad_id", "bos_id", "eos_id"};

    private final FlatBufferVerifier v;

    private StreamVerifier(FlatBufferVerifier v) {
        this.v = v;
    }

    /**
     * Verifies a whole frame (length prefix included, alignment counted from its first byte) whose
     * length and identifier were already checked. Returns the body type, a known member of
     * {@link Body}.
     */
    static int verify(FlatBufferVerifier v) {
        return new StreamVerifier(v).frame();
    }

    private int frame() {
        Table frame = v.beginTable("Frame", v.uoffset("Frame root", FrameLayout.ROOT_OFFSET));
        v.field(frame, 0, "request_id", 8, 8);
        int typePos = v.field(frame, 1, "body_type", 1, 1);
        int type = typePos < 0 ? Body.NONE : v.u8(typePos);
        if (type == Body.NONE) {
            throw v.invalid("frame has no body (body_type NONE)");
        }
        if (type >= Body.names.length) {
            throw v.invalid("unknown message type " + type);
        }
        String name = Body.name(type);
        Table body = v.beginTable(name, v.offsetField(frame, 2, "body", true));
        switch (type) {
            case Body.Hello -> hello(body);
            case Body.Welcome -> welcome(body);
            case Body.ModelInfoRequest, Body.Cancel -> { } // no fields
            case Body.ModelInfo -> modelInfo(body);
            case Body.TranslateRequest -> translateRequest(body);
            case Body.Token -> token(body);
            case Body.Done -> done(body);
            case Body.Error -> error(body);
            case Body.Cancelled -> v.field(body, 0, "token_count", 4, 4);
            case Body.Ping, Body.Pong -> v.field(body, 0, "nonce", 8, 8);
            default -> throw new IllegalStateException("Body type " + type + " has no verifier");
        }
        v.endTable();
        v.endTable();
        return type;
    }

    private void hello(Table t) {
        v.field(t, 0, "min_version", 2, 2);
        v.field(t, 1, "max_version", 2, 2);
        string(t, 2, "client_name", MAX_NAME_BYTES);
        string(t, 3, "token", MAX_NAME_BYTES);
    }

    private void welcome(Table t) {
        v.field(t, 0, "version", 2, 2);
        string(t, 1, "server_name", MAX_NAME_BYTES);
        string(t, 2, "server_version", MAX_NAME_BYTES);
        v.field(t, 3, "max_frame_bytes", 4, 4);
        v.field(t, 4, "max_in_flight", 4, 4);
        v.field(t, 5, "max_beam_width", 2, 2);
        int summary = v.offsetField(t, 6, "model", false);
        if (summary >= 0) {
            Table s = v.beginTable(t.path() + ".model", summary);
            string(s, 0, "sha256", MAX_NAME_BYTES);
            backend(s, 1);
            v.field(s, 2, "vocab_size", 4, 4);
            v.field(s, 3, "max_positions", 4, 4);
            v.endTable();
        }
    }

    private void modelInfo(Table t) {
        int config = v.offsetField(t, 0, "config", false);
        if (config >= 0) {
            Table c = v.beginTable(t.path() + ".config", config);
            for (int id = 0; id < MODEL_CONFIG_FIELDS.length; id++) {
                v.field(c, id, MODEL_CONFIG_FIELDS[id], 4, 4);
            }
            v.endTable();
        }
        string(t, 1, "sha256", MAX_NAME_BYTES);
        backend(t, 2);
        string(t, 3, "tokenizer_kind", MAX_NAME_BYTES);
        string(t, 4, "trainer", UNBOUNDED);
    }

    private void translateRequest(Table t) {
        string(t, 0, "text", UNBOUNDED);
        int tokens = v.offsetField(t, 1, "tokens", false);
        if (tokens >= 0) {
            v.vector(t.path() + ".tokens", tokens, 4, UNBOUNDED);
        }
        params(t, 2);
        v.field(t, 3, "deadline_ms", 4, 4);
        v.field(t, 4, "stream", 1, 1);
        int resume = v.offsetField(t, 5, "resume_tokens", false);
        if (resume >= 0) {
            v.vector(t.path() + ".resume_tokens", resume, 4, UNBOUNDED);
        }
        string(t, 6, "model_sha256", MAX_NAME_BYTES);
    }

    private void token(Table t) {
        v.field(t, 0, "token", 4, 4);
        utf8Bytes(t, 1, "text");
        v.field(t, 2, "index", 4, 4);
        v.field(t, 3, "device_cycles", 8, 8);
    }

    private void done(Table t) {
        v.field(t, 0, "token_count", 4, 4);
        v.field(t, 1, "finished_by_eos", 1, 1);
        v.field(t, 2, "score", 8, 8);
        v.field(t, 3, "queue_ns", 8, 8);
        v.field(t, 4, "first_token_ns", 8, 8);
        v.field(t, 5, "total_ns", 8, 8);
        v.field(t, 6, "device_cycles", 8, 8);
        backend(t, 7);
        string(t, 8, "model_sha256", MAX_NAME_BYTES);
        params(t, 9);
        int tokens = v.offsetField(t, 10, "tokens", false);
        if (tokens >= 0) {
            v.vector(t.path() + ".tokens", tokens, 4, UNBOUNDED);
        }
        string(t, 11, "text", UNBOUNDED);
        utf8Bytes(t, 12, "text_tail");
        v.field(t, 13, "resumed_from", 4, 4);
    }

    private void error(Table t) {
        v.field(t, 0, "code", 4, 4);
        string(t, 1, "message", UNBOUNDED);
    }

    private void backend(Table t, int id) {
        int pos = v.offsetField(t, id, "backend", false);
        if (pos >= 0) {
            Table b = v.beginTable(t.path() + ".backend", pos);
            string(b, 0, "name", MAX_NAME_BYTES);
            string(b, 1, "device", MAX_NAME_BYTES);
            string(b, 2, "version", MAX_NAME_BYTES);
            v.endTable();
        }
    }

    private void params(Table t, int id) {
        int pos = v.offsetField(t, id, "params", false);
        if (pos >= 0) {
            Table p = v.beginTable(t.path() + ".params", pos);
            v.field(p, 0, "beam_width", 2, 2);
            v.field(p, 1, "max_new_tokens", 4, 4);
            v.field(p, 2, "alpha_q8", 2, 2);
            v.endTable();
        }
    }

    private void string(Table t, int id, String name, int maxBytes) {
        int pos = v.offsetField(t, id, name, false);
        if (pos >= 0) {
            v.string(t.path() + "." + name, pos, maxBytes);
        }
    }

    /** A {@code [ubyte]} of UTF-8 text: no NUL terminator required, but it must be well-formed. */
    private void utf8Bytes(Table t, int id, String name) {
        int pos = v.offsetField(t, id, name, false);
        if (pos >= 0) {
            String path = t.path() + "." + name;
            int length = v.vector(path, pos, 1, UNBOUNDED);
            long data = FlatBufferVerifier.vectorData(pos);
            long bad = v.firstInvalidUtf8(data, data + length);
            if (bad >= 0) {
                throw v.invalid(path + ": " + length + " bytes at " + pos + " are not valid UTF-8 (byte "
                        + (bad - data) + ")");
            }
        }
    }
}
