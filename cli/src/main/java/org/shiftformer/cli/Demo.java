package org.shiftformer.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationFuture;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactInspector;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.trainer.data.Dataset;
import org.shiftformer.trainer.data.NumberTask;
import org.shiftformer.trainer.data.Pair;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The main job, end to end on one machine in a few minutes: train a model on the default task (German
 * number words to English, numbers below 10,000 so that it fits the time, drawn by digit count), quantize it
 * with QAT, inspect the artifact, serve it on loopback and translate through the Java client, with the tokens
 * streamed as the server decodes them, greedy and with beam search: null, eins, zwölf, hundert, tausend and
 * a held-out number of each held-out digit count.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Train a small model on the default task (float, then QAT), inspect it, serve it on 127.0.0.1 "
                + "and translate through the client with streamed tokens (about half a minute on 2 cores once built).")
final class Demo implements Callable<Integer> {
    @Option(names = "--dir", description = "working directory for the artifact and curves (default: a temporary one)")
    Path dir;

    @Option(names = "--steps", defaultValue = "1000", description = "float training steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--qat-steps", defaultValue = "60", description = "QAT steps (default: ${DEFAULT-VALUE})")
    int qatSteps;

    /**
     * The data of step 1: 0..9,999 drawn by digit count (NumberTask), 500 test and 100 validation numbers of
     * each of 3 and 4 digits held out, every number below 100 trained on.
     */
    static final String[] DATA = {"--data", "default:9999", "--train-size", "20000", "--validation-size", "100",
        "--test-size", "500"};

    /**
     * The numbers people type first, translated whatever else is: null, eins, zwölf, hundert, tausend (100 and
     * 1,000 in their short form, NumberTask.shortGerman).
     */
    static final int[] FIRST_NUMBERS = {0, 1, 12, 100, 1_000};

    /** A number step 3 translates, its digit count and whether it was held out of training. */
    record Example(Pair pair, int digits, boolean heldOut) {
    }

    @Override
    public Integer call() throws Exception {
        Path d = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("shiftformer-demo");
        Path file = d.resolve("numbers.itm");
        var out = Main.OUT;
        out.println("== 1. train: German number words -> English (0..9,999, every digit count equally often), float then QAT, "
                + "tiny preset");
        List<String> train = new ArrayList<>(List.of("train"));
        train.addAll(List.of(DATA));
        // vocabulary 600: with 400, BPE splits "eleven" into e-l-e-ven and the model stutters "elelel" on every ...11
        train.addAll(List.of("--preset", "tiny", "--vocab", "600", "--max-positions", "64", "--steps",
                Integer.toString(steps), "--qat-steps", Integer.toString(qatSteps), "--batch", "64",
                "--eval-sentences", "200", "--test-sentences", "1000", "-o", file.toString()));
        int rc = Main.run(train.toArray(String[]::new));
        if (rc != 0) {
            return rc;
        }
        out.println();
        out.println("== 2. inspect: header, shapes, exponents, provenance, checksum");
        String[] lines = ArtifactInspector.inspect(file).split("\n");
        for (int i = 0; i < Math.min(lines.length, 14); i++) {
            out.println(lines[i]);
        }
        out.println("   ... (" + lines.length + " lines; ./shiftformer inspect " + file + " prints all)");
        out.println();
        out.println("== 3. serve on 127.0.0.1 (backend-sim) and translate through the client, tokens as they stream");
        Artifact artifact = ArtifactReader.read(file);
        try (Backend backend = Backends.select("sim").open(Map.of())) {
            LoadedModel model = backend.load(artifact.model());
            ServerConfig config = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1").conclude();
            try (ShiftformerServer server = ShiftformerServer.start(config, ServedModel.of(artifact, model,
                    backend.identity()));
                 ShiftformerClient client = ShiftformerClient.connect("127.0.0.1", server.localAddress().getPort())) {
                out.printf("   listening on 127.0.0.1:%d (%s), model sha256 %.16s...%n", server.localAddress().getPort(),
                        server.transport(), artifact.sha256Hex());
                TrainCommands.DataOptions data = new TrainCommands.DataOptions();
                new picocli.CommandLine(data).parseArgs(DATA);
                Dataset ds = data.load();
                List<Example> examples = examples(ds);
                for (Example e : examples) {
                    Pair p = e.pair();
                    String src = p.source();
                    out.printf("> %s%n  ", src);
                    Translation t = client.translate(TranslationRequest.text(src).maxNewTokens(48), tok -> {
                        out.print(Main.printable(tok.text()));
                        out.flush();
                    }).join();
                    out.printf("%n  [%s; %s; %s; reference \"%s\"; %d tokens, first token %.2f ms, total %.2f ms, %,d "
                                    + "modelled device cycles]%n", t.text().equals(p.target()) ? "correct" : "WRONG",
                            e.digits() + (e.digits() == 1 ? " digit" : " digits"), e.heldOut() ? "held out" : "trained on",
                            p.target(), t.tokens().length, t.firstTokenNs() / 1e6, t.totalNs() / 1e6,
                            t.deviceCycles());
                }
                out.println();
                out.println("== 4. the same numbers at once, beam 4, batched by the server");
                List<TranslationFuture> futures = new ArrayList<>();
                for (Example e : examples) {
                    futures.add(client.translate(TranslationRequest.text(e.pair().source()).beam(4).maxNewTokens(48)));
                }
                for (int i = 0; i < examples.size(); i++) {
                    Translation t = futures.get(i).join();
                    out.printf("  %-44s -> %s%n", examples.get(i).pair().source(), Main.printable(t.text()));
                }
            }
        }
        out.println();
        out.println("next: ./shiftformer serve --model " + file + "  and  ./shiftformer translate --server 127.0.0.1:7433 ...");
        return 0;
    }

    /**
     * What step 3 translates: {@link #FIRST_NUMBERS}, then one test number (never trained on) of each held-out
     * digit count, from the middle of its test numbers: at least one number of every digit count trained on.
     */
    static List<Example> examples(Dataset ds) {
        Set<Pair> heldOut = new HashSet<>(ds.test());
        heldOut.addAll(ds.validation());
        List<Example> out = new ArrayList<>();
        for (int n : FIRST_NUMBERS) {
            Pair canonical = NumberTask.pair(n);
            String shortForm = NumberTask.shortGerman(n);
            Pair typed = shortForm != null ? new Pair(shortForm, canonical.target()) : canonical;
            out.add(new Example(typed, NumberTask.digits(n), heldOut.contains(canonical)));
        }
        int counts = ds.breakdown().heldOut().size();
        List<Pair> test = ds.test();
        int middle = test.size() / counts / 2 * counts;
        for (int i = 0; i < counts; i++) {
            Pair p = test.get(middle + i);
            out.add(new Example(p, Integer.parseInt(ds.breakdown().groupOf(p)), true));
        }
        return out;
    }
}
