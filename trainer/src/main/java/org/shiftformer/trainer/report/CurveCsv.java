package org.shiftformer.trainer.report;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.eval.Metrics;

/**
 * Writes training curves as CSV, one row per logged step, flushed after every row so that a crashed or
 * interrupted run keeps its curve. Columns: {@link #HEADER}. Validation cells are empty on rows where no
 * validation ran; unknown numbers are empty too. Numbers use {@code .} as the decimal point whatever the
 * locale. {@link #read(Path)} parses the file back (the plot and tests use it).
 */
public final class CurveCsv implements Closeable {
    /** The header row. */
    public static final String HEADER = "step,wall_s,train_loss,lr,tokens_per_s,val_segments,val_exact,val_chrf,val_bleu";

    private final Path file;
    private final BufferedWriter writer;

    private CurveCsv(Path file, BufferedWriter writer) {
        this.file = file;
        this.writer = writer;
    }

    /** Creates (or truncates) {@code file} and writes the header. */
    public static CurveCsv create(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            CurveCsv csv = new CurveCsv(file, Files.newBufferedWriter(file, StandardCharsets.UTF_8));
            csv.writeLine(HEADER);
            return csv;
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot create curve file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Appends one row and flushes. */
    public void append(CurvePoint p) {
        Metrics v = p.validation();
        writeLine(p.step() + "," + num(p.wallSeconds(), "%.3f") + "," + num(p.trainLoss(), "%.6f") + ","
            + num(p.learningRate(), "%.6g") + "," + num(p.tokensPerSecond(), "%.1f") + ","
            + (v == null ? ",,," : v.segments() + "," + num(v.exactMatch(), "%.4f") + "," + num(v.chrf(), "%.4f") + ","
            + num(v.bleu(), "%.4f")));
    }

    private void writeLine(String line) {
        try {
            writer.write(line);
            writer.write('\n');
            writer.flush();
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot write curve file " + file + ": " + e.getMessage(), e);
        }
    }

    private static String num(double v, String format) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "" : String.format(Locale.ROOT, format, v);
    }

    @Override
    public void close() {
        try {
            writer.close();
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot close curve file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads a curve file written by this class; a malformed row is an error naming file and line. */
    public static List<CurvePoint> read(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read curve file " + file + ": " + e.getMessage(), e);
        }
        if (lines.isEmpty() || !lines.get(0).equals(HEADER)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":1: expected header \"" + HEADER + "\"");
        }
        List<CurvePoint> points = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            String[] f = line.split(",", -1);
            if (f.length != 9) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":" + (i + 1) + ": expected 9 fields, found " + f.length);
            }
            try {
                Metrics v = f[5].isEmpty() ? null
                    : new Metrics(Integer.parseInt(f[5]), dbl(f[6]), dbl(f[7]), dbl(f[8]));
                points.add(new CurvePoint(Long.parseLong(f[0]), dbl(f[1]), dbl(f[2]), dbl(f[3]), dbl(f[4]), v));
            } catch (NumberFormatException e) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":" + (i + 1) + ": bad number: " + e.getMessage(), e);
            }
        }
        return points;
    }

    private static double dbl(String s) {
        return s.isEmpty() ? Double.NaN : Double.parseDouble(s);
    }
}
