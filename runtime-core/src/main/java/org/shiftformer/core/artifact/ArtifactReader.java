package org.shiftformer.core.artifact;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.proto.model.Merge;
import org.shiftformer.proto.model.Metric;
import org.shiftformer.proto.model.Model;
import org.shiftformer.proto.model.NamedExponent;
import org.shiftformer.proto.model.Tensor;
import org.shiftformer.proto.model.Tokenizer;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier;

/**
 * Reads and verifies model artifacts. Nothing user-visible is constructed until every check has passed,
 * in this order:
 *
 * <ol>
 *   <li>size: at least {@value ArtifactFormat#MIN_FILE_BYTES} bytes, at most 2^31-1;</li>
 *   <li>file identifier {@code SFTM} at bytes 4..7;</li>
 *   <li>header: the root table is located with just enough verification to read three fields safely;
 *       {@code format_version} must be 1 (otherwise {@link ErrorCode#UNSUPPORTED_VERSION}: field 0 and
 *       the identifier are the two things every format version keeps, so a newer file is reported as
 *       newer, not as corrupt); {@code file_size} must equal the file's length (a shorter file is
 *       reported as truncated); the {@code checksum} struct must be present;</li>
 *   <li>SHA-256 of the whole file (checksum bytes read as zeros) equals the stored checksum;</li>
 *   <li>full structural verification ({@link FlatBufferVerifier}, {@link ModelVerifier}), which is safe on
 *       crafted files that carry a valid checksum;</li>
 *   <li>semantics: per tensor dtype, rank, positive dimensions and data length, exponent range, no
 *       duplicate names, no two tensors sharing data bytes; tokenizer kind, merges and vocabulary
 *       against the config; then {@link TransformerWeights#of} (names, shapes, shifts, accumulator
 *       bounds, softmax table).</li>
 * </ol>
 *
 * <p>Every failure is a {@link ShiftformerException} with {@link ErrorCode#INVALID_ARTIFACT} (or
 * {@code UNSUPPORTED_VERSION}, or {@code IO_ERROR} for the file system) whose message starts with the
 * file name and names what is wrong. No other exception escapes: as a last line of defence an
 * unexpected runtime exception is reported as {@code INVALID_ARTIFACT} "verifier gap" with the
 * original as its cause, which tests treat as a failure.
 */
public final class ArtifactReader {
    private ArtifactReader() {
    }

