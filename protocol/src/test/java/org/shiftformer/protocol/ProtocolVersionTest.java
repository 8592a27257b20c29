package org.shiftformer.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class ProtocolVersionTest {
    @Test
    void negotiatesTheHighestCommonVersion() {
        assertEquals(1, ProtocolVersion.SUPPORTED.negotiate(1, 1), "a version 1 client keeps version 1");
        assertEquals(2, ProtocolVersion.SUPPORTED.negotiate(1, 2));
        assertEquals(2, ProtocolVersion.SUPPORTED.negotiate(2, 2));
        assertEquals(2, ProtocolVersion.SUPPORTED.negotiate(1, 7), "a newer client falls back to 2");
        ProtocolVersion server = new ProtocolVersion(2, 5);
        assertEquals(5, server.negotiate(1, 9));
        assertEquals(3, server.negotiate(1, 3));
        assertEquals(2, server.negotiate(2, 2));
    }

    @Test
    void disjointRangesAreUnsupportedNamingBoth() {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> ProtocolVersion.SUPPORTED.negotiate(3, 4));
        assertEquals(ErrorCode.UNSUPPORTED_VERSION, e.code());
        assertEquals("client speaks protocol versions [3, 4], this server speaks [1, 2]", e.getMessage());
        assertEquals(ErrorCode.UNSUPPORTED_VERSION,
                assertThrows(ShiftformerException.class, () -> new ProtocolVersion(2, 5).negotiate(1, 1)).code());
    }

    @Test
    void malformedRangesAreProtocolErrors() {
        for (int[] r : new int[][] {{0, 1}, {0, 0}, {3, 2}, {1, 65536}}) {
            ShiftformerException e = assertThrows(ShiftformerException.class,
                    () -> ProtocolVersion.SUPPORTED.negotiate(r[0], r[1]));
            assertEquals(ErrorCode.PROTOCOL_ERROR, e.code());
            assertTrue(e.getMessage().contains("[" + r[0] + ", " + r[1] + "]"), e.getMessage());
        }
        assertThrows(ShiftformerException.class, () -> new ProtocolVersion(0, 1));
        assertThrows(ShiftformerException.class, () -> new ProtocolVersion(2, 1));
    }

    @Test
    void currentVersionIsSupported() {
        assertEquals(ProtocolVersion.CURRENT, ProtocolVersion.SUPPORTED.max());
        assertEquals(1, ProtocolVersion.SUPPORTED.min());
    }
}
