package org.shiftformer.core.server;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.shiftformer.protocol.Message;

/** A test client the server's frames are read from one at a time: over TCP ({@link TestClient}) or WebSocket ({@link WsClient}). */
interface FrameSource {
    /** The next frame (fails on a timeout or the end of the stream). */
    Message read() throws IOException;

    /** Reads until {@code terminals} terminal frames have arrived; frames grouped by request id, in order. */
    default Map<Long, List<Message>> readTerminals(int terminals) throws IOException {
        Map<Long, List<Message>> byId = new LinkedHashMap<>();
        int seen = 0;
        while (seen < terminals) {
            Message m = read();
            byId.computeIfAbsent(m.requestId(), k -> new ArrayList<>()).add(m);
            if (TestClient.isTerminal(m)) {
                seen++;
            }
        }
        return byId;
    }
}
