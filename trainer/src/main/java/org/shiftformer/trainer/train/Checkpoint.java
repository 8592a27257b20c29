package org.shiftformer.trainer.train;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.optim.AdamW;

/**
 * The training state on disk: enough to continue a run bit for bit (parameters, Adam moments and step
 * count, data position, tokenizer merges, model shape).
 *
 * <pre>
 * offset  field
 * 0       magic "SFTRAIN\0" (8 bytes)
 * 8       version (int32 = 1)
 *         ModelConfig: 11 int32 (d_model, heads, d_ff, enc layers, dec layers, vocab, max_positions,
 *                      embed_scale_log2, pad, bos, eos)
 *         merges: int32 n, then n int32 left ids, n int32 right ids
 *         step int64, epoch int64, cursor int32, seed int64
 *         tensors: int32 n, then per tensor: UTF name, int32 size, size float32 values,
 *                  size float32 first moments, size float32 second moments
 * end-8   CRC32 of every byte before it (int64)
 * </pre>
 * Big-endian (DataOutputStream). Written to a temporary file and moved into place, so a crash never
 * leaves a half-written checkpoint under the real name.
 *
 * @param config     the model shape
 * @param mergeLeft  tokenizer merges (left ids)
 * @param mergeRight tokenizer merges (right ids)
 * @param step       optimizer steps done
 * @param epoch      data epoch
 * @param cursor     batches of that epoch taken
 * @param seed       the run's seed
 * @param tensors    name to {@code {values, m, v}}, in the optimizer's order
 */
