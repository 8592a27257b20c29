package org.shiftformer.protocol.flatbuffers;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Generic structural checks of a FlatBuffers buffer, the part of the C++ {@code flatbuffers::Verifier}
 * that the Java runtime lacks. A schema-specific walker (runtime-core's {@code ModelVerifier} for artifacts,
 * {@link org.shiftformer.protocol.StreamVerifier} for frames) calls these helpers for
 * every table, vector and string it will later read through the generated accessors; once it has, those
 * accessors cannot read outside the buffer, see a negative length, or decode an invalid string.
 *
 * <p>Every check is done in {@code long} arithmetic before any read, so no crafted offset can overflow
 * an {@code int} and no read can leave the buffer. A failed check throws {@link ShiftformerException}
 * with the verifier's error code ({@link ErrorCode#INVALID_ARTIFACT} for artifacts, {@link
 * ErrorCode#PROTOCOL_ERROR} for the wire protocol's frames, see {@code org.shiftformer.protocol}),
 * naming the source and the schema path ({@code Model.tensors[3].shape}) of the bad object.
 *
 * <p>Beyond the C++ verifier: vtable sizes and field offsets must be below 2^15, because the Java
 * runtime reads these unsigned 16-bit values as signed {@code short}s (a larger value would make the
 * generated accessor read somewhere else than what was verified).
 *
 * <p>Not thread-safe; one instance verifies one buffer once.
 */
public final class FlatBufferVerifier {
    /** Tables nested deeper than this are rejected (model.fbs nests three deep). */
    public static final int DEFAULT_MAX_DEPTH = 64;
    /** Tables visited in one verification (bounds the work a crafted file can cause). */
    public static final int DEFAULT_MAX_TABLES = 1 << 20;
    /** Largest buffer: FlatBuffers offsets are 32-bit, so it addresses at most 2^31 - 1 bytes. */
    public static final long MAX_BUFFER_BYTES = Integer.MAX_VALUE;

    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** The Java runtime reads voffsets as signed shorts. */
    private static final int MAX_VOFFSET = Short.MAX_VALUE;

    /**
     * A table whose header, vtable and inline part lie inside the buffer.
     *
     * @param path        schema path for messages, e.g. {@code Model.tensors[3]}
     * @param pos         position of the table (its soffset to the vtable)
     * @param vtable      position of its vtable
     * @param vtableBytes size of the vtable in bytes
     * @param inlineBytes size of the table's inline part in bytes (from the vtable)
     */
    public record Table(String path, int pos, int vtable, int vtableBytes, int inlineBytes) {
    }

    private final String source;
    private final ErrorCode code;
    private final MemorySegment buf;
    private final long size;
    private final int maxDepth;
    private final int maxTables;
    private int depth;
    private int tables;

    /** A verifier with the default limits ({@link #DEFAULT_MAX_DEPTH}, {@link #DEFAULT_MAX_TABLES}). */
    public FlatBufferVerifier(String source, MemorySegment buf, ErrorCode code) {
        this(source, buf, code, DEFAULT_MAX_DEPTH, DEFAULT_MAX_TABLES);
    }

    /**
     * A verifier for any FlatBuffers schema.
     *
     * @param source    prefix of every message, e.g. a file name or {@code "frame"}
     * @param buf       the whole buffer; positions are relative to its first byte, and so is alignment
     * @param code      the code of every error it reports
     * @param maxDepth  deepest table nesting accepted
     * @param maxTables most tables one verification may visit
     */
    public FlatBufferVerifier(String source, MemorySegment buf, ErrorCode code, int maxDepth, int maxTables) {
        this.source = source;
        this.code = Objects.requireNonNull(code, "code");
        this.buf = buf;
        this.size = buf.byteSize();
        this.maxDepth = maxDepth;
        this.maxTables = maxTables;
        if (size > MAX_BUFFER_BYTES) {
            throw invalid("file is " + size + " bytes, FlatBuffers addresses at most " + MAX_BUFFER_BYTES);
        }
    }

    public long size() {
        return size;
    }

    public String source() {
        return source;
    }

    /** An error with this verifier's code, its message prefixed with the source name. */
    public ShiftformerException invalid(String message) {
        return new ShiftformerException(code, source + ": " + message);
    }

    // ---- bounds ------------------------------------------------------------------------------

