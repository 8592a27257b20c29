package org.shiftformer.trainer.flow;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.artifact.ArtifactWriter;
import org.shiftformer.core.artifact.Provenance;
import org.shiftformer.core.engine.Translator;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.trainer.data.Breakdown;
import org.shiftformer.trainer.data.Dataset;
import org.shiftformer.trainer.data.Pair;
import org.shiftformer.trainer.eval.GroupScores;
import org.shiftformer.trainer.eval.Metrics;
import org.shiftformer.trainer.eval.Placeholders;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.qat.BitExactCheck;
import org.shiftformer.trainer.qat.QatFineTuner;
import org.shiftformer.trainer.qat.QatNumerics;
import org.shiftformer.trainer.report.CurveCsv;
import org.shiftformer.trainer.report.CurvePlot;
import org.shiftformer.trainer.report.CurvePoint;
import org.shiftformer.trainer.report.ProgressBar;
import org.shiftformer.trainer.report.SummaryTable;
import org.shiftformer.trainer.train.BatchSampler;
import org.shiftformer.trainer.train.TrainConfig;
import org.shiftformer.trainer.train.TrainListener;
import org.shiftformer.trainer.train.StopSignal;
import org.shiftformer.trainer.train.Trainer;

/**
 * The whole training flow behind {@code ./shiftformer train}: float training, calibration, QAT
 * fine-tuning, export, and evaluation of (a) the float model, (b) the fake-quantized model and (c) the
 * exported artifact decoded by runtime-core on backend-sim, on the same held-out test sentences. The
 * fake-quantized model's int32 logits are checked to equal the integer model's bit for bit on validation
 * pairs. The artifact records (a) and (c) in its provenance; curves go to {@code curves.csv} and {@code curves.png}
 * beside it. When the data set has a {@link Breakdown} (the default task's digit counts), each model is also
 * scored per group, on the scored test pairs of the held-out groups and on every pair of the seen ones, and
 * the worst group is the headline ({@link GroupScores}).
 */
public final class TrainFlow {

    /**
     * @param train         the float run
     * @param qat           the QAT run
     * @param testSentences held-out sentences scored at the end (the first ones of the test split)
     * @param output        the artifact to write
     * @param command       the command line, for the provenance
     * @param backend       backend that decodes the artifact for (c) ({@code sim})
     * @param bitExactSentences validation pairs whose every logit is compared between the fake-quantized
     *                      model and the exported integer model (SPEC.md's scalar reference)
     */
    public record Settings(TrainConfig train, QatFineTuner.Settings qat, int testSentences, Path output, String command,
                           String backend, int bitExactSentences) {
    }

    /**
     * What a run produced; the group scores are {@code null} when the data set has no breakdown.
     */
    public record Result(Metrics floatModel, Metrics fakeQuantized, Metrics int8, Path artifact, String sha256,
                         double floatSeconds, double qatSeconds, double floatTokensPerSecond, double qatTokensPerSecond,
                         GroupScores floatGroups, GroupScores fakeQuantizedGroups, GroupScores int8Groups) {
    }

    private TrainFlow() {
    }

    public static Result run(Settings s, Dataset data, PrintStream out) {
        return run(s, data, out, StopSignal.none());
    }

    /**
     * Float training was stopped on request (Ctrl-C) and its checkpoint written: nothing after float training
     * ran. The message says where the checkpoint is and how to resume.
     */
    public static final class Stopped extends RuntimeException {
        private final transient Path checkpoint;

        Stopped(String message, Path checkpoint) {
            super(message);
            this.checkpoint = checkpoint;
        }

        /** The float checkpoint written when the run stopped. */
        public Path checkpoint() {
            return checkpoint;
        }
    }

