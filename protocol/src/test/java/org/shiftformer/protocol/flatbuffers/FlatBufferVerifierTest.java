package org.shiftformer.protocol.flatbuffers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.flatbuffers.FlatBufferBuilder;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** The generic checks, on hand-made buffers. */
class FlatBufferVerifierTest {

    private static FlatBufferVerifier verifier(byte[] bytes) {
        return new FlatBufferVerifier("buf", MemorySegment.ofArray(bytes), ErrorCode.INVALID_ARTIFACT);
    }

    private static void assertInvalid(String fragment, org.junit.jupiter.api.function.Executable e) {
        ShiftformerException x = assertThrows(ShiftformerException.class, e);
        assertEquals(ErrorCode.INVALID_ARTIFACT, x.code());
        assertTrue(x.getMessage().startsWith("buf: ") && x.getMessage().contains(fragment),
                () -> "expected \"" + fragment + "\" in: " + x.getMessage());
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    /** A finished buffer whose root is a table with one int field (id 0) and one string field (id 1). */
    private static byte[] tableWithIntAndString(String s) {
        FlatBufferBuilder b = new FlatBufferBuilder(64);
        int str = b.createString(s);
        b.startTable(2);
        b.addInt(0, 42, 0);
        b.addOffset(1, str, 0);
        int root = b.endTable();
        b.finish(root);
        return b.sizedByteArray();
    }

    @Test
    void acceptsAWellFormedTable() {
        byte[] buf = tableWithIntAndString("héllo ✓");
        FlatBufferVerifier v = verifier(buf);
        FlatBufferVerifier.Table t = v.beginTable("T", v.rootTable("root"));
        int intPos = v.field(t, 0, "i", 4, 4);
        assertEquals(42, v.i32(intPos));
        int str = v.offsetField(t, 1, "s", true);
        assertEquals("héllo ✓".getBytes(java.nio.charset.StandardCharsets.UTF_8).length, v.string("T.s", str, 100));
        assertEquals(-1, v.field(t, 5, "absent", 4, 4));
        v.endTable();
    }

    @Test
    void rejectsARootOffsetOfZeroOrPastTheEnd() {
        assertInvalid("root: offset at 0 is 0", () -> verifier(new byte[8]).rootTable("root"));
        assertInvalid("points to byte 100, past the end", () -> verifier(bytes(100, 0, 0, 0, 0, 0, 0, 0)).rootTable("root"));
        assertInvalid("past the end", () -> verifier(bytes(-4, -1, -1, -1, 0, 0, 0, 0)).rootTable("root"));
        assertInvalid("extend past the end", () -> verifier(new byte[3]).rootTable("root"));
    }

    @Test
    void rejectsBadVtables() {
        byte[] good = tableWithIntAndString("x");
        ByteBuffer bb = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN);
        int table = bb.getInt(0);
        int vtable = table - bb.getInt(table);

        byte[] odd = good.clone();
        ByteBuffer.wrap(odd).order(ByteOrder.LITTLE_ENDIAN).putShort(vtable, (short) 7);
        assertInvalid("vtable size 7 is not an even number", () -> verifier(odd).beginTable("T", table));

        byte[] huge = good.clone();
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putShort(vtable, (short) 0x8000);
        assertInvalid("vtable size 32768", () -> verifier(huge).beginTable("T", table));

        byte[] smallTable = good.clone();
        ByteBuffer.wrap(smallTable).order(ByteOrder.LITTLE_ENDIAN).putShort(vtable + 2, (short) 2);
        assertInvalid("table size 2 is not in [4, 32767]", () -> verifier(smallTable).beginTable("T", table));

        byte[] outside = good.clone();
        ByteBuffer.wrap(outside).order(ByteOrder.LITTLE_ENDIAN).putInt(table, -4096);
        assertInvalid("vtable at", () -> verifier(outside).beginTable("T", table));

        byte[] misaligned = good.clone();
        ByteBuffer.wrap(misaligned).order(ByteOrder.LITTLE_ENDIAN).putInt(table, bb.getInt(table) + 1);
        assertInvalid("vtable: position", () -> verifier(misaligned).beginTable("T", table));

        assertInvalid("T table: position 1 is not aligned to 4", () -> verifier(good).beginTable("T", 1));
    }

    @Test
    void rejectsAFieldOverlappingTheSoffsetOrLeavingTheTable() {
        byte[] good = tableWithIntAndString("x");
        ByteBuffer bb = ByteBuffer.wrap(good).order(ByteOrder.LITTLE_ENDIAN);
        int table = bb.getInt(0);
        int vtable = table - bb.getInt(table);
        byte[] low = good.clone();
        ByteBuffer.wrap(low).order(ByteOrder.LITTLE_ENDIAN).putShort(vtable + 4, (short) 2);
        FlatBufferVerifier v = verifier(low);
        FlatBufferVerifier.Table t = v.beginTable("T", table);
        assertInvalid("T.i: field at table offset 2", () -> v.field(t, 0, "i", 4, 4));
        FlatBufferVerifier v2 = verifier(good);
        FlatBufferVerifier.Table t2 = v2.beginTable("T", table);
        assertInvalid("lies outside the table", () -> v2.field(t2, 0, "i", 64, 4));
        assertInvalid("T.missing is missing", () -> v2.offsetField(t2, 7, "missing", true));
        assertEquals(-1, v2.offsetField(t2, 7, "missing", false));
    }

