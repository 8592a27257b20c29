package org.shiftformer.core.artifact;

import com.google.flatbuffers.FlatBufferBuilder;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.proto.model.Merge;
import org.shiftformer.proto.model.Metric;
import org.shiftformer.proto.model.Model;
import org.shiftformer.proto.model.NamedExponent;
import org.shiftformer.proto.model.Sha256;
import org.shiftformer.proto.model.Tensor;
import org.shiftformer.proto.model.Tokenizer;

/**
 * Writes model artifacts (format {@value ArtifactFormat#VERSION}). The output is a function of the
 * inputs alone: the same model, tokenizer and provenance give the same bytes, hence the same checksum.
 *
 * <p>The writer refuses anything {@link ArtifactReader} would reject, so every file it produces loads.
 */
public final class ArtifactWriter {
    private static final ValueLayout.OfLong LONG_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Written in place of file_size until the size is known; non-zero so the builder keeps the field. */
    private static final long FILE_SIZE_PLACEHOLDER = -1L;
    /** Generous per-object allowance (headers, vtables, padding) for the buffer size estimate. */
    private static final long OBJECT_OVERHEAD_BYTES = 128;

    private ArtifactWriter() {
    }

    /**
     * Validates and writes an artifact to {@code path}, atomically: the bytes go to a temporary file in
     * the same directory, are forced to disk, and the temporary file is renamed over {@code path}. A
     * reader therefore sees the old file or the complete new one, never a partial write.
     *
     * @return the SHA-256 checksum of the file, 64 lowercase hex digits
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if the model, tokenizer or provenance
     *                              would not load (the message names the problem), {@link ErrorCode#IO_ERROR}
     *                              naming the path if writing fails
     */
    public static String write(QuantizedModel model, TokenizerSpec tokenizer, Provenance provenance, Path path) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(provenance, "provenance");
        Objects.requireNonNull(path, "path");
        validate(model, tokenizer, path);
        Encoded encoded = encode(RawArtifact.of(model, tokenizer, provenance));
        writeAtomically(encoded.bytes(), path);
        return encoded.sha256Hex();
    }

    /** The encoded file and its checksum. */
    record Encoded(ByteBuffer bytes, String sha256Hex) {
        byte[] toByteArray() {
            byte[] a = new byte[bytes.remaining()];
            bytes.duplicate().get(a);
            return a;
        }
    }

    private static void validate(QuantizedModel model, TokenizerSpec tokenizer, Path path) {
        ModelConfig c = model.config();
        try {
            TransformerWeights.of(model);
        } catch (ShiftformerException e) {
            throw refuse(path, e.getMessage());
        }
        if (tokenizer.vocabSize() != c.vocabSize()) {
            throw refuse(path, "tokenizer vocabulary " + tokenizer.vocabSize() + " (259 + " + tokenizer.mergeCount()
                    + " merges) differs from the model's vocab_size " + c.vocabSize());
        }
        if (c.padId() != TokenizerSpec.PAD || c.bosId() != TokenizerSpec.BOS || c.eosId() != TokenizerSpec.EOS) {
            throw refuse(path, "special ids pad " + c.padId() + ", bos " + c.bosId() + ", eos " + c.eosId()
                    + " differ from the byte-bpe tokenizer's 0, 1, 2");
        }
        for (String name : model.tensors().keySet()) {
            checkName(path, "tensor", name);
        }
        for (String name : model.exponents().keySet()) {
            checkName(path, "exponent", name);
        }
    }

    private static void checkName(Path path, String what, String name) {
        int bytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (bytes == 0 || bytes > ArtifactFormat.MAX_NAME_BYTES) {
            throw refuse(path, what + " name of " + bytes + " UTF-8 bytes, allowed 1 to " + ArtifactFormat.MAX_NAME_BYTES);
        }
    }

    private static ShiftformerException refuse(Path path, String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "refusing to write " + path + ": " + message);
    }

    /**
     * Encodes {@code a} as written, without validating it (tests use this to craft bad files), with
     * {@code file_size} and the checksum filled in.
     */
    static Encoded encode(RawArtifact a) {
        FlatBufferBuilder b = new FlatBufferBuilder(estimateBytes(a));

        int[] tensorOffsets = new int[a.tensors().size()];
        for (int i = 0; i < tensorOffsets.length; i++) {
            RawArtifact.RawTensor t = a.tensors().get(i);
            int data = dataVector(b, t.data());
            int shape = Tensor.createShapeVector(b, t.shape());
            int name = b.createString(t.name());
            tensorOffsets[i] = Tensor.createTensor(b, name, t.dtype(), shape, t.exponent(), data);
        }
        int tensors = Model.createTensorsVector(b, tensorOffsets);

        int[] exponentOffsets = new int[a.exponents().size()];
        int k = 0;
        for (Map.Entry<String, Integer> e : a.exponents().entrySet()) {
            int name = b.createString(e.getKey());
            exponentOffsets[k++] = NamedExponent.createNamedExponent(b, name, e.getValue());
        }
        int exponents = Model.createExponentsVector(b, exponentOffsets);

        int lut = Model.createSoftmaxLutVector(b, a.softmaxLut());

        int kind = b.createString(a.tokenizerKind());
        Tokenizer.startMergesVector(b, a.mergeLeft().length);
        for (int r = a.mergeLeft().length - 1; r >= 0; r--) {
            Merge.createMerge(b, a.mergeLeft()[r], a.mergeRight()[r]);
        }
        int merges = b.endVector();
        int tokenizer = Tokenizer.createTokenizer(b, kind, merges);

        ModelConfig c = a.config();
        int config = org.shiftformer.proto.model.ModelConfig.createModelConfig(b, c.dModel(), c.heads(), c.dFf(),
                c.encoderLayers(), c.decoderLayers(), c.vocabSize(), c.maxPositions(), c.embedScaleLog2(), c.padId(),
                c.bosId(), c.eosId());

        Provenance p = a.provenance();
        int[] metricOffsets = new int[p.metrics().size()];
        k = 0;
        for (Map.Entry<String, Double> m : p.metrics().entrySet()) {
            int name = b.createString(m.getKey());
            metricOffsets[k++] = Metric.createMetric(b, name, m.getValue());
        }
        int metrics = org.shiftformer.proto.model.Provenance.createMetricsVector(b, metricOffsets);
        int provenance = org.shiftformer.proto.model.Provenance.createProvenance(b, b.createString(p.trainer()),
                p.createdUnixMs(), b.createString(p.dataHash()), b.createString(p.command()), b.createString(p.notes()),
                metrics);

        Model.startModel(b);
        Model.addFileSize(b, FILE_SIZE_PLACEHOLDER);
        Model.addChecksum(b, Sha256.createSha256(b, 0, 0, 0, 0));
        Model.addFormatVersion(b, a.formatVersion());
        Model.addConfig(b, config);
        Model.addTokenizer(b, tokenizer);
        Model.addTensors(b, tensors);
        Model.addExponents(b, exponents);
        Model.addSoftmaxLut(b, lut);
        Model.addProvenance(b, provenance);
        int root = Model.endModel(b);
        b.finish(root, ArtifactFormat.FILE_IDENTIFIER);

        ByteBuffer out = b.dataBuffer().slice().order(ByteOrder.LITTLE_ENDIAN);
        MemorySegment file = MemorySegment.ofBuffer(out);
        ArtifactHeader header = ArtifactHeader.locate(ArtifactFormat.verifier("(artifact being written)", file));
        if (header.fileSizePos() < 0 || header.checksumPos() < 0) {
            throw new ShiftformerException(ErrorCode.INTERNAL, "artifact writer: file_size or checksum field not written");
        }
        file.set(LONG_LE, header.fileSizePos(), file.byteSize());
        byte[] digest = ArtifactChecksum.compute(file, header.checksumPos());
        ArtifactChecksum.store(file, header.checksumPos(), digest);
        return new Encoded(out, ArtifactChecksum.hex(digest));
    }

    /** A [ubyte] vector holding {@code data}, its first byte aligned to {@link ArtifactFormat#TENSOR_DATA_ALIGNMENT}. */
    private static int dataVector(FlatBufferBuilder b, MemorySegment data) {
        int length = Math.toIntExact(data.byteSize());
        ByteBuffer dst = b.createUnintializedVector(1, length, ArtifactFormat.TENSOR_DATA_ALIGNMENT);
        dst.put(data.asByteBuffer());
        return b.endVector();
    }

    /** An upper bound of the encoded size, so the builder never regrows (and never past 2 GiB). */
    private static int estimateBytes(RawArtifact a) {
        long n = 4096;
        for (RawArtifact.RawTensor t : a.tensors()) {
            n += t.data().byteSize() + ArtifactFormat.TENSOR_DATA_ALIGNMENT + 4L * t.shape().length
                    + 3L * t.name().length() + 3 * OBJECT_OVERHEAD_BYTES;
        }
        for (String name : a.exponents().keySet()) {
            n += 3L * name.length() + 2 * OBJECT_OVERHEAD_BYTES;
        }
        n += 8L * a.mergeLeft().length + 4L * a.softmaxLut().length + 3L * a.tokenizerKind().length();
        Provenance p = a.provenance();
        n += 3L * (p.trainer().length() + p.dataHash().length() + p.command().length() + p.notes().length());
        for (String name : p.metrics().keySet()) {
            n += 3L * name.length() + 2 * OBJECT_OVERHEAD_BYTES;
        }
        n += 16 * OBJECT_OVERHEAD_BYTES;
        if (n > ArtifactFormat.MAX_FILE_BYTES) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "model too large for artifact format "
                    + ArtifactFormat.VERSION + ": about " + n + " bytes, at most " + ArtifactFormat.MAX_FILE_BYTES);
        }
        return (int) n;
    }

    private static void writeAtomically(ByteBuffer bytes, Path path) {
        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        Path tmp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                + ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer src = bytes.duplicate();
                while (src.hasRemaining()) {
                    ch.write(src);
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            ShiftformerException error = new ShiftformerException(ErrorCode.IO_ERROR, "cannot write " + path + ": " + e, e);
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException cleanup) {
                error.addSuppressed(cleanup);
            }
            throw error;
        }
    }
}