    /**
     * The whole flow, with float training stopped early by {@code stop}: at its time budget the flow goes on
     * with QAT and export on the model as it is; on {@link StopSignal#request()} it writes the float
     * checkpoint, prints how to resume and throws {@link Stopped}. {@link StopSignal#handled} is called
     * once the float model is on disk (after that message when stopped), either way.
     */
    public static Result run(Settings s, Dataset data, PrintStream out, StopSignal stop) {
        Path dir = s.output().toAbsolutePath().getParent();
        List<CurvePoint> curve = new ArrayList<>();
        out.printf("== float training: %,d train / %,d validation / %,d test pairs (%s)%n", data.train().size(),
                data.validation().size(), data.test().size(), data.name());
        ProgressBar floatBar = new ProgressBar(out, s.train().steps(), inPlace(), ProgressBar.DEFAULT_LINE_INTERVAL_NS,
                System::nanoTime);
        Recorder rec = new Recorder(floatBar, curve, out);
        Trainer trainer = new Trainer(s.train(), data.train(), data.validation(), rec);
        out.printf("   model %s, %,d parameters%n", trainer.model().config(), trainer.model().params().count());
        long startStep = trainer.step();
        long t0 = System.nanoTime();
        StopSignal.Reason reason;
        try {
            reason = trainer.run(stop);
        } catch (RuntimeException | Error e) {
            Path saved = floatTrainingFailed(s, out, trainer, startStep, e);
            stop.handled(saved); // nothing to wait for: the failure ends the run
            throw e;
        }
        floatBar.finish();
        double floatSeconds = (System.nanoTime() - t0) * 1e-9;
        double floatTps = rec.tokens / Math.max(1e-9, rec.busySeconds);
        Path csvFile = dir.resolve(baseName(s.output()) + ".curves.csv");
        if (startStep > 0 && java.nio.file.Files.exists(csvFile)) {
            // resumed: keep the curve the interrupted run wrote up to the checkpoint
            curve.addAll(0, CurveCsv.read(csvFile).stream().filter(p -> p.step() <= startStep).toList());
        }
        try (CurveCsv csv = CurveCsv.create(csvFile)) {
            curve.forEach(csv::append);
        }
        // finished work is kept: the float model is on disk before anything else can fail
        Path ckpt;
        try {
            ckpt = floatCheckpoint(s, trainer, reason != StopSignal.Reason.STEPS);
        } catch (RuntimeException | Error e) {
            stop.handled(null);
            throw e;
        }
        out.printf("   float model checkpointed: %s (step %d)%n", ckpt, trainer.step());
        if (reason == StopSignal.Reason.REQUESTED) {
            String message = String.format(Locale.ROOT, "float training stopped at step %d of %d: the float model is "
                    + "saved in %s; continue with  --resume %s  added to the same train command", trainer.step(),
                    s.train().steps(), ckpt, ckpt);
            out.printf("%n!! %s%n", message);
            out.flush();
            stop.handled(ckpt); // only now: a shutdown hook waiting for this lets the JVM exit
            throw new Stopped(message, ckpt);
        }
        stop.handled(ckpt);
        if (reason == StopSignal.Reason.TIME_BUDGET) {
            out.printf(Locale.ROOT, "   float training stopped at its time budget (%.0f s) at step %d of %d; QAT and "
                    + "export go on (--resume %s continues float training to --steps)%n", stop.budgetSeconds(),
                    trainer.step(), s.train().steps(), ckpt);
        }
        Stage stage = new Stage();
        try {
            return afterFloat(s, data, out, trainer, curve, csvFile, floatSeconds, floatTps, stage);
        } catch (RuntimeException | Error e) {
            out.printf("%n!! %s failed after float training: %s%n", stage.name, e);
            out.printf("   the float model is saved in %s (step %d of %d)%n", ckpt, trainer.step(), s.train().steps());
            if (stage.artifactWritten) {
                out.printf("   the artifact %s was written before the failure (its provenance lacks the int8 scores)%n",
                        s.output());
            }
            out.printf("   resume without float training: add  --resume %s  to the same train command%s%n", ckpt,
                    e instanceof OutOfMemoryError ? " (with a larger heap: JDK_JAVA_OPTIONS=-Xmx..., trainer/README.md)"
                            : "");
            throw e;
        }
    }

