package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class ServerConfigTest {
    @Test
    void aBuilderConcludedAgainDerivesMaxLiveRowsFromTheNewMaxBatchRows() {
        ServerConfig.Builder b = ServerConfig.builder().maxLiveRows(0).maxBatchRows(8);
        assertEquals(32, b.conclude().maxLiveRows());
        assertEquals(64, b.maxBatchRows(16).conclude().maxLiveRows(), "derived again, not the first conclude's 32");
        assertEquals(20, b.maxLiveRows(20).conclude().maxLiveRows(), "an explicit value stays");
    }

    @Test
    void theFairnessAndConnectionLimitsHaveTheirDocumentedDefaults() {
        ServerConfig c = ServerConfig.builder().conclude();
        assertEquals(c.maxBatchRows(), c.maxConnectionRows(), "0 means maxBatchRows");
        assertEquals(ServerConfig.STALL_TIMEOUT_MS_DEFAULT, c.stallTimeoutMs());
        assertEquals(ServerConfig.MAX_QUEUE_WAIT_MS_DEFAULT, c.maxQueueWaitMs());
        assertEquals(ServerConfig.HANDSHAKE_TIMEOUT_MS_DEFAULT, c.handshakeTimeoutMs());
        assertEquals(ServerConfig.IDLE_TIMEOUT_MS_DEFAULT, c.idleTimeoutMs());
        assertEquals(ServerConfig.ADMIN_IDLE_TIMEOUT_MS_DEFAULT, c.adminIdleTimeoutMs());
        assertEquals(ServerConfig.MAX_CONNECTIONS_DEFAULT, c.maxConnections());
        assertEquals(ServerConfig.MAX_CONNECTIONS_PER_ADDRESS_DEFAULT, c.maxConnectionsPerAddress());
    }

    @Test
    void anInvalidLimitIsRefusedNamingItsProperty() {
        invalid(ServerConfig.MAX_CONNECTION_ROWS_PROP, ServerConfig.builder().maxBeamWidth(4).maxConnectionRows(2));
        invalid(ServerConfig.MAX_CONNECTION_ROWS_PROP, ServerConfig.builder().maxLiveRows(256).maxConnectionRows(300));
        invalid(ServerConfig.STALL_TIMEOUT_MS_PROP, ServerConfig.builder().stallTimeoutMs(0));
        invalid(ServerConfig.MAX_QUEUE_WAIT_MS_PROP, ServerConfig.builder().maxQueueWaitMs(-1));
        invalid(ServerConfig.HANDSHAKE_TIMEOUT_MS_PROP, ServerConfig.builder().handshakeTimeoutMs(0));
        invalid(ServerConfig.IDLE_TIMEOUT_MS_PROP, ServerConfig.builder().idleTimeoutMs(0));
        invalid(ServerConfig.ADMIN_IDLE_TIMEOUT_MS_PROP, ServerConfig.builder().adminIdleTimeoutMs(0));
        invalid(ServerConfig.MAX_CONNECTIONS_PROP, ServerConfig.builder().maxConnections(0));
        invalid(ServerConfig.MAX_CONNECTIONS_PER_ADDRESS_PROP, ServerConfig.builder().maxConnectionsPerAddress(0));
    }

    private static void invalid(String property, ServerConfig.Builder b) {
        ShiftformerException e = assertThrows(ShiftformerException.class, b::conclude);
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(property), e::getMessage);
    }
}
