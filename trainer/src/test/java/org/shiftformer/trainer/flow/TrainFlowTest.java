package org.shiftformer.trainer.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.trainer.data.Dataset;
import org.shiftformer.trainer.data.NumberTask;
import org.shiftformer.trainer.data.SplitConfig;
import org.shiftformer.trainer.eval.GroupScores;
import org.shiftformer.trainer.qat.QatFineTuner;
import org.shiftformer.trainer.train.TrainConfig;

/**
 * The whole flow on a short run: it writes a verified artifact whose provenance carries the float and int8
 * scores, the curves, and the int8 artifact decoded on backend-sim scores exactly what the fake-quantized
 * model scores (the two compute the same bits, so they translate identically).
 */
class TrainFlowTest {

    @Test
    void floatThenQatThenArtifact(@TempDir Path dir) throws Exception {
        ModelConfig shape = new ModelConfig(32, 2, 64, 1, 1, 300, 64, 2, 0, 1, 2);
        TrainConfig train = TrainConfig.defaults(shape, 30).withBatch(32).withEval(0, 20).withThreads(2);
        Dataset data = NumberTask.generate(new SplitConfig(20, 20, 2_000, 7));
        Path out = dir.resolve("m.itm");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        TrainFlow.Result r = TrainFlow.run(new TrainFlow.Settings(train, QatFineTuner.Settings.defaults(10), 20, out,
                "test", "sim", 16), data, new PrintStream(log, true, StandardCharsets.UTF_8));
        String printed = log.toString(StandardCharsets.UTF_8);

        assertEquals(20, r.int8().segments());
        assertEquals(r.fakeQuantized(), r.int8(), "fake-quantized and int8 artifact translate identically\n" + printed);
        Artifact a = ArtifactReader.read(out);
        assertEquals(r.sha256(), a.sha256Hex());
        assertEquals(r.floatModel().exactMatch(), a.provenance().metrics().get("fp32.exact_match"));
        assertEquals(r.int8().chrf(), a.provenance().metrics().get("int8.chrf"));
        assertTrue(a.provenance().dataHash().startsWith("sha256:"), a.provenance().dataHash());
        List<String> csv = Files.readAllLines(dir.resolve("m.curves.csv"));
        assertTrue(csv.size() >= 3, csv.toString()); // header + steps 20 and 30
        assertTrue(Files.size(dir.resolve("m.curves.png")) > 1000);
        assertTrue(printed.contains("int8 / float"), printed);
        assertTrue(printed.contains("bit-exact: "), printed);
        assertTrue(a.provenance().metrics().get("qat.bitexact_logits") > 16 * 300, a.provenance().metrics().toString());

        // per digit count: the 20 test numbers take turns over 3..6 digits (5 each); every number below 100 is seen
        GroupScores g = r.int8Groups();
        assertEquals(List.of("1", "2", "3", "4", "5", "6"), g.rows().stream().map(GroupScores.Row::group).toList());
        assertEquals(List.of(10, 90, 5, 5, 5, 5), g.rows().stream().map(GroupScores.Row::segments).toList());
        assertEquals(List.of(false, false, true, true, true, true), g.rows().stream().map(GroupScores.Row::heldOut).toList());
        assertEquals(r.fakeQuantizedGroups(), g, "fake-quantized and int8 translate identically, digit count by digit count");
        var m = a.provenance().metrics();
        assertEquals(g.worst().exactMatch(), m.get("int8.worst_exact_match"));
        assertEquals(g.rows().get(1).exactMatch(), m.get("int8.exact_match.digits_2"));
        assertEquals(r.floatGroups().worst().exactMatch(), m.get("fp32.worst_exact_match"));
        assertTrue(printed.contains("exact match % by digits"), printed);
        // placeholder accuracy is recorded; number words have none, so (unless a model invents one) the reports
        // leave it out: no column, no per-digit-count block, no references' line
        assertEquals(r.int8().placeholders().accuracy(), m.get("int8.placeholders"));
        assertEquals(r.floatModel().placeholders().accuracy(), m.get("fp32.placeholders"));
        assertEquals(0, r.int8().placeholders().inSources());
        assertEquals(r.int8().placeholders().informative(), printed.contains("placeh. %"), printed);
        assertFalse(printed.contains("the references keep"), printed);
        assertTrue(printed.lines().anyMatch(l -> l.matches("2 +90 seen( +[0-9.]+){3}")), printed);
        assertTrue(printed.lines().anyMatch(l -> l.matches("6 +5 held out( +[0-9.]+){3}")), printed);
    }
}