    /**
     * Float training failed: keeps the steps done since {@code startStep} (a checkpoint of the trainer as it was
     * after its last finished step) and says what failed and how to go on. Returns the checkpoint written, or
     * {@code null}.
     */
    private static Path floatTrainingFailed(Settings s, PrintStream out, Trainer trainer, long startStep, Throwable e) {
        long steps = s.train().steps();
        out.printf("%n!! float training failed after step %d of %d: %s%n", trainer.step(), steps, e);
        Path saved = null;
        if (!trainer.consistent()) {
            out.printf("   it failed while updating the parameters: nothing saved%s%n", s.train().checkpoint() == null
                    ? "" : " (the last periodic checkpoint, if any, is " + s.train().checkpoint() + ")");
        } else if (trainer.step() > startStep) {
            try {
                saved = floatCheckpoint(s, trainer, true);
                out.printf("   the float model of step %d is saved in %s; continue with  --resume %s  added to the "
                        + "same train command%n", trainer.step(), saved, saved);
            } catch (RuntimeException | Error again) {
                e.addSuppressed(again);
                out.printf("   the float model could not be saved: %s%n", again);
            }
        } else if (startStep > 0) {
            out.printf("   no step finished since step %d: nothing new to save%n", startStep);
        } else {
            out.printf("   no step finished: nothing to save%n");
        }
        if (e instanceof OutOfMemoryError) {
            out.printf("   out of memory: give the JVM a larger heap (JDK_JAVA_OPTIONS=-Xmx...) or train a smaller --batch; "
                    + "trainer/README.md, \"Memory\", has what each preset needs%n");
        }
        out.flush();
        return saved;
    }

    /** The file the float model is checkpointed to (the one configured, else {@code OUTPUT.ckpt}), written now. */
    static Path floatCheckpoint(Settings s, Trainer trainer, boolean stoppedEarly) {
        Path configured = s.train().checkpoint();
        if (!stoppedEarly && configured != null && java.nio.file.Files.exists(configured)) {
            // the trainer wrote it at its last step, or it was resumed from it at the end of float training
            return configured;
        }
        Path file = configured != null ? configured : defaultCheckpoint(s.output());
        trainer.saveCheckpoint(file);
        return file;
    }

    /** Where a run checkpoints its float model when no {@code --checkpoint} is given: {@code OUTPUT.ckpt} beside the artifact. */
    public static Path defaultCheckpoint(Path output) {
        return output.toAbsolutePath().resolveSibling(baseName(output) + ".ckpt");
    }

    /** What the flow is doing after float training (for the message when it fails). */
    private static final class Stage {
        String name = "float scoring";
        boolean artifactWritten;
    }

