package org.shiftformer.testcontainers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The short load test of {@code mvn verify}: the soak's code ({@link LoadMain#run}) with 16 connections and
 * open-loop arrivals at 8 requests/s for 20 s against the image, every token checked against local decoding.
 * The report goes to {@code testcontainers/target/load-report/report.html}. Figures are printed, not
 * asserted (the machine is shared); correctness is asserted: nothing lost, duplicated, failed or different.
 */
class LoadTest {
    @Test
    void shortOpenLoopRunLosesNothingAndStreamsTheTokensOfLocalDecoding() throws Exception {
        DockerSupport.requireDockerAndImage();
        Map<String, String> opt = new LinkedHashMap<>(LoadMain.SOAK_DEFAULTS);
        opt.putAll(Map.of("clients", "16", "rate", "8", "duration-s", "20", "max-requests", "400", "tokens", "24",
                "preset", "small", "pool", "128", "drain-s", "60",
                "report-dir", System.getProperty("shiftformer.reportDir", "target/load-report")));
        LoadRun.Result r = LoadMain.run(opt, "load test (verify)");

        assertTrue(r.sent >= 100, "the arrival clock sent " + r.sent + " requests");
        assertEquals(0, r.lost, r.summary());
        assertEquals(0, r.duplicated, r.summary());
        assertEquals(0, r.mismatched, r.summary());
        assertEquals(0, r.errors(), r.summary());
        assertEquals(r.sent, r.done, r.summary());
        assertEquals(r.spec.clients(), r.openConnections, r.summary());
        assertTrue(r.serverAgrees(), r.summary());
        assertTrue(r.clean(), r.summary());
        assertTrue(Files.size(Path.of(opt.get("report-dir"), "report.html")) > 1000);
    }
}