    @Test
    void rejectsVectorsLongerThanTheBufferOrTheLimit() {
        byte[] buf = new byte[16];
        ByteBuffer bb = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        bb.putInt(4, 2);
        assertEquals(2, verifier(buf).vector("v", 4, 4, 10));
        bb.putInt(4, 3);
        assertInvalid("v: vector of 3 elements of 4 bytes at 4 extends past the end", () -> verifier(buf).vector("v", 4, 4, 10));
        bb.putInt(4, 0x40000001);
        assertInvalid("extends past the end", () -> verifier(buf).vector("v", 4, 8, Integer.MAX_VALUE));
        bb.putInt(4, -1);
        assertInvalid("v: 4294967295 elements, at most 10 allowed", () -> verifier(buf).vector("v", 4, 1, 10));
        assertInvalid("v length: position 2 is not aligned", () -> verifier(buf).vector("v", 2, 1, 10));
    }

    @Test
    void rejectsStringsWithoutTerminatorOrWithBadUtf8() {
        byte[] unterminated = bytes(2, 0, 0, 0, 'a', 'b');
        assertInvalid("s terminator", () -> verifier(unterminated).string("s", 0, 10));
        byte[] notNul = bytes(2, 0, 0, 0, 'a', 'b', 'c', 0);
        assertInvalid("s: string of 2 bytes at 0 is not NUL-terminated", () -> verifier(notNul).string("s", 0, 10));
        byte[] bad = bytes(2, 0, 0, 0, 'a', 0xFF, 0, 0);
        assertInvalid("s: string at 0 is not valid UTF-8 (byte 1 of 2)", () -> verifier(bad).string("s", 0, 10));
        byte[] tooLong = bytes(3, 0, 0, 0, 'a', 'b', 'c', 0);
        assertInvalid("s: 3 elements, at most 2 allowed", () -> verifier(tooLong).string("s", 0, 2));
    }

    @Test
    void utf8ValidationFollowsRfc3629() {
        int[][] valid = {{'a'}, {0xC2, 0x80}, {0xDF, 0xBF}, {0xE0, 0xA0, 0x80}, {0xED, 0x9F, 0xBF}, {0xEE, 0x80, 0x80},
                {0xF0, 0x90, 0x80, 0x80}, {0xF4, 0x8F, 0xBF, 0xBF}, {0xE2, 0x9C, 0x93}};
        int[][] invalid = {{0x80}, {0xC0, 0x80}, {0xC1, 0xBF}, {0xE0, 0x80, 0x80}, {0xED, 0xA0, 0x80},
                {0xF0, 0x80, 0x80, 0x80}, {0xF4, 0x90, 0x80, 0x80}, {0xF5, 0x80, 0x80, 0x80}, {0xFF}, {0xE2, 0x9C},
                {0xC2}, {0xE2, 0x28, 0xA1}, {0xF0, 0x90, 0x80, 0x41}};
        for (int[] s : valid) {
            assertEquals(-1, verifier(bytes(s)).firstInvalidUtf8(0, s.length), java.util.Arrays.toString(s));
        }
        for (int[] s : invalid) {
            assertEquals(0, verifier(bytes(s)).firstInvalidUtf8(0, s.length), java.util.Arrays.toString(s));
        }
    }

    @Test
    void limitsNestingDepthAndTableCount() {
        byte[] buf = tableWithIntAndString("x");
        int table = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        FlatBufferVerifier deep = new FlatBufferVerifier("buf", MemorySegment.ofArray(buf), ErrorCode.INVALID_ARTIFACT, 2, 100);
        deep.beginTable("a", table);
        deep.beginTable("a.b", table);
        assertInvalid("a.b.c: tables nested deeper than 2", () -> deep.beginTable("a.b.c", table));

        FlatBufferVerifier counted = new FlatBufferVerifier("buf", MemorySegment.ofArray(buf), ErrorCode.INVALID_ARTIFACT, 10, 2);
        counted.beginTable("x", table);
        counted.endTable();
        counted.beginTable("y", table);
        counted.endTable();
        assertInvalid("z: more than 2 tables", () -> counted.beginTable("z", table));
    }

    @Test
    void rangeChecksDoNotOverflow() {
        FlatBufferVerifier v = verifier(new byte[16]);
        assertInvalid("extend past the end", () -> v.checkRange("r", Long.MAX_VALUE - 2, 8));
        assertInvalid("extend past the end", () -> v.checkRange("r", 8, Long.MAX_VALUE));
        assertInvalid("extend past the end", () -> v.checkRange("r", -1, 1));
        v.checkRange("r", 0, 16);
        v.checkRange("r", 16, 0);
    }
}
