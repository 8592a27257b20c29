package org.shiftformer.core.artifact;

import java.nio.charset.StandardCharsets;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier;

/**
 * The fields of the root table that are read before the file is verified: {@code format_version},
 * {@code file_size} and the position of the {@code checksum} struct. {@link #locate} checks only what
 * reading them needs (root offset, root table header, its vtable and the three field slots), so it is
 * safe on any bytes; it enforces nothing about their values, which is the caller's job (the writer
 * patches them, the reader compares them).
 *
 * @param rootTable     position of the root {@code Model} table
 * @param formatVersion {@code format_version}, or -1 if the field is absent
 * @param declaredSize  {@code file_size} (an unsigned value read as a long), or -1 if absent
 * @param fileSizePos   position of the {@code file_size} field, or -1
 * @param checksumPos   position of the 32-byte {@code checksum} struct, or -1
 */
record ArtifactHeader(int rootTable, long formatVersion, long declaredSize, int fileSizePos, int checksumPos) {

    /** Whether bytes 4..7 hold the file identifier (the buffer must have at least 8 bytes). */
    static boolean hasIdentifier(FlatBufferVerifier v) {
        byte[] expected = ArtifactFormat.FILE_IDENTIFIER.getBytes(StandardCharsets.US_ASCII);
        v.checkRange("file identifier", 4, expected.length);
        for (int i = 0; i < expected.length; i++) {
            if (v.u8(4 + i) != (expected[i] & 0xFF)) {
                return false;
            }
        }
        return true;
    }

    /** The identifier bytes as found, printable characters kept and the rest escaped. */
    static String identifierAsFound(FlatBufferVerifier v) {
        StringBuilder sb = new StringBuilder();
        for (int i = 4; i < 8 && i < v.size(); i++) {
            int b = v.u8(i);
            if (b >= 0x20 && b < 0x7F) {
                sb.append((char) b);
            } else {
                sb.append(String.format("\\x%02x", b));
            }
        }
        return sb.toString();
    }

    static ArtifactHeader locate(FlatBufferVerifier v) {
        int root = v.rootTable("root table");
        FlatBufferVerifier.Table model = v.tableHeader("Model", root);
        int versionPos = v.field(model, ArtifactFormat.MODEL_FORMAT_VERSION, "format_version", 4, 4);
        long version = versionPos < 0 ? -1 : v.u32(versionPos);
        int fileSizePos = v.field(model, ArtifactFormat.MODEL_FILE_SIZE, "file_size", 8, 8);
        long declared = fileSizePos < 0 ? -1 : v.i64(fileSizePos);
        int checksumPos = v.field(model, ArtifactFormat.MODEL_CHECKSUM, "checksum", ArtifactFormat.CHECKSUM_BYTES, 8);
        return new ArtifactHeader(root, version, declared, fileSizePos, checksumPos);
    }
}
