package org.shiftformer.core.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.ReferenceModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.artifact.TokenizerSpec;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;

class TranslatorTest {
    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 1, 1, 600, 20, 2, 0, 1, 2);

    @Test
    void randomTokenizersHaveExactlyTheRequestedVocabulary() {
        for (int v : new int[] {259, 300, 1000, 8000}) {
            TokenizerSpec t = RandomArtifacts.tokenizer(v, 1);
            assertEquals(v, t.vocabSize());
            ByteBpeTokenizer tok = new ByteBpeTokenizer(t.mergeLeft(), t.mergeRight());
            assertEquals("zweihundertdreiundvierzig", tok.decode(tok.encode("zweihundertdreiundvierzig")));
        }
        assertThrows(ShiftformerException.class, () -> RandomArtifacts.tokenizer(258, 1));
    }

    @Test
    void translatesFromAWrittenArtifactAndStreamsExactlyTheResultText(@TempDir Path dir) {
        Path f = dir.resolve("t.itm");
        RandomArtifacts.write(CFG, 3, f, "test");
        Artifact a = ArtifactReader.read(f);
        ByteBpeTokenizer tok = new ByteBpeTokenizer(a.tokenizer().mergeLeft(), a.tokenizer().mergeRight());
        Translator tr = new Translator(new ReferenceModel(TransformerWeights.of(a.model())), tok);
        int[] src = tr.sourceIds("ein test");
        assertEquals(CFG.eosId(), src[src.length - 1]);
        assertEquals("ein test", tok.decode(src));
        StringBuilder streamed = new StringBuilder();
        List<Translator.Translation> out = tr.translate(List.of("ein test"), DecodeParams.beam(2, 10, 0.6),
                (seq, token, piece, cycles) -> streamed.append(piece));
        assertEquals(out.get(0).text(), streamed.toString());
        assertArrayEquals(out.get(0).tokens(), out.get(0).result().tokens());
        ShiftformerException tooLong = assertThrows(ShiftformerException.class,
                () -> tr.sourceIds("x ".repeat(40)));
        assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, tooLong.code());
        assertEquals("source of " + tok.encode("x ".repeat(40)).length + " tokens plus EOS exceeds the model's max_positions "
                + CFG.maxPositions() + " (at most " + (CFG.maxPositions() - 1) + " source tokens)", tooLong.getMessage());
    }
}
