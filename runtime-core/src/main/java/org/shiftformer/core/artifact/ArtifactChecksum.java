package org.shiftformer.core.artifact;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The artifact checksum: SHA-256 of the whole file in which the 32 bytes of the {@code checksum}
 * struct read as zeros. The struct holds the digest as four {@code ulong} words, {@code w0} being
 * digest bytes 0..7 read big-endian, and every word is stored little-endian like any FlatBuffers
 * scalar; so on disk each 8-byte group of the digest appears byte-reversed, and printing
 * {@code w0..w3} as 16 hex digits each gives the usual hex digest.
 */
final class ArtifactChecksum {
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_BE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** Hash this much at a time, so a mapped file is never copied whole. */
    private static final long CHUNK_BYTES = 1 << 20;

    private ArtifactChecksum() {
    }

    /** SHA-256 of {@code file} with {@code [checksumPos, checksumPos + 32)} read as zeros. */
    static byte[] compute(MemorySegment file, long checksumPos) {
        MessageDigest sha = sha256();
        update(sha, file, 0, checksumPos);
        sha.update(new byte[ArtifactFormat.CHECKSUM_BYTES]);
        long after = checksumPos + ArtifactFormat.CHECKSUM_BYTES;
        update(sha, file, after, file.byteSize() - after);
        return sha.digest();
    }

    /** The digest stored in the struct at {@code checksumPos}. */
    static byte[] stored(MemorySegment file, long checksumPos) {
        MemorySegment digest = MemorySegment.ofArray(new byte[ArtifactFormat.CHECKSUM_BYTES]);
        for (int w = 0; w < 4; w++) {
            digest.set(LONG_BE, 8L * w, file.get(LONG_LE, checksumPos + 8L * w));
        }
        return digest.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Writes {@code digest} into the struct at {@code checksumPos}. */
    static void store(MemorySegment file, long checksumPos, byte[] digest) {
        MemorySegment d = MemorySegment.ofArray(digest);
        for (int w = 0; w < 4; w++) {
            file.set(LONG_LE, checksumPos + 8L * w, d.get(LONG_BE, 8L * w));
        }
    }

    static String hex(byte[] digest) {
        return HexFormat.of().formatHex(digest);
    }

    private static void update(MessageDigest sha, MemorySegment file, long from, long length) {
        for (long off = 0; off < length; off += CHUNK_BYTES) {
            long n = Math.min(CHUNK_BYTES, length - off);
            sha.update(file.asSlice(from + off, n).asByteBuffer());
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            // Every Java platform must provide SHA-256 (MessageDigest javadoc).
            throw new ShiftformerException(ErrorCode.INTERNAL, "this JVM provides no SHA-256", e);
        }
    }
}