    private static Result afterFloat(Settings s, Dataset data, PrintStream out, Trainer trainer,
                                     List<CurvePoint> curve, Path csvFile, double floatSeconds, double floatTps,
                                     Stage stage) {
        Path dir = s.output().toAbsolutePath().getParent();
        List<Pair> test = data.test().subList(0, Math.min(s.testSentences(), data.test().size()));
        Scored scored = new Scored(test, data.breakdown());
        List<String> sources = scored.pairs.stream().map(Pair::source).toList();
        long e0 = System.nanoTime();
        List<String> floatHyps = trainer.translate(sources);
        Metrics floatM = scored.metrics(floatHyps);
        GroupScores floatG = scored.groups(floatHyps);
        out.printf("   float: %s%s (%.1f s training, %.1f s scoring)%n", floatM, scored.worst(floatG), floatSeconds,
                (System.nanoTime() - e0) * 1e-9);
        out.print(scored.referencePlaceholders());

        stage.name = "QAT";
        out.printf("== QAT: calibration, %,d fine-tuning steps with trained power-of-two thresholds%n", s.qat().steps());
        Seq2SeqModel model = trainer.model();
        BatchSampler sampler = trainer.newSampler(s.train().seed() + 1);
        QatFineTuner qat = new QatFineTuner(model, sampler, s.qat(), QatNumerics.fastestKernels());
        long q0 = System.nanoTime();
        qat.calibrate();
        long tokens = 0;
        double busy = 0;
        if (s.qat().steps() > 0) {
            ProgressBar bar = new ProgressBar(out, s.qat().steps(), inPlace(), ProgressBar.DEFAULT_LINE_INTERVAL_NS,
                    System::nanoTime);
            for (long i = 1; i <= s.qat().steps(); i++) {
                long a = System.nanoTime();
                QatFineTuner.StepResult r = qat.trainStep();
                double dt = (System.nanoTime() - a) * 1e-9;
                tokens += r.targetTokens();
                busy += dt;
                bar.update(i, r.loss(), r.targetTokens() / dt);
            }
            bar.finish();
        }
        QuantizedModel integer = qat.export();
        double qatSeconds = (System.nanoTime() - q0) * 1e-9;
        // the promise, on validation pairs: the fake-quantized logits are the integer model's, bit for bit
        List<Pair> checkPairs = data.validation().subList(0, Math.min(s.bitExactSentences(), data.validation().size()));
        List<int[]> checkSrc = new ArrayList<>();
        List<int[]> checkTgt = new ArrayList<>();
        for (Pair p : checkPairs) {
            checkSrc.add(Seq2SeqModel.sourceIds(trainer.tokenizer(), p.source(), model.config().eosId()));
            checkTgt.add(trainer.tokenizer().encode(p.target()));
        }
        stage.name = "the bit-exact check";
        long b0 = System.nanoTime();
        long logitsCompared = BitExactCheck.check(model, qat.numerics(), integer, checkSrc, checkTgt);
        out.printf("   bit-exact: %,d int32 logits of %d validation pairs equal the integer model's (SPEC reference), "
                + "%.1f s%n", logitsCompared, checkPairs.size(), (System.nanoTime() - b0) * 1e-9);
        // the artifact exists from here on (with the float scores); it is rewritten with the int8 ones below
        Map<String, Double> metrics = new LinkedHashMap<>();
        put(metrics, "fp32", floatM, floatG);
        ArtifactWriter.write(integer, trainer.tokenizerSpec(), provenance(s, data, metrics, trainer.step()), s.output());
        stage.artifactWritten = true;
        stage.name = "fake-quantized scoring";
        long f0 = System.nanoTime();
        List<String> fqHyps = Trainer.translate(model, trainer.tokenizer(), sources, 64, qat.numerics());
        Metrics fqM = scored.metrics(fqHyps);
        GroupScores fqG = scored.groups(fqHyps);
        out.printf("   fake-quantized: %s%s (%.1f s QAT, %.1f s scoring)%n", fqM, scored.worst(fqG), qatSeconds,
                (System.nanoTime() - f0) * 1e-9);

        // (c): read the artifact back through the verifying reader, decode on the backend, then record (a) and (c)
        stage.name = "int8 scoring";
        long i0 = System.nanoTime();
        List<String> int8Hyps = decode(s.output(), sources, s.backend());
        Metrics int8M = scored.metrics(int8Hyps);
        GroupScores int8G = scored.groups(int8Hyps);
        double int8Seconds = (System.nanoTime() - i0) * 1e-9;
        put(metrics, "int8", int8M, int8G);
        metrics.put("int8.test_segments", (double) int8M.segments());
        metrics.put("qat.bitexact_logits", (double) logitsCompared);
        String sha = ArtifactWriter.write(integer, trainer.tokenizerSpec(), provenance(s, data, metrics, trainer.step()), s.output());
        out.printf("   int8 artifact (%s): %s%s (%.1f s scoring)%n", s.backend(), int8M, scored.worst(int8G), int8Seconds);
        out.println();
        out.print(SummaryTable.format(floatM, fqM, int8M));
        if (int8G != null) {
            out.println();
            out.print(GroupScores.table(List.of("float", "fake-quantized", "int8 artifact"), List.of(floatG, fqG, int8G)));
        }
        Path png = dir.resolve(baseName(s.output()) + ".curves.png");
        CurvePlot.write(curve, "shiftformer " + data.name() + " " + model.config().dModel() + "d", png,
                CurvePlot.DEFAULT_WIDTH, CurvePlot.DEFAULT_HEIGHT);
        out.printf("wrote %s (sha256 %s), curves %s and %s%n", s.output(), sha, csvFile, png);
        return new Result(floatM, fqM, int8M, s.output(), sha, floatSeconds, qatSeconds, floatTps,
                tokens / Math.max(1e-9, busy), floatG, fqG, int8G);
    }

