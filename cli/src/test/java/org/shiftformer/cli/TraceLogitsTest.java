package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.engine.Translator;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;

/** {@code translate --trace-logits K}: parseable JSON lines whose logits are the reference backend's. */
class TraceLogitsTest {
    private static final String[] TEXTS = {"ein test", "zweihundert", "dreitausendvierhundertzwölf"};

    @RegisterExtension
    final CliOutput io = new CliOutput();

    /** Runs translate with the trace; every line of standard output must be a JSON object. */
    private List<Map<String, Object>> trace(String... args) {
        io.clearOut();
        io.clearErr();
        String[] all = new String[args.length + 1];
        all[0] = "translate";
        System.arraycopy(args, 0, all, 1, args.length);
        assertEquals(0, Main.run(all), io::err);
        List<Map<String, Object>> lines = new ArrayList<>();
        for (String line : io.out().split("\n")) {
            lines.add(Json.object(line));
        }
        return lines;
    }

    private static long num(Map<String, Object> o, String key) {
        return (Long) o.get(key);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> list(Map<String, Object> o, String key) {
        return (List<Map<String, Object>>) o.get(key);
    }

    private static String[] with(String[] head, String... texts) {
        String[] r = java.util.Arrays.copyOf(head, head.length + texts.length);
        System.arraycopy(texts, 0, r, head.length, texts.length);
        return r;
    }

    @Test
    void greedyTraceNamesTheArgmaxOfItsLogitsAndTheLogitsAreTheReferenceBackends(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        int k = 5;
        List<Map<String, Object>> sim = trace(with(new String[] {"--model", f.toString(), "--backend", "sim",
            "--trace-logits", String.valueOf(k)}, TEXTS));
        Map<Integer, List<Integer>> chosen = new HashMap<>();
        Map<Integer, List<Map<String, Object>>> steps = new HashMap<>();
        int results = 0;
        for (Map<String, Object> line : sim) {
            int text = (int) num(line, "text");
            if (line.containsKey("step")) {
                assertEquals(steps.computeIfAbsent(text, t -> new ArrayList<>()).size(), num(line, "step"), line.toString());
                List<Map<String, Object>> top = list(line, "top");
                assertEquals(k, top.size(), line.toString());
                // The chosen token is the argmax of the printed logits, ties to the lowest id ...
                Map<String, Object> best = top.get(0);
                for (Map<String, Object> e : top) {
                    long cmp = num(e, "logit") - num(best, "logit");
                    if (cmp > 0 || cmp == 0 && num(e, "token") < num(best, "token")) {
                        best = e;
                    }
                }
                assertEquals(num(best, "token"), num(line, "token"), line.toString());
                // ... and the entries are sorted: logits descending, ties by ascending id.
                for (int i = 1; i < top.size(); i++) {
                    long a = num(top.get(i - 1), "logit");
                    long b = num(top.get(i), "logit");
                    assertTrue(a > b || a == b && num(top.get(i - 1), "token") < num(top.get(i), "token"), line.toString());
                }
                steps.get(text).add(line);
                chosen.computeIfAbsent(text, t -> new ArrayList<>()).add((int) num(line, "token"));
            } else {
                results++;
                assertEquals(TEXTS[text], line.get("input"));
                @SuppressWarnings("unchecked")
                List<Long> tokens = (List<Long>) line.get("tokens");
                List<Integer> c = chosen.get(text);
                boolean eos = (Boolean) line.get("finished_by_eos");
                // The output is the chosen tokens, without the final EOS.
                assertEquals(c.subList(0, eos ? c.size() - 1 : c.size()), tokens.stream().map(Long::intValue).toList());
            }
        }
        assertEquals(TEXTS.length, results);

        // The same logits, recomputed here on the reference backend by feeding the traced choices.
        Artifact artifact = ArtifactReader.read(f);
        ModelConfig cfg = artifact.model().config();
        ByteBpeTokenizer tok = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
        try (Backend ref = Backends.select("reference").open(Map.of()); LoadedModel m = ref.load(artifact.model())) {
            Translator tr = new Translator(m, tok);
            for (int text = 0; text < TEXTS.length; text++) {
                EncodedSource src = m.encode(List.of(tr.sourceIds(TEXTS[text])), null).sources().get(0);
                List<Map<String, Object>> lines = steps.get(text);
                try (DecoderState st = m.newDecoder(src, lines.size())) {
                    int[] logits = new int[cfg.vocabSize()];
                    int feed = cfg.bosId();
                    for (Map<String, Object> line : lines) {
                        m.decodeStep(List.of(st), new int[] {feed}, logits, null);
                        for (Map<String, Object> e : list(line, "top")) {
                            assertEquals(logits[(int) num(e, "token")], num(e, "logit"), "text " + text + ": " + line);
                        }
                        // Nothing outside the printed top K is above its last entry.
                        long last = num(list(line, "top").get(k - 1), "logit");
                        int above = 0;
                        for (int v = 0; v < cfg.vocabSize(); v++) {
                            if (v != cfg.padId() && v != cfg.bosId() && logits[v] > last) {
                                above++;
                            }
                        }
                        assertTrue(above < k, "text " + text + ": " + line);
                        feed = (int) num(line, "token");
                    }
                }
                src.close();
            }
        }
        // And the reference backend traced by the command prints the same lines.
        assertEquals(sim, trace(with(new String[] {"--model", f.toString(), "--backend", "reference", "--trace-logits",
            String.valueOf(k)}, TEXTS)));
    }

    @Test
    void beamTracePrintsEveryLiveHypothesisWithItsScoreAndWhereItsChoicesGo(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        String[] args = with(new String[] {"--model", f.toString(), "--beam", "3", "--max-new-tokens", "12",
            "--trace-logits", "4"}, TEXTS);
        List<Map<String, Object>> sim = trace(with(new String[] {"--backend", "sim"}, args));
        int results = 0;
        Map<String, Long> expectedScore = new HashMap<>(); // "text/step/beam" -> score announced by the previous step
        Map<String, Set<Long>> nextBeams = new HashMap<>();
        for (Map<String, Object> line : sim) {
            if (!line.containsKey("step")) {
                results++;
                continue;
            }
            long text = num(line, "text");
            long step = num(line, "step");
            long beam = num(line, "beam");
            assertEquals(4, list(line, "top").size(), line.toString());
            String key = text + "/" + step + "/" + beam;
            if (step == 0) {
                assertEquals(0, beam, line.toString());
                assertEquals(0, num(line, "score"), line.toString());
            } else {
                assertEquals(expectedScore.get(key), (Long) num(line, "score"), "score announced by step " + (step - 1) + ": " + line);
            }
            for (Map<String, Object> c : list(line, "chosen")) {
                assertTrue(num(c, "score") <= num(line, "score"), "a log-probability is <= 0: " + line);
                if (c.containsKey("next_beam")) {
                    String next = text + "/" + (step + 1) + "/" + num(c, "next_beam");
                    assertEquals(null, expectedScore.put(next, num(c, "score")), "two choices go to " + next);
                    nextBeams.computeIfAbsent(text + "/" + (step + 1), s -> new HashSet<>()).add(num(c, "next_beam"));
                } else {
                    assertEquals(Boolean.TRUE, c.get("finished"), line.toString());
                }
            }
        }
        assertEquals(TEXTS.length, results);
        // Every hypothesis a step announced appears as a line of the next step, and no other.
        for (Map<String, Object> line : sim) {
            if (line.containsKey("step") && num(line, "step") > 0) {
                assertTrue(expectedScore.containsKey(num(line, "text") + "/" + num(line, "step") + "/" + num(line, "beam")),
                        line.toString());
            }
        }
        for (Set<Long> beams : nextBeams.values()) {
            for (long b = 0; b < beams.size(); b++) {
                assertTrue(beams.contains(b), "next beams are numbered 0.. without gaps: " + beams);
            }
        }
        assertEquals(sim, trace(with(new String[] {"--backend", "reference"}, args)));
    }

    @Test
    void aTracedTextThatFailsGetsAnErrorLine(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        io.clearOut();
        assertEquals(1, Main.run("translate", "--model", f.toString(), "--trace-logits", "2", "qz ".repeat(40), "ein test"));
        String[] lines = io.out().split("\n");
        Map<String, Object> error = Json.object(lines[0]);
        assertEquals(0L, error.get("text"));
        @SuppressWarnings("unchecked")
        Map<String, Object> e = (Map<String, Object>) error.get("error");
        assertEquals("MODEL_LIMIT_EXCEEDED", e.get("code"));
        for (String line : lines) {
            Json.object(line);
        }
        assertTrue(Json.object(lines[lines.length - 1]).containsKey("tokens"), io::out);
    }

    @Test
    void theTraceIsRefusedWhereItCannotBeMade(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        assertEquals(2, Main.run("translate", "--server", "127.0.0.1:7433", "--trace-logits", "5", "x"));
        assertTrue(io.err().startsWith("error: [INVALID_ARGUMENT] --trace-logits needs local decoding (--model FILE)"),
                io::err);
        io.clearErr();
        assertEquals(2, Main.run("translate", "--model", f.toString(), "--trace-logits", "299", "x"));
        assertTrue(io.err().startsWith("error: [INVALID_ARGUMENT] --trace-logits 299 must be in [1, 298]"), io::err);
    }
}
