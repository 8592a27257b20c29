package org.shiftformer.core.artifact;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.TransformerWeights;

/**
 * Property: any byte edits of a valid artifact, resealed with a correct checksum, either load a model
 * that passes {@link TransformerWeights#of} or are rejected with a clean ShiftformerException. jqwik
 * shrinks a failure to the fewest, smallest edits.
 */
class ArtifactFuzzProperties {
    private static final byte[] FILE = TestArtifacts.smallFile();

    record Edit(int position, byte value) {
    }

    @Provide
    Arbitrary<List<Edit>> edits() {
        Arbitrary<Edit> edit = Combinators.combine(Arbitraries.integers().between(0, FILE.length - 1),
                Arbitraries.bytes()).as(Edit::new);
        return edit.list().ofMinSize(1).ofMaxSize(8);
    }

    @Property(tries = 400)
    void resealedEditsLoadAValidModelOrAreRejectedCleanly(@ForAll("edits") List<Edit> edits) {
        byte[] copy = FILE.clone();
        for (Edit e : edits) {
            copy[e.position()] = e.value();
        }
        byte[] mutated = TestArtifacts.resealed(copy);
        Artifact loaded;
        try {
            loaded = TestArtifacts.read(mutated);
        } catch (ShiftformerException e) {
            TestArtifacts.assertCleanRejection(e);
            return;
        }
        TransformerWeights.of(loaded.model());
    }
}