    /** Checks that {@code [pos, pos + len)} lies inside the buffer. */
    public void checkRange(String what, long pos, long len) {
        if (pos < 0 || len < 0 || pos > size || len > size - pos) {
            throw invalid(what + ": bytes [" + pos + ", " + (pos + len) + ") extend past the end of the buffer ("
                    + size + " bytes)");
        }
    }

    /** Checks that {@code pos} is a multiple of {@code alignment} (a power of two). */
    public void checkAlignment(String what, long pos, int alignment) {
        if ((pos & (alignment - 1)) != 0) {
            throw invalid(what + ": position " + pos + " is not aligned to " + alignment + " bytes");
        }
    }

    // ---- raw reads: only after the range was checked --------------------------------------------

    public int u8(long pos) {
        return buf.get(ValueLayout.JAVA_BYTE, pos) & 0xFF;
    }

    public int u16(long pos) {
        return buf.get(SHORT_LE, pos) & 0xFFFF;
    }

    public int i32(long pos) {
        return buf.get(INT_LE, pos);
    }

    public long u32(long pos) {
        return buf.get(INT_LE, pos) & 0xFFFF_FFFFL;
    }

    public long i64(long pos) {
        return buf.get(LONG_LE, pos);
    }

    // ---- offsets and tables ---------------------------------------------------------------------

    /**
     * Follows the uoffset stored at {@code pos} and returns its target, which lies inside the buffer.
     * The offset must be non-zero (an object cannot start at its own reference) and below 2^31.
     */
    public int uoffset(String what, long pos) {
        checkRange(what + " offset", pos, 4);
        checkAlignment(what + " offset", pos, 4);
        long offset = u32(pos);
        if (offset == 0) {
            throw invalid(what + ": offset at " + pos + " is 0");
        }
        long target = pos + offset;
        if (target >= size) {
            throw invalid(what + ": offset at " + pos + " points to byte " + target + ", past the end of the buffer ("
                    + size + " bytes)");
        }
        return (int) target;
    }

    /** The root table's position, from the uoffset at byte 0. */
    public int rootTable(String what) {
        return uoffset(what, 0);
    }

    /**
     * Verifies the header of the table at {@code pos}: its soffset, its vtable (inside the buffer,
     * 2-aligned, an even size of at least 4), and its inline part (inside the buffer). Counts towards the
     * table limit and enters one nesting level; pair with {@link #endTable()}.
     */
    public Table beginTable(String path, int pos) {
        if (++tables > maxTables) {
            throw invalid(path + ": more than " + maxTables + " tables");
        }
        if (++depth > maxDepth) {
            throw invalid(path + ": tables nested deeper than " + maxDepth);
        }
        return tableHeader(path, pos);
    }

    /** Leaves the nesting level entered by {@link #beginTable}. */
    public void endTable() {
        depth--;
    }

    /** {@link #beginTable} without counting: for locating header fields before the full verification. */
    public Table tableHeader(String path, int pos) {
        checkRange(path + " table", pos, 4);
        checkAlignment(path + " table", pos, 4);
        long vtable = (long) pos - i32(pos);
        if (vtable < 0 || vtable > size - 4) {
            throw invalid(path + ": vtable at " + vtable + " lies outside the buffer (" + size + " bytes)");
        }
        checkAlignment(path + " vtable", vtable, 2);
        int vtableBytes = u16(vtable);
        int inlineBytes = u16(vtable + 2);
        if (vtableBytes < 4 || (vtableBytes & 1) != 0 || vtableBytes > MAX_VOFFSET) {
            throw invalid(path + ": vtable size " + vtableBytes + " is not an even number in [4, " + MAX_VOFFSET + "]");
        }
        checkRange(path + " vtable", vtable, vtableBytes);
        if (inlineBytes < 4 || inlineBytes > MAX_VOFFSET) {
            throw invalid(path + ": table size " + inlineBytes + " is not in [4, " + MAX_VOFFSET + "]");
        }
        checkRange(path + " table", pos, inlineBytes);
        return new Table(path, pos, (int) vtable, vtableBytes, inlineBytes);
    }

    /**
     * The position of field {@code id} of {@code table}, or -1 if the vtable does not hold it (the
     * field then has its default). A present field must lie inside the table's inline part, after the
     * 4-byte soffset, aligned to {@code alignment}.
     */
    public int field(Table table, int id, String name, int bytes, int alignment) {
        int slot = 4 + 2 * id;
        if (slot + 2 > table.vtableBytes()) {
            return -1;
        }
        int offset = u16(table.vtable() + slot);
        if (offset == 0) {
            return -1;
        }
        if (offset < 4 || offset + bytes > table.inlineBytes()) {
            throw invalid(table.path() + "." + name + ": field at table offset " + offset + " (" + bytes
                    + " bytes) lies outside the table's " + table.inlineBytes() + " inline bytes");
        }
        long pos = (long) table.pos() + offset;
        checkAlignment(table.path() + "." + name, pos, alignment);
        return (int) pos;
    }

