package org.shiftformer.core.artifact;

import java.lang.foreign.MemorySegment;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier;

/**
 * The constants of artifact format 1, in one place: identifier, version, size bounds, the limits the
 * reader enforces before it allocates anything, and the FlatBuffers field ids of {@code model.fbs}
 * that are read without the generated code (the header fields, located before the file is
 * verified). See the package documentation for the layout and ARTIFACT.md for the full contract.
 */
public final class ArtifactFormat {
    /** The FlatBuffers file identifier, bytes 4..7 of every artifact. */
    public static final String FILE_IDENTIFIER = "SFTM";
    /** The conventional file extension. */
    public static final String FILE_EXTENSION = ".itm";
    /** The format version this build writes and reads. */
    public static final int VERSION = 1;

    /**
     * No artifact is smaller: root offset and identifier (8), the root table's soffset (4), the
     * 32-byte checksum struct it must hold inline, and the smallest vtable (4).
     */
    public static final int MIN_FILE_BYTES = 48;
    /** FlatBuffers offsets are unsigned 32-bit, and Java buffers are int-indexed. */
    public static final long MAX_FILE_BYTES = FlatBufferVerifier.MAX_BUFFER_BYTES;

    /** Tensor data vectors start on this many bytes from the start of the file (writers should, readers do not require it). */
    public static final int TENSOR_DATA_ALIGNMENT = 64;

    /** Longest tensor, exponent and metric name, and tokenizer kind, in UTF-8 bytes. */
    public static final int MAX_NAME_BYTES = 256;
    /** Longest provenance string (trainer, data hash, command, notes), in UTF-8 bytes. */
    public static final int MAX_TEXT_BYTES = 1 << 20;
    /** Most tensors in one artifact (a 64+64-layer model has fewer than 3,000). */
    public static final int MAX_TENSORS = 1 << 16;
    /** Most named exponents in one artifact. */
    public static final int MAX_EXPONENTS = 1 << 16;
    /** Most provenance metrics. */
    public static final int MAX_METRICS = 4096;
    /** Highest tensor rank. */
    public static final int MAX_RANK = 8;
    /** Entries of the softmax table (SPEC.md appendix A). */
    public static final int SOFTMAX_LUT_ENTRIES = 64;
    /** Bytes of the checksum struct. */
    public static final int CHECKSUM_BYTES = 32;

    // Field ids (declaration order in model.fbs). The generated code hard-codes the same ids as
    // vtable offsets 4 + 2 * id; ArtifactLayoutTest checks the two agree.
    static final int MODEL_FORMAT_VERSION = 0;
    static final int MODEL_CONFIG = 1;
    static final int MODEL_TOKENIZER = 2;
    static final int MODEL_TENSORS = 3;
    static final int MODEL_EXPONENTS = 4;
    static final int MODEL_SOFTMAX_LUT = 5;
    static final int MODEL_PROVENANCE = 6;
    static final int MODEL_CHECKSUM = 7;
    static final int MODEL_FILE_SIZE = 8;

    static final int CONFIG_FIELDS = 11;

    static final int TOKENIZER_KIND = 0;
    static final int TOKENIZER_MERGES = 1;
    static final int MERGE_BYTES = 8;

    static final int TENSOR_NAME = 0;
    static final int TENSOR_DTYPE = 1;
    static final int TENSOR_SHAPE = 2;
    static final int TENSOR_EXPONENT = 3;
    static final int TENSOR_DATA = 4;

    static final int NAMED_EXPONENT_NAME = 0;
    static final int NAMED_EXPONENT_VALUE = 1;

    static final int PROVENANCE_TRAINER = 0;
    static final int PROVENANCE_CREATED_UNIX_MS = 1;
    static final int PROVENANCE_DATA_HASH = 2;
    static final int PROVENANCE_COMMAND = 3;
    static final int PROVENANCE_NOTES = 4;
    static final int PROVENANCE_METRICS = 5;

    static final int METRIC_NAME = 0;
    static final int METRIC_VALUE = 1;

    private ArtifactFormat() {
    }

    /** A verifier of an artifact's structure: its errors are {@link ErrorCode#INVALID_ARTIFACT}. */
    static FlatBufferVerifier verifier(String source, MemorySegment buf) {
        return new FlatBufferVerifier(source, buf, ErrorCode.INVALID_ARTIFACT);
    }
}
