package org.shiftformer.core.server;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
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
 * @param modelDir    the only directory {@code POST /admin/reload?path=} may read from ({@link #resolve})
 */
public record ModelLoader(FallbackPolicy.Choice choice, Path defaultFile, Path modelDir) {
    public ModelLoader {
        Objects.requireNonNull(choice, "choice");
        Objects.requireNonNull(defaultFile, "defaultFile");
        Objects.requireNonNull(modelDir, "modelDir");
        defaultFile = defaultFile.toAbsolutePath();
        modelDir = modelDir.toAbsolutePath().normalize();
    }

    /** Reloads through the admin port read from the start-up file's directory. */
    public ModelLoader(FallbackPolicy.Choice choice, Path defaultFile) {
        this(choice, defaultFile, defaultFile.toAbsolutePath().getParent());
    }

    /**
     * The file a reload request names, checked: {@code path} (relative to {@link #modelDir()}, or
     * absolute) must be, once symbolic links are followed, a regular file inside {@link #modelDir()}. A
     * FIFO, a device or a directory would block or mislead the loader; a file elsewhere is not the admin
     * port's to read. Null names {@link #defaultFile()}.
     *
     * @throws ShiftformerException INVALID_ARGUMENT naming the path and the rule it breaks, IO_ERROR when
     *         it does not exist
     */
    public Path resolve(String path) {
        return path == null ? defaultFile : resolve(modelDir, path);
    }

    /** {@link #resolve(String)} of a non-null {@code path} in {@code modelDir}. */
    static Path resolve(Path modelDir, String path) {
        Path p;
        try {
            p = modelDir.resolve(path);
        } catch (InvalidPathException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "path '" + path + "' is not a file name: "
                    + e.getReason());
        }
        Path real;
        Path dir;
        try {
            dir = modelDir.toRealPath();
            real = p.toRealPath();
        } catch (NoSuchFileException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read " + path + ": no such file", e);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read " + path + ": " + e.getMessage(), e);
        }
        if (!real.startsWith(dir)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "path '" + path + "' is outside the model "
                    + "directory " + modelDir + ": reloads read only files there");
        }
        if (!Files.isRegularFile(real)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "path '" + path + "' is not a regular file "
                    + "(a directory, FIFO or device): reloads read only artifact files");
        }
        return real;
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
