package org.shiftformer.core.server;

import java.nio.file.Path;
import java.util.Objects;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;

/**
 * Loads artifact files onto the backend the server runs on: what {@code POST /admin/reload} uses, and
 * what {@code /health/ready} asks whether that backend can still run. The caller keeps the backend open
 * for the server's lifetime and closes it after {@link ShiftformerServer#close()}.
 *
 * @param choice      the opened backend and whether it is a fallback
 * @param defaultFile the artifact the server was started with (what a reload without a path reloads)
 */
public record ModelLoader(FallbackPolicy.Choice choice, Path defaultFile) {
    public ModelLoader {
        Objects.requireNonNull(choice, "choice");
        Objects.requireNonNull(defaultFile, "defaultFile");
    }

    /**
     * Reads and verifies {@code file} (structure, bounds, SHA-256) and loads it onto the backend.
     *
     * @throws org.shiftformer.api.ShiftformerException INVALID_ARTIFACT, IO_ERROR or a backend error
     */
    public ServedModel load(Path file) {
        Artifact artifact = ArtifactReader.read(file);
        LoadedModel model = choice.backend().load(artifact.model());
        try {
            return ServedModel.of(artifact, model, choice.backend().identity());
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Whether the backend can still run here (the provider may probe its device). */
    public Availability availability() {
        return choice.provider().availability();
    }
}
