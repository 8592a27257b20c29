package org.shiftformer.core.artifact;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Where a model came from. Informational: nothing at inference depends on it, but {@code inspect}
 * prints it and it is covered by the checksum like every other byte.
 *
 * @param trainer       what produced the model, e.g. {@code shiftformer-trainer 0.1.0}
 * @param createdUnixMs creation time, milliseconds since the Unix epoch
 * @param dataHash      an identifier of the training data (e.g. a SHA-256 of the corpus)
 * @param command       the command line that produced the model
 * @param notes         free text
 * @param metrics       scores at export (e.g. {@code fp32.exact_match}, {@code int8.chrf}), in insertion order
 */
public record Provenance(String trainer, long createdUnixMs, String dataHash, String command, String notes,
                         Map<String, Double> metrics) {

    /**
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if a string or a metric name exceeds
     *                              the limits of {@link ArtifactFormat}
     */
    public Provenance {
        trainer = text("trainer", trainer);
        dataHash = text("data_hash", dataHash);
        command = text("command", command);
        notes = text("notes", notes);
        Objects.requireNonNull(metrics, "metrics");
        if (metrics.size() > ArtifactFormat.MAX_METRICS) {
            throw invalid(metrics.size() + " metrics, at most " + ArtifactFormat.MAX_METRICS);
        }
        Map<String, Double> copy = new LinkedHashMap<>();
        for (Map.Entry<String, Double> m : metrics.entrySet()) {
            String name = Objects.requireNonNull(m.getKey(), "metric name");
            if (name.isEmpty() || utf8Length(name) > ArtifactFormat.MAX_NAME_BYTES) {
                throw invalid("metric name must have 1 to " + ArtifactFormat.MAX_NAME_BYTES + " UTF-8 bytes");
            }
            copy.put(name, Objects.requireNonNull(m.getValue(), "metric " + name));
        }
        metrics = Collections.unmodifiableMap(copy);
    }

    /** No provenance: empty strings, time 0, no metrics. */
    public static Provenance unknown() {
        return new Provenance("", 0, "", "", "", Map.of());
    }

    private static String text(String field, String value) {
        Objects.requireNonNull(value, field);
        if (utf8Length(value) > ArtifactFormat.MAX_TEXT_BYTES) {
            throw invalid(field + " is longer than " + ArtifactFormat.MAX_TEXT_BYTES + " UTF-8 bytes");
        }
        return value;
    }

    static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    private static ShiftformerException invalid(String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "provenance: " + message);
    }
}
