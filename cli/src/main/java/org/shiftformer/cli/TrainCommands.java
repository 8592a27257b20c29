package org.shiftformer.cli;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.trainer.data.DataSpec;
import org.shiftformer.trainer.data.Dataset;
import org.shiftformer.trainer.data.NumberTask;
import org.shiftformer.trainer.data.Pair;
import org.shiftformer.trainer.data.SplitBy;
import org.shiftformer.trainer.data.SplitConfig;
import org.shiftformer.trainer.eval.GroupScores;
import org.shiftformer.trainer.eval.Metrics;
import org.shiftformer.trainer.flow.TrainFlow;
import org.shiftformer.trainer.qat.QatFineTuner;
import org.shiftformer.trainer.train.StopSignal;
import org.shiftformer.trainer.train.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The trainer's commands: {@code train} and {@code eval}. */
final class TrainCommands {

    private TrainCommands() {
    }

    /** Refuses {@code option}'s {@code value} below {@code min}, naming both. */
    static void atLeast(String option, long value, long min) {
        if (value < min) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, option + " " + value + ": must be >= " + min);
        }
    }

    /** Options that pick and split a data set, shared by train and eval. */
    static final class DataOptions {
        @Option(names = "--data", defaultValue = "default",
                description = "default (German number words -> English), FILE.tsv, tsv:FILE, moses:SRC,TGT, dictd:PATH, "
                        + "gettext:PATH (a .mo or .po catalog or a directory of them, e.g. /usr/share/locale/de/LC_MESSAGES) or "
                        + "gettext:PATH,MAX_BYTES (without pairs that have a side longer than MAX_BYTES bytes) "
                        + "(default: ${DEFAULT-VALUE})")
        String data;

        @Option(names = "--train-size", defaultValue = "0",
                description = "training pairs to keep (0: all; the default task draws 200,000, every digit count equally often)")
        int trainSize;

        @Option(names = "--validation-size", description = "validation pairs (default: 1000; default task: "
                + NumberTask.DEFAULT_VALIDATION_PER_DIGITS + " per held-out digit count)")
        Integer validationSize;

        @Option(names = "--test-size", description = "held-out test pairs (default: 5000; default task: "
                + NumberTask.DEFAULT_TEST_PER_DIGITS + " per held-out digit count)")
        Integer testSize;

        @Option(names = "--split-seed", defaultValue = "20260101", description = "seed of the split (default: ${DEFAULT-VALUE})")
        long splitSeed;

        @Option(names = "--split-by", defaultValue = "text",
                description = "text (each source text by a seeded hash) or catalog (gettext: data only: whole catalogs, "
                        + "i.e. programs, held out by a seeded hash of their file names until the test and validation "
                        + "sizes are reached; a held-out message also found in a training catalog is dropped from the "
                        + "held-out side; scores are also reported per held-out catalog) (default: ${DEFAULT-VALUE})")
        String splitBy;

        Dataset load() {
            DataSpec spec = DataSpec.parse(data);
            boolean task = spec instanceof DataSpec.Default;
            int v = validationSize != null ? validationSize
                    : task ? NumberTask.DEFAULT_VALIDATION_PER_DIGITS : SplitConfig.DEFAULT_VALIDATION;
            int t = testSize != null ? testSize : task ? NumberTask.DEFAULT_TEST_PER_DIGITS : SplitConfig.DEFAULT_TEST;
            return spec.load(new SplitConfig(v, t, trainSize, splitSeed, SplitBy.parse(splitBy)));
        }
    }

    @Command(name = "train", mixinStandardHelpOptions = true,
            description = {"Train a model: float training, calibration, QAT with trained power-of-two thresholds, export.",
                "Scores the float model, the fake-quantized model and the int8 artifact (decoded on backend-sim) on "
                        + "held-out pairs, and writes the artifact, MODEL.curves.csv and MODEL.curves.png."})
    static final class Train implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        DataOptions data = new DataOptions();

        @Option(names = "--preset", defaultValue = "tiny", description = "tiny, small or base (SPEC.md 2; default: ${DEFAULT-VALUE})")
        String preset;

        @Option(names = "--vocab", defaultValue = "1000", description = "BPE vocabulary size (default: ${DEFAULT-VALUE})")
        int vocab;

        @Option(names = "--max-positions", description = "positions of the model (default: the preset's)")
        Integer maxPositions;

        @Option(names = "--steps", defaultValue = "2000", description = "float training steps (default: ${DEFAULT-VALUE})")
        long steps;

        @Option(names = "--qat-steps", defaultValue = "200", description = "QAT fine-tuning steps (default: ${DEFAULT-VALUE})")
        long qatSteps;

        @Option(names = "--batch", defaultValue = "128", description = "sentence pairs per batch (default: ${DEFAULT-VALUE})")
        int batch;

        @Option(names = "--lr", defaultValue = "2e-3", description = "peak learning rate (default: ${DEFAULT-VALUE})")
        double lr;

        @Option(names = "--warmup", description = "warm-up steps (default: min(400, steps/5))")
        Long warmup;

        @Option(names = "--qat-lr", defaultValue = "2e-4", description = "QAT weight learning rate (default: ${DEFAULT-VALUE})")
        double qatLr;

        @Option(names = "--threshold-lr", defaultValue = "1e-3", description = "QAT threshold learning rate (default: ${DEFAULT-VALUE})")
        double thresholdLr;

        @Option(names = "--dropout", defaultValue = "0.1", description = "float-training dropout (default: ${DEFAULT-VALUE})")
        float dropout;

        @Option(names = "--seed", defaultValue = "1", description = "initialisation, data order and dropout (default: ${DEFAULT-VALUE})")
        long seed;

        @Option(names = "--threads", description = "kernel threads (default: all cores; results do not depend on it)")
        Integer threads;

        @Option(names = "--checkpoint", description = "checkpoint file of the float run; an existing one is resumed (default: the float model is written to OUTPUT.ckpt before QAT)")
        Path checkpoint;

        @Option(names = "--resume", description = "a float checkpoint to start from (e.g. the OUTPUT.ckpt a run leaves "
                + "before QAT): float training continues to --steps, so at its end it is skipped; the same data, "
                + "--preset, --vocab and --seed as the run that wrote it")
        Path resume;

        @Option(names = "--checkpoint-every", defaultValue = "500", description = "steps between checkpoints (default: ${DEFAULT-VALUE})")
        long checkpointEvery;

        @Option(names = "--eval-every", description = "validate every N float steps (0: only at the end; default: a tenth "
                + "of the steps, a multiple of 20)")
        Long evalEvery;

        @Option(names = "--eval-sentences", defaultValue = "500", description = "validation pairs per evaluation (default: ${DEFAULT-VALUE})")
        int evalSentences;

        @Option(names = "--test-sentences", defaultValue = "2000", description = "held-out pairs scored at the end (default: ${DEFAULT-VALUE})")
        int testSentences;

        @Option(names = "--bit-exact-sentences", defaultValue = "64", description = "validation pairs whose every "
                + "logit is compared between the fake-quantized and the exported integer model (default: ${DEFAULT-VALUE})")
        int bitExactSentences;

        @Option(names = "--time-budget", description = "stop float training after this much wall-clock time "
                + "(seconds, or with a unit: 900s, 15m, 1.5h) and go on with QAT and export; the learning-rate "
                + "schedule still spans --steps, so choose --steps the budget can reach (default: none)")
        String timeBudget;

        @Option(names = {"-o", "--output"}, required = true, description = "the artifact to write")
        Path output;

        @Override
        public Integer call() {
            if (resume != null && !java.nio.file.Files.isRegularFile(resume)) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "--resume " + resume + ": no such checkpoint file");
            }
            if (resume != null && checkpoint != null && !checkpoint.equals(resume)) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "--resume and --checkpoint name different files; give one");
            }
            // refused before any work (they would otherwise fail after float training)
            atLeast("--test-sentences", testSentences, 0);
            atLeast("--bit-exact-sentences", bitExactSentences, 0);
            atLeast("--eval-sentences", evalSentences, 0);
            atLeast("--checkpoint-every", checkpointEvery, 0);
            StopSignal stop = new StopSignal(timeBudget == null ? 0 : seconds("--time-budget", timeBudget));
            Dataset ds = data.load();
            ModelConfig shape = RandomModels.preset(preset, vocab);
            if (maxPositions != null) {
                shape = new ModelConfig(shape.dModel(), shape.heads(), shape.dFf(), shape.encoderLayers(),
                        shape.decoderLayers(), shape.vocabSize(), maxPositions, shape.embedScaleLog2(), shape.padId(),
                        shape.bosId(), shape.eosId()).validate();
            }
            TrainConfig cfg = TrainConfig.defaults(shape, steps).withBatch(batch).withLr(lr, 0)
                    .withSteps(steps, warmup != null ? warmup : Math.min(400, steps / 5))
                    .withRegularization(dropout, 0.1f, 0).withSeed(seed)
                    .withEval(evalEvery != null ? evalEvery : Math.max(20, steps / 200 * 20), evalSentences);
            if (threads != null) {
                cfg = cfg.withThreads(threads);
            }
            if (resume != null) {
                cfg = cfg.withCheckpoint(resume, checkpointEvery);
            } else if (checkpoint != null) {
                cfg = cfg.withCheckpoint(checkpoint, checkpointEvery);
            }
            QatFineTuner.Settings q = new QatFineTuner.Settings(qatSteps, qatLr, thresholdLr, 8, 1.0);
            PrintStream out = stream(Main.OUT);
            // Ctrl-C (or SIGTERM) during float training: stop at the next step boundary and checkpoint; later,
            // say where the float model is. The JVM exits once this hook returns.
            Thread hook = new Thread(() -> {
                boolean duringFloat = !stop.isHandled();
                stop.request();
                try {
                    if (duringFloat && stop.awaitHandled(INTERRUPT_WAIT_SECONDS)) {
                        return; // the flow printed how to resume
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                out.printf("%n!! interrupted%s%n", stop.checkpoint() == null ? " before the float model was saved"
                        : ": the float model is saved in " + stop.checkpoint() + "; continue with  --resume "
                        + stop.checkpoint() + "  added to the same train command");
                out.flush();
            }, "train-interrupt");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                TrainFlow.run(new TrainFlow.Settings(cfg, q, testSentences, output, commandLine(), "sim",
                        bitExactSentences), ds, out, stop);
            } catch (TrainFlow.Stopped e) {
                return EXIT_STOPPED;
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running: it decides when the JVM exits
                }
            }
            return 0;
        }

        /** How long the interrupt hook waits for float training to reach a step boundary and checkpoint. */
        static final long INTERRUPT_WAIT_SECONDS = 300;
        /** The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it). */
        static final int EXIT_STOPPED = 130;

        /** {@code 900}, {@code 900s}, {@code 15m} or {@code 1.5h} in seconds; refused naming the option otherwise. */
        static double seconds(String option, String value) {
            String v = value.strip().toLowerCase(java.util.Locale.ROOT);
            double unit = 1;
            if (v.endsWith("h") || v.endsWith("m") || v.endsWith("s")) {
                unit = v.endsWith("h") ? 3600 : v.endsWith("m") ? 60 : 1;
                v = v.substring(0, v.length() - 1);
            }
            double x;
            try {
                x = Double.parseDouble(v) * unit;
            } catch (NumberFormatException e) {
                x = Double.NaN;
            }
            if (!(x > 0) || Double.isInfinite(x)) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, option + " " + value
                        + ": need a positive duration such as 900, 900s, 15m or 1.5h");
            }
            return x;
        }
    }

    @Command(name = "eval", mixinStandardHelpOptions = true,
            description = "Score an artifact (decoded by runtime-core on a backend) on a data set's held-out pairs.")
    static final class Eval implements Callable<Integer> {
        @picocli.CommandLine.Mixin
        DataOptions data = new DataOptions();

        @Option(names = "--model", required = true, description = "the artifact")
        Path model;

        @Option(names = "--backend", defaultValue = "sim", description = "backend (default: ${DEFAULT-VALUE})")
        String backend;

        @Option(names = "--split", defaultValue = "test", description = "test or validation (default: ${DEFAULT-VALUE})")
        String split;

        @Option(names = "--sentences", defaultValue = "2000", description = "pairs to score, the first ones (default: "
                + "${DEFAULT-VALUE}; the default task's held-out digit counts take turns, and every number of its seen "
                + "digit counts is scored as well)")
        int sentences;

        @Option(names = "--show", defaultValue = "5", description = "examples to print (default: ${DEFAULT-VALUE})")
        int show;

        @Override
        public Integer call() {
            atLeast("--sentences", sentences, 1);
            atLeast("--show", show, 0);
            Dataset ds = data.load();
            List<Pair> pairs = switch (split) {
                case "test" -> ds.test();
                case "validation" -> ds.validation();
                default -> throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "--split must be test or validation, not '" + split + "'");
            };
            pairs = pairs.subList(0, Math.min(sentences, pairs.size()));
            Artifact a = ArtifactReader.read(model);
            TrainFlow.Scored scored = new TrainFlow.Scored(pairs, ds.breakdown());
            List<String> hyp = TrainFlow.decode(model, scored.pairs.stream().map(Pair::source).toList(), backend);
            Metrics m = scored.metrics(hyp);
            GroupScores groups = scored.groups(hyp);
            PrintWriter out = Main.OUT;
            for (int i = 0; i < Math.min(show, pairs.size()); i++) {
                out.printf("%s%n  -> %s%n  reference %s%n", pairs.get(i).source(), hyp.get(i), pairs.get(i).target());
            }
            out.printf("%s on %s %s (%s, backend %s)%n", m, ds.name(), split, model, backend);
            out.print(scored.referencePlaceholders());
            if (groups != null) {
                out.print(GroupScores.table(List.of("int8 (" + backend + ")"), List.of(groups)));
                out.printf("headline: %s%n", groups.worstLine());
            }
            Double recorded = a.provenance().metrics().get("int8.exact_match");
            if (recorded != null) {
                out.printf("recorded at export: int8 exact %.2f%% on %s held-out pairs%n", recorded,
                        a.provenance().metrics().getOrDefault("int8.test_segments", Double.NaN).intValue());
            }
            return 0;
        }
    }

    private static String commandLine() {
        return ProcessHandle.current().info().arguments().map(a -> "shiftformer " + String.join(" ", a)).orElse("shiftformer train");
    }

    /**
     * A PrintStream over the command's PrintWriter (the trainer's progress bar prints to a stream); bytes are
     * decoded as UTF-8 at every flush and at line ends.
     */
    static PrintStream stream(PrintWriter w) {
        OutputStream bridge = new OutputStream() {
            private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

            @Override
            public void write(int b) {
                buf.write(b);
                if (b == '\n' || b == '\r') {
                    flush();
                }
            }

            @Override
            public void flush() {
                if (buf.size() > 0) {
                    w.print(buf.toString(StandardCharsets.UTF_8));
                    buf.reset();
                }
                w.flush();
            }
        };
        return new PrintStream(bridge, true, StandardCharsets.UTF_8);
    }
}
