package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.flatbuffers.FlatBufferBuilder;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;
import org.shiftformer.proto.model.Model;
import org.shiftformer.proto.model.Sha256;
import org.shiftformer.proto.model.Tensor;

/** The field ids the verifier hard-codes agree with the code flatc generated from model.fbs. */
class ArtifactLayoutTest {

    @Test
    void headerFieldIdsMatchTheGeneratedModel() {
        FlatBufferBuilder b = new FlatBufferBuilder(128);
        Model.startModel(b);
        Model.addFileSize(b, 0x1122334455667788L);
        Model.addChecksum(b, Sha256.createSha256(b, 1, 2, 3, 4));
        Model.addFormatVersion(b, 0xFEDCBA98L);
        int root = b.endTable(); // endModel would insist on the required fields
        b.finish(root, ArtifactFormat.FILE_IDENTIFIER);
        byte[] bytes = b.sizedByteArray();

        ArtifactHeader h = ArtifactHeader.locate(ArtifactFormat.verifier("t", MemorySegment.ofArray(bytes)));
        Model m = Model.getRootAsModel(ByteBuffer.wrap(bytes));
        assertEquals(m.formatVersion(), h.formatVersion());
        assertEquals(m.fileSize(), h.declaredSize());
        ByteBuffer bb = TestArtifacts.le(bytes);
        assertEquals(m.checksum().w0(), bb.getLong(h.checksumPos()));
        assertEquals(m.checksum().w3(), bb.getLong(h.checksumPos() + 24));
    }

    @Test
    void tensorFieldIdsMatchTheGeneratedTensor() {
        byte[] file = TestArtifacts.smallFile();
        ByteBuffer bb = TestArtifacts.le(file);
        Tensor t = Model.getRootAsModel(ByteBuffer.wrap(file)).tensors(0);
        int table = TestArtifacts.tensorTable(bb, 0);
        assertEquals(t.dataAsByteBuffer().position() - 4, TestArtifacts.target(bb, table, ArtifactFormat.TENSOR_DATA));
        assertEquals(t.shapeAsByteBuffer().position() - 4, TestArtifacts.target(bb, table, ArtifactFormat.TENSOR_SHAPE));
        assertEquals(t.nameAsByteBuffer().position() - 4, TestArtifacts.target(bb, table, ArtifactFormat.TENSOR_NAME));
        assertEquals(t.exponent(), bb.getInt(TestArtifacts.field(bb, table, ArtifactFormat.TENSOR_EXPONENT)));
    }
}