    /**
     * What is scored: the held-out test pairs (the overall metrics) followed, with a breakdown, by every pair
     * of its seen groups (scored per group only: they are training pairs).
     */
    public static final class Scored {
        private final int heldOut;
        private final Breakdown breakdown;
        /** The pairs to translate, test pairs first. */
        public final List<Pair> pairs;

        public Scored(List<Pair> test, Breakdown breakdown) {
            this.heldOut = test.size();
            this.breakdown = breakdown;
            List<Pair> all = new ArrayList<>(test);
            if (breakdown != null) {
                all.addAll(breakdown.seen());
            }
            this.pairs = List.copyOf(all);
        }

        /** Exact match, chrF2, BLEU and placeholder accuracy of the held-out test pairs' hypotheses (the first ones). */
        public Metrics metrics(List<String> hyps) {
            List<Pair> test = pairs.subList(0, heldOut);
            return Metrics.evaluate(test.stream().map(Pair::source).toList(), hyps.subList(0, heldOut),
                    test.stream().map(Pair::target).toList());
        }

        /**
         * {@code "   placeholders: the references keep their source's in 98.50% of the 200 held-out pairs (61
         * sources have some)"}: the ceiling of placeholder accuracy (translators reword too), or nothing when
         * no held-out source has a placeholder.
         */
        public String referencePlaceholders() {
            List<Pair> test = pairs.subList(0, heldOut);
            Placeholders.Score refs = Placeholders.score(test.stream().map(Pair::source).toList(),
                    test.stream().map(Pair::target).toList());
            return refs.inSources() == 0 ? "" : String.format(Locale.ROOT, "   placeholders: the references keep their "
                    + "source's in %.2f%% of the %d held-out pairs (%d sources have some)%n", refs.accuracy(), heldOut,
                    refs.inSources());
        }

        /** The per-group scores, or {@code null} without a breakdown. */
        public GroupScores groups(List<String> hyps) {
            return breakdown == null ? null : GroupScores.score(breakdown, pairs, hyps);
        }

        /** {@code "; worst digits 3 99.80% (500 held out)"}, or nothing without a breakdown. */
        String worst(GroupScores g) {
            return g == null ? "" : "; " + g.worstLine();
        }
    }

    /**
     * Greedy translations of {@code sources} by the artifact at {@code file} on {@code backend}, each with the
     * trainer's per-sentence limit ({@link Trainer#maxNewTokens}); sentences with the same limit are decoded
     * together, up to 64 at a time.
     */
    public static List<String> decode(Path file, List<String> sources, String backend) {
        Artifact a = ArtifactReader.read(file);
        ByteBpeTokenizer tok = new ByteBpeTokenizer(a.tokenizer().mergeLeft(), a.tokenizer().mergeRight());
        BackendProvider provider = Backends.select(backend);
        String[] out = new String[sources.size()];
        try (Backend b = provider.open(Map.of()); LoadedModel m = b.load(a.model())) {
            Translator tr = new Translator(m, tok);
            Map<Integer, List<Integer>> byLimit = new java.util.TreeMap<>();
            for (int i = 0; i < sources.size(); i++) {
                int limit = Trainer.maxNewTokens(tr.sourceIds(sources.get(i)).length, a.model().config());
                byLimit.computeIfAbsent(limit, k -> new ArrayList<>()).add(i);
            }
            for (Map.Entry<Integer, List<Integer>> group : byLimit.entrySet()) {
                List<Integer> idx = group.getValue();
                DecodeParams p = DecodeParams.greedy(group.getKey());
                for (int from = 0; from < idx.size(); from += 64) {
                    List<Integer> part = idx.subList(from, Math.min(idx.size(), from + 64));
                    List<Translator.Translation> res = tr.translate(part.stream().map(sources::get).toList(), p, null);
                    for (int i = 0; i < part.size(); i++) {
                        out[part.get(i)] = res.get(i).text();
                    }
                }
            }
        }
        return List.of(out);
    }

