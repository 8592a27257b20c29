package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** {@link HaproxyContainer} without Docker: its reading of HAProxy's statistics, its argument checks. */
class HaproxyContainerTest {
    @Test
    void readsTheReplicasFromHaproxy26CsvStatistics() throws Exception {
        // /stats;csv of haproxy 2.6.12 (Debian bookworm) with r1 and r2 refusing connections
        String csv;
        try (InputStream in = HaproxyContainerTest.class.getResourceAsStream("/haproxy-2.6-stats.csv")) {
            csv = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Map<String, HaproxyContainer.Server> servers = HaproxyContainer.parseStats(csv);
        assertEquals(List.of("r1", "r2"), List.copyOf(servers.keySet()), "FRONTEND and BACKEND rows are not replicas");
        HaproxyContainer.Server r1 = servers.get("r1");
        assertEquals("DOWN", r1.status());
        assertFalse(r1.up());
        assertEquals("L4CON", r1.checkStatus());
        assertEquals(0, r1.sessionsNow());
        assertEquals(1, r1.downs());
    }

    @Test
    void aServerGoingDownIsStillUpAndOneComingUpIsNot() {
        assertTrue(new HaproxyContainer.Server("UP 1/2", 0, 0, 0, "L7STS").up());
        assertFalse(new HaproxyContainer.Server("DOWN 1/2", 0, 0, 1, "L7OK").up());
        assertTrue(new HaproxyContainer.Server("UP", 2, 4, 0, "L7OK").up());
    }

    @Test
    void refusesWhatHaproxyCouldNotUse() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new HaproxyContainer().withReplica("r 1", 7433, 7434));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertThrows(ShiftformerException.class, () -> new HaproxyContainer().withReplica("r1", 0, 7434));
        assertThrows(ShiftformerException.class, () -> new HaproxyContainer().withReplica("r1", 7433, 65536));
        assertThrows(ShiftformerException.class, () -> new HaproxyContainer().withMinReplicasUp(0));
        assertThrows(ShiftformerException.class,
                () -> new HaproxyContainer().withHealthCheckInterval(java.time.Duration.ofMillis(5)));
        assertThrows(ShiftformerException.class, () -> HaproxyContainer.parseStats("<html>not csv</html>"));
    }
}
