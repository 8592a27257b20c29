package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ServerConfigTest {
    @Test
    void aBuilderConcludedAgainDerivesMaxLiveRowsFromTheNewMaxBatchRows() {
        ServerConfig.Builder b = ServerConfig.builder().maxLiveRows(0).maxBatchRows(8);
        assertEquals(32, b.conclude().maxLiveRows());
        assertEquals(64, b.maxBatchRows(16).conclude().maxLiveRows(), "derived again, not the first conclude's 32");
        assertEquals(20, b.maxLiveRows(20).conclude().maxLiveRows(), "an explicit value stays");
    }
}