public record Checkpoint(ModelConfig config, int[] mergeLeft, int[] mergeRight, long step, long epoch, int cursor,
                         long seed, Map<String, float[][]> tensors) {

    static final byte[] MAGIC = {'S', 'F', 'T', 'R', 'A', 'I', 'N', 0};
    static final int VERSION = 1;

    /** Captures the state of {@code optimizer}'s parameters (copies). */
    public static Checkpoint capture(ModelConfig config, int[] mergeLeft, int[] mergeRight, AdamW optimizer,
                                     long epoch, int cursor, long seed) {
        Map<String, float[][]> ts = new LinkedHashMap<>();
        for (Tensor t : optimizer.params()) {
            float[][] mv = optimizer.moments(t);
            if (t.name() == null || ts.put(t.name(), new float[][] {t.data().clone(), mv[0].clone(), mv[1].clone()})
                    != null) {
                throw new IllegalArgumentException("checkpoint needs unique tensor names, got " + t);
            }
        }
        return new Checkpoint(config, mergeLeft.clone(), mergeRight.clone(), optimizer.stepCount(), epoch, cursor,
                seed, ts);
    }

    /** Copies values and moments into {@code optimizer}'s parameters and sets its step count. */
    public void restore(AdamW optimizer) {
        List<Tensor> ps = optimizer.params();
        if (ps.size() != tensors.size()) {
            throw new IllegalArgumentException("checkpoint holds " + tensors.size() + " tensors, the model has "
                    + ps.size());
        }
        for (Tensor t : ps) {
            float[][] s = tensors.get(t.name());
            if (s == null) {
                throw new IllegalArgumentException("checkpoint has no tensor '" + t.name() + "'");
            }
            if (s[0].length != t.size()) {
                throw new IllegalArgumentException("checkpoint tensor '" + t.name() + "' has " + s[0].length
                        + " values, the model's has " + t.size());
            }
            float[][] mv = optimizer.moments(t);
            System.arraycopy(s[0], 0, t.data(), 0, t.size());
            System.arraycopy(s[1], 0, mv[0], 0, t.size());
            System.arraycopy(s[2], 0, mv[1], 0, t.size());
        }
        optimizer.setStepCount(step);
    }

    /** Writes atomically (temporary file, then move). */
    public void write(Path path) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(MAGIC);
            out.writeInt(VERSION);
            ModelConfig c = config;
            for (int v : new int[] {c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(),
                    c.vocabSize(), c.maxPositions(), c.embedScaleLog2(), c.padId(), c.bosId(), c.eosId()}) {
                out.writeInt(v);
            }
            out.writeInt(mergeLeft.length);
            for (int v : mergeLeft) {
                out.writeInt(v);
            }
            for (int v : mergeRight) {
                out.writeInt(v);
            }
            out.writeLong(step);
            out.writeLong(epoch);
            out.writeInt(cursor);
            out.writeLong(seed);
            out.writeInt(tensors.size());
            for (Map.Entry<String, float[][]> e : tensors.entrySet()) {
                out.writeUTF(e.getKey());
                out.writeInt(e.getValue()[0].length);
                for (float[] a : e.getValue()) {
                    writeFloats(out, a);
                }
            }
            out.flush();
            CRC32 crc = new CRC32();
            crc.update(bytes.toByteArray());
            out.writeLong(crc.getValue());
            out.flush();
            Path abs = path.toAbsolutePath();
            if (abs.getParent() != null) {
                Files.createDirectories(abs.getParent());
            }
            Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
            Files.write(tmp, bytes.toByteArray());
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + path, e);
        }
    }

    private static void writeFloats(DataOutputStream out, float[] a) throws IOException {
        byte[] b = new byte[a.length * 4];
        for (int i = 0; i < a.length; i++) {
            int v = Float.floatToRawIntBits(a[i]);
            b[4 * i] = (byte) (v >>> 24);
            b[4 * i + 1] = (byte) (v >>> 16);
            b[4 * i + 2] = (byte) (v >>> 8);
            b[4 * i + 3] = (byte) v;
        }
        out.write(b);
    }

    /**
     * Reads and verifies a checkpoint.
     *
     * @throws IllegalArgumentException naming the file and the problem: wrong magic, unsupported version,
     *     checksum mismatch, truncation, or an invalid model shape
     */
    public static Checkpoint read(Path path) {
        byte[] all;
        try {
            all = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + path, e);
        }
        if (all.length < MAGIC.length + 12 || !java.util.Arrays.equals(all, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) {
            throw new IllegalArgumentException(path + " is not a shiftformer training checkpoint (bad magic)");
        }
        CRC32 crc = new CRC32();
        crc.update(all, 0, all.length - 8);
        long stored = java.nio.ByteBuffer.wrap(all, all.length - 8, 8).getLong();
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(all, 0, all.length - 8))) {
            in.skipNBytes(MAGIC.length);
            int version = in.readInt();
            if (version != VERSION) {
                throw new IllegalArgumentException("checkpoint " + path + " has version " + version + ", this trainer reads "
                        + VERSION);
            }
            if (stored != crc.getValue()) {
                throw new IllegalArgumentException("checkpoint " + path + " is corrupt: checksum "
                        + Long.toHexString(crc.getValue()) + " != stored " + Long.toHexString(stored));
            }
            ModelConfig cfg = new ModelConfig(in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt(),
                    in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt(), in.readInt()).validate();
            int merges = in.readInt();
            if (merges < 0 || merges > cfg.vocabSize()) {
                throw new IllegalArgumentException("checkpoint " + path + ": bad merge count " + merges);
            }
            int[] left = new int[merges];
            int[] right = new int[merges];
            for (int i = 0; i < merges; i++) {
                left[i] = in.readInt();
            }
            for (int i = 0; i < merges; i++) {
                right[i] = in.readInt();
            }
            long step = in.readLong();
            long epoch = in.readLong();
            int cursor = in.readInt();
            long seed = in.readLong();
            int n = in.readInt();
            Map<String, float[][]> ts = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                String name = in.readUTF();
                int size = in.readInt();
                if (size < 0 || (long) size * 12 > all.length) {
                    throw new IllegalArgumentException("checkpoint " + path + ": tensor '" + name + "' claims "
                            + size + " values");
                }
                float[][] vals = new float[3][];
                for (int k = 0; k < 3; k++) {
                    vals[k] = readFloats(in, size);
                }
                ts.put(name, vals);
            }
            if (in.available() != 0) {
                throw new IllegalArgumentException("checkpoint " + path + ": " + in.available() + " trailing bytes");
            }
            return new Checkpoint(cfg, left, right, step, epoch, cursor, seed, ts);
        } catch (java.io.EOFException e) {
            throw new IllegalArgumentException("checkpoint " + path + " is truncated", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + path, e);
        }
    }

    private static float[] readFloats(DataInputStream in, int n) throws IOException {
        byte[] b = in.readNBytes(n * 4);
        if (b.length != n * 4) {
            throw new java.io.EOFException();
        }
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = Float.intBitsToFloat(((b[4 * i] & 0xff) << 24) | ((b[4 * i + 1] & 0xff) << 16)
                    | ((b[4 * i + 2] & 0xff) << 8) | (b[4 * i + 3] & 0xff));
        }
        return a;
    }
}