    /**
     * Memory-maps, verifies and loads the artifact at {@code path}. The tensors of the result are slices
     * of the mapping, which lives in an automatic arena: it is unmapped by the garbage collector once
     * neither the artifact nor any tensor (or slice of one) is reachable, so no access can ever hit an
     * unmapped page. The file must not be modified in place while mapped (replace it by renaming, as
     * {@link ArtifactWriter} does); shrinking a mapped file makes later reads fail in the JVM.
     *
     * @throws ShiftformerException see the class documentation
     */
    public static Artifact read(Path path) {
        Objects.requireNonNull(path, "path");
        String name = path.toString();
        if (Files.isDirectory(path)) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read " + name + ": it is a directory");
        }
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            checkSize(name, size);
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.ofAuto());
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read " + name + ": " + describe(e), e);
        }
        return read(name, file);
    }

    /** Verifies and loads an artifact held in {@code file}, named {@code name} in messages. */
    static Artifact read(String name, MemorySegment file) {
        try {
            return new Decoder(name, file).decode();
        } catch (ShiftformerException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, name + ": malformed artifact (unexpected " + e
                    + ": a verifier gap, please report it)", e);
        }
    }

    private static void checkSize(String name, long size) {
        if (size < ArtifactFormat.MIN_FILE_BYTES) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, name + ": truncated or not an artifact: " + size
                    + " bytes, an artifact has at least " + ArtifactFormat.MIN_FILE_BYTES);
        }
        if (size > ArtifactFormat.MAX_FILE_BYTES) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, name + ": " + size + " bytes, artifact format "
                    + ArtifactFormat.VERSION + " holds at most " + ArtifactFormat.MAX_FILE_BYTES
                    + " (FlatBuffers offsets are 32-bit)");
        }
    }

    private static String describe(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        return e.toString();
    }

    /** One decoding: the steps of the class documentation, in order. */
    private static final class Decoder {
        private final String name;
        private final MemorySegment file;

        Decoder(String name, MemorySegment file) {
            this.name = name;
            this.file = file;
        }

        Artifact decode() {
            checkSize(name, file.byteSize());
            FlatBufferVerifier header = ArtifactFormat.verifier(name, file);
            if (!ArtifactHeader.hasIdentifier(header)) {
                throw invalid("not a shiftformer artifact: file identifier is \"" + ArtifactHeader.identifierAsFound(header)
                        + "\", expected \"" + ArtifactFormat.FILE_IDENTIFIER + "\" at bytes 4..7");
            }
            ArtifactHeader h = ArtifactHeader.locate(header);
            checkHeader(h);
            String sha = verifyChecksum(h.checksumPos());
            ModelVerifier.verify(ArtifactFormat.verifier(name, file));
            return semantics(sha);
        }

        private void checkHeader(ArtifactHeader h) {
            if (h.formatVersion() < 0) {
                throw invalid("Model.format_version is missing");
            }
            if (h.formatVersion() != ArtifactFormat.VERSION) {
                throw new ShiftformerException(ErrorCode.UNSUPPORTED_VERSION, name + ": artifact format version "
                        + h.formatVersion() + ", this build reads " + ArtifactFormat.VERSION);
            }
            if (h.fileSizePos() < 0) {
                throw invalid("Model.file_size is missing");
            }
            long actual = file.byteSize();
            long declared = h.declaredSize();
            if (declared != actual) {
                String declaredText = Long.toUnsignedString(declared);
                if (Long.compareUnsigned(actual, declared) < 0) {
                    throw invalid("truncated: " + actual + " bytes, the artifact header says " + declaredText
                            + " (an incomplete copy or download?)");
                }
                throw invalid(actual + " bytes, but the artifact header says " + declaredText
                        + " (bytes appended, or a corrupt header)");
            }
            if (h.checksumPos() < 0) {
                throw invalid("Model.checksum is missing");
            }
        }

        private String verifyChecksum(int checksumPos) {
            String stored = ArtifactChecksum.hex(ArtifactChecksum.stored(file, checksumPos));
            String actual = ArtifactChecksum.hex(ArtifactChecksum.compute(file, checksumPos));
            if (!stored.equals(actual)) {
                throw invalid("checksum mismatch: file says " + stored + ", content hashes to " + actual
                        + " (corrupt or modified)");
            }
            return actual;
        }

        private Artifact semantics(String sha) {
            ByteBuffer bb = file.asByteBuffer();
            Model m = Model.getRootAsModel(bb);
            ModelConfig config = config(m.config());
            TokenizerSpec tokenizer = tokenizer(m.tokenizer(), config);
            List<QTensor> tensors = tensors(m);
            Map<String, Integer> exponents = exponents(m);
            int[] lut = new int[m.softmaxLutLength()];
            for (int i = 0; i < lut.length; i++) {
                lut[i] = m.softmaxLut(i);
            }
            Provenance provenance = provenance(m.provenance());
            QuantizedModel model;
            try {
                model = new QuantizedModel(config, tensors, exponents, lut);
                TransformerWeights.of(model);
            } catch (ShiftformerException e) {
                throw invalid(e.getMessage(), e);
            }
            return new Artifact(model, tokenizer, provenance, sha);
        }

        private ModelConfig config(org.shiftformer.proto.model.ModelConfig c) {
            ModelConfig config = new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(),
                    c.vocabSize(), c.maxPositions(), c.embedScaleLog2(), c.padId(), c.bosId(), c.eosId());
            try {
                return config.validate();
            } catch (ShiftformerException e) {
                throw invalid(e.getMessage(), e);
            }
        }

        private TokenizerSpec tokenizer(Tokenizer t, ModelConfig config) {
            String kind = t.kind();
            if (!TokenizerSpec.KIND.equals(kind)) {
                throw invalid("tokenizer kind \"" + kind + "\" is not supported (this build reads \"" + TokenizerSpec.KIND
                        + "\")");
            }
            int n = t.mergesLength();
            int[] left = new int[n];
            int[] right = new int[n];
            Merge merge = new Merge();
            for (int r = 0; r < n; r++) {
                t.merges(merge, r);
                left[r] = merge.left();
                right[r] = merge.right();
            }
            TokenizerSpec spec;
            try {
                spec = new TokenizerSpec(left, right);
            } catch (ShiftformerException e) {
                throw invalid(e.getMessage(), e);
            }
            if (spec.vocabSize() != config.vocabSize()) {
                throw invalid("tokenizer: " + n + " merges give a vocabulary of " + spec.vocabSize()
                        + " (259 + merges), but the model config says vocab_size " + config.vocabSize());
            }
            if (config.padId() != TokenizerSpec.PAD || config.bosId() != TokenizerSpec.BOS
                    || config.eosId() != TokenizerSpec.EOS) {
                throw invalid("model config: special ids pad " + config.padId() + ", bos " + config.bosId() + ", eos "
                        + config.eosId() + " differ from the byte-bpe tokenizer's 0, 1, 2");
            }
            return spec;
        }

        private List<QTensor> tensors(Model m) {
            int n = m.tensorsLength();
            List<QTensor> out = new ArrayList<>(n);
            Set<String> names = new HashSet<>();
            long[] starts = new long[n];
            long[] ends = new long[n];
            Tensor t = new Tensor();
            for (int i = 0; i < n; i++) {
                m.tensors(t, i);
                String tname = t.name();
                if (tname.isEmpty()) {
                    throw invalid("Model.tensors[" + i + "] has an empty name");
                }
                if (!names.add(tname)) {
                    throw invalid("tensor " + tname + " appears twice (again at Model.tensors[" + i + "])");
                }
                DType dtype = RawArtifact.dtypeOf(t.dtype());
                if (dtype == null) {
                    throw invalid("tensor " + tname + ": unknown dtype " + t.dtype() + " (model.fbs defines 0..3)");
                }
                int rank = t.shapeLength();
                if (rank == 0) {
                    throw invalid("tensor " + tname + ": empty shape (a scalar is shape [1])");
                }
                int[] shape = new int[rank];
                for (int j = 0; j < rank; j++) {
                    shape[j] = t.shape(j);
                }
                long needed = dtype.byteSize();
                for (int d : shape) {
                    if (d <= 0) {
                        throw invalid("tensor " + tname + ": dimension " + d + " in shape " + Arrays.toString(shape)
                                + " is not positive");
                    }
                    // Each factor is below 2^31 and the running product stays at most 2^31 here: no overflow.
                    needed = Math.min(needed * d, ArtifactFormat.MAX_FILE_BYTES + 1);
                }
                long length = t.dataLength();
                if (needed != length) {
                    String need = needed > ArtifactFormat.MAX_FILE_BYTES ? "more than " + ArtifactFormat.MAX_FILE_BYTES
                            : Long.toString(needed);
                    throw invalid("tensor " + tname + ": data is " + length + " bytes, shape " + Arrays.toString(shape)
                            + " of " + dtype + " needs " + need);
                }
                int exponent = t.exponent();
                if (exponent < TransformerWeights.MIN_EXPONENT || exponent > TransformerWeights.MAX_EXPONENT) {
                    throw invalid("tensor " + tname + ": exponent " + exponent + " is outside ["
                            + TransformerWeights.MIN_EXPONENT + ", " + TransformerWeights.MAX_EXPONENT + "]");
                }
                long start = t.dataAsByteBuffer().position();
                starts[i] = start;
                ends[i] = start + length;
                out.add(new QTensor(tname, dtype, shape, exponent, file.asSlice(start, length)));
            }
            checkDisjoint(out, starts, ends);
            return out;
        }

        /** Two tensors sharing bytes would let a small file describe a huge model; real writers never do it. */
        private void checkDisjoint(List<QTensor> tensors, long[] starts, long[] ends) {
            Integer[] order = new Integer[starts.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Long.compare(starts[a], starts[b]));
            for (int k = 1; k < order.length; k++) {
                int prev = order[k - 1];
                int cur = order[k];
                if (starts[cur] < ends[prev]) {
                    throw invalid("tensors " + tensors.get(prev).name() + " and " + tensors.get(cur).name()
                            + " share data bytes [" + starts[cur] + ", " + Math.min(ends[prev], ends[cur]) + ")");
                }
            }
        }

        private Map<String, Integer> exponents(Model m) {
            int n = m.exponentsLength();
            Map<String, Integer> out = new LinkedHashMap<>();
            NamedExponent e = new NamedExponent();
            for (int i = 0; i < n; i++) {
                m.exponents(e, i);
                String ename = e.name();
                if (ename.isEmpty()) {
                    throw invalid("Model.exponents[" + i + "] has an empty name");
                }
                int value = e.value();
                if (out.put(ename, value) != null) {
                    throw invalid("exponent " + ename + " appears twice (again at Model.exponents[" + i + "])");
                }
                if (value < TransformerWeights.MIN_EXPONENT || value > TransformerWeights.MAX_EXPONENT) {
                    throw invalid("exponent " + ename + " is " + value + ", outside [" + TransformerWeights.MIN_EXPONENT
                            + ", " + TransformerWeights.MAX_EXPONENT + "]");
                }
            }
            return out;
        }

        private Provenance provenance(org.shiftformer.proto.model.Provenance p) {
            int n = p.metricsLength();
            Map<String, Double> metrics = new LinkedHashMap<>();
            Metric metric = new Metric();
            for (int i = 0; i < n; i++) {
                p.metrics(metric, i);
                String mname = metric.name();
                if (mname.isEmpty()) {
                    throw invalid("Model.provenance.metrics[" + i + "] has an empty name");
                }
                if (metrics.put(mname, metric.value()) != null) {
                    throw invalid("provenance: metric " + mname + " appears twice");
                }
            }
            try {
                return new Provenance(orEmpty(p.trainer()), p.createdUnixMs(), orEmpty(p.dataHash()), orEmpty(p.command()),
                        orEmpty(p.notes()), metrics);
            } catch (ShiftformerException e) {
                throw invalid(e.getMessage(), e);
            }
        }

        private static String orEmpty(String s) {
            return s == null ? "" : s;
        }

        private ShiftformerException invalid(String message) {
            return new ShiftformerException(ErrorCode.INVALID_ARTIFACT, name + ": " + message);
        }

        private ShiftformerException invalid(String message, ShiftformerException cause) {
            return new ShiftformerException(ErrorCode.INVALID_ARTIFACT, name + ": " + message, cause);
        }
    }
}
