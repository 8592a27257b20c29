package org.shiftformer.trainer.data;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Strict UTF-8 line reading shared by the file formats. Lines are split on bytes and decoded one by one,
 * so an invalid byte sequence is reported with the exact file and 1-based line (a buffered
 * {@code Reader} would fail while filling its buffer, lines ahead).
 */
final class TextFiles implements Closeable {
    private final Path file;
    private final InputStream in;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    private final byte[] buf = new byte[1 << 16];
    private int pos;
    private int limit;
    private byte[] line = new byte[256];
    private long lineNumber;

    private TextFiles(Path file, InputStream in) {
        this.file = file;
        this.in = in;
    }

    /** Opens {@code file}, gunzipped when the name ends in {@code .gz}. */
    static TextFiles open(Path file) {
        try {
            InputStream in = Files.newInputStream(file);
            if (file.getFileName().toString().endsWith(".gz")) {
                in = new GZIPInputStream(in, 1 << 16);
            }
            return new TextFiles(file, in);
        } catch (NoSuchFileException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ": no such file");
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, file + ": cannot open: " + e.getMessage(), e);
        }
    }

    /** The 1-based number of the line last returned by {@link #readLine()}. */
    long lineNumber() {
        return lineNumber;
    }

    Path file() {
        return file;
    }

    /**
     * The next line without its terminator ({@code \n}, {@code \r\n}), a leading byte-order mark removed
     * on line 1, or {@code null} at the end.
     */
    String readLine() {
        int len = 0;
        boolean newline = false;
        while (!newline) {
            if (pos == limit && !fill()) {
                break;
            }
            int start = pos;
            while (pos < limit && buf[pos] != '\n') {
                pos++;
            }
            int n = pos - start;
            if (len + n > line.length) {
                line = Arrays.copyOf(line, Math.max(line.length * 2, len + n));
            }
            System.arraycopy(buf, start, line, len, n);
            len += n;
            if (pos < limit) {
                pos++; // the '\n'
                newline = true;
            }
        }
        if (!newline && len == 0) {
            return null;
        }
        lineNumber++;
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        String s;
        try {
            s = decoder.decode(ByteBuffer.wrap(line, 0, len)).toString();
        } catch (CharacterCodingException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, file + ":" + lineNumber + ": not valid UTF-8", e);
        }
        return lineNumber == 1 && s.startsWith("\uFEFF") ? s.substring(1) : s;
    }

    private boolean fill() {
        try {
            int n = in.read(buf, 0, buf.length);
            if (n <= 0) {
                return false;
            }
            pos = 0;
            limit = n;
            return true;
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, file + ":" + (lineNumber + 1) + ": read failed: "
                + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            in.close();
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, file + ": close failed: " + e.getMessage(), e);
        }
    }
}
