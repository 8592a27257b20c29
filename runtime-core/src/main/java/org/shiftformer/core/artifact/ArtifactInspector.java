package org.shiftformer.core.artifact;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;

/**
 * The human-readable report of {@code ./shiftformer inspect FILE}: header, config, tokenizer, every
 * tensor with its value range, every exponent, provenance and checksum status. Only a file that passes
 * every check of {@link ArtifactReader} gets a report; for any other the reader's exception (whose
 * message names the problem) is what the user sees.
 */
public final class ArtifactInspector {
    private ArtifactInspector() {
    }

    /**
     * Reads, verifies and describes the artifact at {@code path}.
     *
     * @throws ShiftformerException as {@link ArtifactReader#read(Path)}
     */
    public static String inspect(Path path) {
        Artifact artifact = ArtifactReader.read(path);
        long bytes;
        try {
            bytes = Files.size(path);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read " + path + ": " + e, e);
        }
        return report(path.toString(), bytes, artifact);
    }

    /** The report of an artifact already read from {@code fileName} of {@code fileBytes} bytes. */
    public static String report(String fileName, long fileBytes, Artifact artifact) {
        QuantizedModel model = artifact.model();
        ModelConfig c = model.config();
        StringBuilder sb = new StringBuilder();
        sb.append("file       ").append(fileName).append('\n');
        sb.append("magic      ").append(ArtifactFormat.FILE_IDENTIFIER).append('\n');
        sb.append("format     ").append(Artifact.FORMAT_VERSION).append('\n');
        sb.append("size       ").append(fileBytes).append(" bytes (").append(model.weightBytes())
                .append(" bytes of tensor data)\n");
        sb.append("checksum   sha256 ").append(artifact.sha256Hex()).append(" verified\n");

        sb.append("\nconfig\n");
        sb.append("  d_model ").append(c.dModel()).append(", heads ").append(c.heads()).append(" (d_k ").append(c.dHead())
                .append("), d_ff ").append(c.dFf()).append(", layers ").append(c.encoderLayers()).append(" encoder + ")
                .append(c.decoderLayers()).append(" decoder\n");
        sb.append("  vocab_size ").append(c.vocabSize()).append(", max_positions ").append(c.maxPositions())
                .append(", embed_scale_log2 ").append(c.embedScaleLog2()).append(", pad ").append(c.padId())
                .append(", bos ").append(c.bosId()).append(", eos ").append(c.eosId()).append('\n');

        TokenizerSpec t = artifact.tokenizer();
        sb.append("\ntokenizer\n");
        sb.append("  kind ").append(TokenizerSpec.KIND).append(", ").append(t.mergeCount()).append(" merges, vocab ")
                .append(t.vocabSize()).append(" (3 special + 256 bytes + ").append(t.mergeCount()).append(" merges)\n");

        sb.append("\ntensors (").append(model.tensors().size()).append(")\n");
        String[][] rows = new String[model.tensors().size() + 1][];
        rows[0] = new String[] {"name", "dtype", "shape", "exp", "bytes", "min", "max"};
        int r = 1;
        for (QTensor q : model.tensors().values()) {
            long min = Long.MAX_VALUE;
            long max = Long.MIN_VALUE;
            for (int i = 0, n = q.elementCount(); i < n; i++) {
                int v = q.get(i);
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            rows[r++] = new String[] {q.name(), q.dtype().name(), Arrays.toString(q.shape()),
                    Integer.toString(q.exponent()), Long.toString(q.data().byteSize()), Long.toString(min),
                    Long.toString(max)};
        }
        table(sb, rows, 1, false, false, false, true, true, true, true);

        sb.append("\nexponents (").append(model.exponents().size()).append(")\n");
        String[][] exps = new String[model.exponents().size()][];
        r = 0;
        for (Map.Entry<String, Integer> e : model.exponents().entrySet()) {
            exps[r++] = new String[] {e.getKey(), Integer.toString(e.getValue())};
        }
        table(sb, exps, 1, false, true);

        sb.append("\nsoftmax_lut ").append(model.softmaxLut().length).append(" entries, equal to SPEC.md appendix A\n");

        Provenance p = artifact.provenance();
        sb.append("\nprovenance\n");
        sb.append("  trainer    ").append(p.trainer()).append('\n');
        sb.append("  created    ").append(p.createdUnixMs()).append(" (").append(Instant.ofEpochMilli(p.createdUnixMs()))
                .append(")\n");
        sb.append("  data_hash  ").append(p.dataHash()).append('\n');
        sb.append("  command    ").append(p.command()).append('\n');
        sb.append("  notes      ").append(p.notes()).append('\n');
        sb.append("  metrics (").append(p.metrics().size()).append(")\n");
        String[][] metrics = new String[p.metrics().size()][];
        r = 0;
        for (Map.Entry<String, Double> m : p.metrics().entrySet()) {
            metrics[r++] = new String[] {m.getKey(), Double.toString(m.getValue())};
        }
        table(sb, metrics, 2, false, true);
        return sb.toString();
    }

    /** Text columns two spaces apart, indented by {@code indent} levels; numeric columns right-aligned. */
    private static void table(StringBuilder sb, String[][] rows, int indent, boolean... rightAligned) {
        if (rows.length == 0) {
            return;
        }
        int[] width = new int[rightAligned.length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        for (String[] row : rows) {
            sb.append("  ".repeat(indent));
            for (int i = 0; i < row.length; i++) {
                boolean last = i == row.length - 1;
                String pad = " ".repeat(width[i] - row[i].length());
                if (rightAligned[i]) {
                    sb.append(pad).append(row[i]);
                } else {
                    sb.append(row[i]).append(last ? "" : pad);
                }
                if (!last) {
                    sb.append("  ");
                }
            }
            sb.append('\n');
        }
    }
}