    private static void put(Map<String, Double> m, String prefix, Metrics x, GroupScores g) {
        m.put(prefix + ".exact_match", x.exactMatch());
        m.put(prefix + ".chrf", x.chrf());
        m.put(prefix + ".bleu", x.bleu());
        m.put(prefix + ".placeholders", x.placeholders().accuracy());
        if (g != null) {
            m.put(prefix + ".worst_exact_match", g.worst().exactMatch());
            for (GroupScores.Row r : g.rows()) {
                m.put(prefix + ".exact_match." + g.dimension() + "_" + r.group(), r.exactMatch());
            }
        }
    }

    private static Provenance provenance(Settings s, Dataset data, Map<String, Double> metrics, long floatSteps) {
        String floatPart = floatSteps == s.train().steps() ? floatSteps + " steps"
                : floatSteps + " of " + s.train().steps() + " steps (stopped at the time budget)";
        return new Provenance("shiftformer-trainer 0.1.0", System.currentTimeMillis(), dataHash(data),
                s.command(), "data " + data.name() + "; float " + floatPart + ", QAT " + s.qat().steps()
                + " steps; test metrics on " + s.testSentences() + " held-out pairs", metrics);
    }

    /** SHA-256 over the training pairs (source, tab, target, newline), as hex. */
    static String dataHash(Dataset data) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (Pair p : data.train()) {
                md.update((p.source() + "\t" + p.target() + "\n").getBytes(StandardCharsets.UTF_8));
            }
            return "sha256:" + HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String baseName(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    private static boolean inPlace() {
        var console = System.console();
        return console != null && console.isTerminal();
    }

    /** Feeds the progress bar and the curve (a point every 20 steps, with validation when it ran) from the float trainer. */
    private static final class Recorder implements TrainListener {
        private final ProgressBar bar;
        private final List<CurvePoint> curve;
        private final PrintStream out;
        private double lossSum;
        private int lossCount;
        long tokens;
        double busySeconds;

        Recorder(ProgressBar bar, List<CurvePoint> curve, PrintStream out) {
            this.bar = bar;
            this.curve = curve;
            this.out = out;
        }

        @Override
        public void onStep(StepInfo i) {
            bar.update(i.step(), i.loss(), i.tokensPerSecond());
            tokens += i.targetTokens();
            busySeconds += i.targetTokens() / Math.max(1e-9, i.tokensPerSecond());
            lossSum += i.loss();
            lossCount++;
            if (i.step() % 20 == 0 || i.step() == i.totalSteps()) {
                curve.add(new CurvePoint(i.step(), i.elapsedSeconds(), lossSum / lossCount, i.lr(), i.tokensPerSecond(),
                        null));
                lossSum = 0;
                lossCount = 0;
            }
        }

        @Override
        public void onEval(EvalInfo e) {
            // a bar redrawn in place has no line end yet: start a new line below it
            out.printf((bar.inPlace() ? "%n" : "") + "   step %d: validation loss %.4f, greedy exact match %.2f%% (%d pairs)%n",
                    e.step(), e.loss(), 100 * e.exactMatch(), e.sentences());
            // validation runs right after a step's point when its interval is a multiple of 20 (or at the end)
            CurvePoint last = curve.isEmpty() ? null : curve.get(curve.size() - 1);
            if (last != null && last.step() == e.step()) {
                Metrics m = new Metrics(e.sentences(), 100 * e.exactMatch(), Double.NaN, Double.NaN);
                curve.set(curve.size() - 1, new CurvePoint(last.step(), last.wallSeconds(), last.trainLoss(),
                        last.learningRate(), last.tokensPerSecond(), m));
            }
        }
    }
}