    /** {@link #field} for a field that must be present. */
    public int requiredField(Table table, int id, String name, int bytes, int alignment) {
        int pos = field(table, id, name, bytes, alignment);
        if (pos < 0) {
            throw missing(table, name);
        }
        return pos;
    }

    /**
     * The target of the offset field {@code id} (a table, vector or string), or -1 if absent and not
     * {@code required}.
     */
    public int offsetField(Table table, int id, String name, boolean required) {
        int pos = field(table, id, name, 4, 4);
        if (pos < 0) {
            if (required) {
                throw missing(table, name);
            }
            return -1;
        }
        return uoffset(table.path() + "." + name, pos);
    }

    private ShiftformerException missing(Table table, String name) {
        return invalid(table.path() + "." + name + " is missing");
    }

    // ---- vectors and strings -------------------------------------------------------------------

    /**
     * Verifies the vector at {@code pos}: a 4-aligned uint32 length followed by {@code length *
     * elementBytes} bytes, all inside the buffer, and at most {@code maxLength} elements. Returns the
     * length.
     */
    public int vector(String path, int pos, int elementBytes, long maxLength) {
        checkRange(path + " length", pos, 4);
        checkAlignment(path + " length", pos, 4);
        long length = u32(pos);
        if (length > maxLength) {
            throw invalid(path + ": " + length + " elements, at most " + maxLength + " allowed");
        }
        long bytes = length * elementBytes;
        if (bytes > size - pos - 4) {
            throw invalid(path + ": vector of " + length + " elements of " + elementBytes + " bytes at " + pos
                    + " extends past the end of the buffer (" + size + " bytes)");
        }
        return (int) length;
    }

    /** Position of the first element of the vector at {@code pos}. */
    public static int vectorData(int pos) {
        return pos + 4;
    }

    /**
     * Verifies the string at {@code pos}: a byte vector of at most {@code maxBytes} bytes, followed by a
     * NUL byte inside the buffer, holding well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
     * nothing above U+10FFFF). Returns its length in bytes.
     */
    public int string(String path, int pos, int maxBytes) {
        int length = vector(path, pos, 1, maxBytes);
        long end = (long) pos + 4 + length;
        checkRange(path + " terminator", end, 1);
        if (u8(end) != 0) {
            throw invalid(path + ": string of " + length + " bytes at " + pos + " is not NUL-terminated");
        }
        long bad = firstInvalidUtf8(pos + 4L, end);
        if (bad >= 0) {
            throw invalid(path + ": string at " + pos + " is not valid UTF-8 (byte " + (bad - pos - 4) + " of " + length
                    + ")");
        }
        return length;
    }

    /**
     * The target of element {@code index} of the vector of offsets at {@code pos} (already verified
     * with {@link #vector} and 4-byte elements).
     */
    public int vectorElementOffset(String path, int pos, int index) {
        return uoffset(path + "[" + index + "]", pos + 4L + 4L * index);
    }

    /** Position of the first malformed byte of UTF-8 in {@code [from, to)}, or -1. */
    public long firstInvalidUtf8(long from, long to) {
        long i = from;
        while (i < to) {
            int b = u8(i);
            if (b < 0x80) {
                i++;
                continue;
            }
            int continuation;
            int lo = 0x80;
            int hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                continuation = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                continuation = 2;
                if (b == 0xE0) {
                    lo = 0xA0; // overlong
                } else if (b == 0xED) {
                    hi = 0x9F; // surrogates
                }
            } else if (b >= 0xF0 && b <= 0xF4) {
                continuation = 3;
                if (b == 0xF0) {
                    lo = 0x90; // overlong
                } else if (b == 0xF4) {
                    hi = 0x8F; // above U+10FFFF
                }
            } else {
                return i;
            }
            if (continuation > to - i - 1) {
                return i;
            }
            int second = u8(i + 1);
            if (second < lo || second > hi) {
                return i;
            }
            for (int k = 2; k <= continuation; k++) {
                int c = u8(i + k);
                if (c < 0x80 || c > 0xBF) {
                    return i;
                }
            }
            i += continuation + 1;
        }
        return -1;
    }
}
