/**
 * The model artifact: format, writer, verifying reader and inspector. ARTIFACT.md at the repository
 * root is the full contract; this is its summary for readers of the code.
 *
 * <h2>Format 1</h2>
 *
 * One FlatBuffers buffer (schema {@code proto/src/main/fbs/model.fbs}, root table {@code Model}, file
 * identifier {@code SFTM}, extension {@code .itm}), every scalar little-endian:
 *
 * <pre>
 *  offset 0        4        8
 *         +--------+--------+------------------------------------------------------------+
 *         | uoffset| "SFTM" | vtables, tables, vectors, strings (FlatBuffers layout)      |
 *         | to root|        | root table Model:                                           |
 *         +--------+--------+   0 format_version uint   = 1 (field 0 in every version)     |
 *                               1 config         ModelConfig  (all 11 hyper-parameters)    |
 *                               2 tokenizer      Tokenizer    ("byte-bpe", [Merge])        |
 *                               3 tensors        [Tensor]     (name, dtype, shape,         |
 *                                                             exponent, [ubyte] data)      |
 *                               4 exponents      [NamedExponent]                           |
 *                               5 softmax_lut    [int]        (64 entries, SPEC.md app. A) |
 *                               6 provenance     Provenance   (trainer, time, data hash,   |
 *                                                             command, notes, [Metric])    |
 *                               7 checksum       Sha256 struct, 32 bytes inline            |
 *                               8 file_size      ulong, the length of the whole file       |
 * </pre>
 *
 * <p><b>Checksum.</b> SHA-256 over the whole file with the 32 bytes of the {@code checksum} struct
 * read as zeros, so every byte (padding included) is covered and any truncation or flipped byte is
 * detected. The struct holds the digest as four {@code ulong}s, {@code w0} = digest bytes 0..7 read
 * big-endian, ..., {@code w3} = bytes 24..31; formatting {@code w0..w3} as 16 hex digits each gives the
 * usual hex digest. To find the struct: root = uint32 at 0; vtable = root - int32 at root; the struct
 * starts at root + uint16 at (vtable + 4 + 2 * 7). See {@link ArtifactChecksum}.
 *
 * <p><b>Tokenizer.</b> The vocabulary is derived: ids 0, 1, 2 are pad, bos, eos; 3..258 the bytes;
 * 259 + r merge r. So {@code config.vocab_size == 259 + merges.length}, and the config's special ids
 * are 0, 1, 2. See {@link TokenizerSpec}.
 *
 * <p><b>Tensors.</b> Raw little-endian elements, exactly {@code product(shape) * sizeof(dtype)}
 * bytes, every dimension positive, rank 1..8, names unique, no two tensors sharing bytes. The writer
 * aligns every data vector to {@value ArtifactFormat#TENSOR_DATA_ALIGNMENT} bytes from the start of
 * the file (readers do not require it).
 *
 * <h2>Reading</h2>
 *
 * {@link ArtifactReader} checks size, identifier, header (version, file size), checksum, full
 * structure ({@link org.shiftformer.protocol.flatbuffers.FlatBufferVerifier} with {@link ModelVerifier}) and semantics, in that order,
 * before it constructs anything a caller sees; any failure is a
 * {@link org.shiftformer.api.ShiftformerException} whose message names the file and the problem.
 *
 * <p><b>Lifetime.</b> The file is memory-mapped into an {@link java.lang.foreign.Arena#ofAuto()
 * automatic arena} and tensors are slices of the mapping (no copy). An automatic arena was chosen over
 * a shared one because an {@link Artifact} has no close: the mapping is released by the garbage
 * collector once no tensor, slice or artifact refers to it, so a use-after-unmap is impossible, at the
 * price of a mapping outliving its last use until a collection. Artifacts must be replaced by rename
 * (as {@link ArtifactWriter} does), never rewritten in place while mapped.
 *
 * <h2>Writing</h2>
 *
 * {@link ArtifactWriter} refuses anything the reader would reject, produces the same bytes for the same
 * inputs, fills {@code file_size} and the checksum into the finished buffer, and replaces the target
 * atomically (temporary file in the same directory, fsync, rename).
 */
package org.shiftformer.core.artifact;
