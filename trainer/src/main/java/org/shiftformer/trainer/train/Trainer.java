package org.shiftformer.trainer.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.artifact.TokenizerSpec;
import org.shiftformer.core.tokenizer.BpeTrainer;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.autodiff.Workspace;
import org.shiftformer.trainer.data.Pair;
import org.shiftformer.trainer.eval.Placeholders;
import org.shiftformer.trainer.model.Batch;
import org.shiftformer.trainer.model.FloatNumerics;
import org.shiftformer.trainer.model.Numerics;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.model.TransformerParams;
import org.shiftformer.trainer.optim.AdamW;
import org.shiftformer.trainer.optim.LrSchedule;
import org.shiftformer.trainer.optim.ParamGroup;

/**
 * Float training of the SPEC.md model on parallel pairs: BPE tokenizer (both sides, one vocabulary),
 * length-bucketed batches, AdamW with warm-up + cosine decay and gradient clipping, residual dropout,
 * periodic validation (greedy exact match) and checkpoints.
 *
 * <p>Deterministic: the same config, data and seed give the same bits, for any thread count; a run resumed
 * from a checkpoint continues bit for bit (the checkpoint holds parameters, Adam moments, step and data
 * position; step {@code s}'s dropout masks are seeded from {@code (seed, s)}).
 */
public final class Trainer {

    private final TrainConfig config;
    private final List<Pair> valid;
    private final TrainListener listener;
    private final ByteBpeTokenizer tokenizer;
    private final ModelConfig modelConfig;
    private final Seq2SeqModel model;
    private final AdamW optimizer;
    private final BatchSampler sampler;
    /** The tokenized training pairs (sources with EOS, targets without), read-only. */
    private final List<int[]> trainSources;
    private final List<int[]> trainTargets;

    /**
     * Prepares a run: trains the tokenizer on {@code train} (or takes it from an existing checkpoint),
     * tokenizes the data, initialises the model and, if {@code config.checkpoint()} exists, resumes from it.
     *
     * @throws IllegalArgumentException if a pair does not fit the model's positions, or the checkpoint does not
     *     match the config
     */
    public Trainer(TrainConfig config, List<Pair> train, List<Pair> valid, TrainListener listener) {
        if (train.isEmpty()) {
            throw new IllegalArgumentException("the training set is empty");
        }
        this.config = config;
        this.valid = List.copyOf(valid);
        this.listener = listener == null ? TrainListener.NONE : listener;
        MatMul.setThreads(config.threads());
        Checkpoint resume = config.checkpoint() != null && Files.exists(config.checkpoint())
                ? Checkpoint.read(config.checkpoint()) : null;
        if (resume != null) {
            tokenizer = new ByteBpeTokenizer(resume.mergeLeft(), resume.mergeRight());
            if (resume.seed() != config.seed()) {
                throw new IllegalArgumentException("checkpoint " + config.checkpoint() + " was trained with seed "
                        + resume.seed() + ", the config says " + config.seed());
            }
        } else {
            tokenizer = trainTokenizer(train, config.model().vocabSize());
        }
        modelConfig = withVocab(config.model(), tokenizer.vocabSize());
        if (resume != null && !resume.config().equals(modelConfig)) {
            throw new IllegalArgumentException("checkpoint " + config.checkpoint() + " holds a model " + resume.config()
                    + ", the config asks for " + modelConfig);
        }
        List<int[]> src = new ArrayList<>(train.size());
        List<int[]> tgt = new ArrayList<>(train.size());
        for (int i = 0; i < train.size(); i++) {
            Pair p = train.get(i);
            int[] s = Seq2SeqModel.sourceIds(tokenizer, p.source(), modelConfig.eosId());
            int[] t = tokenizer.encode(p.target());
            if (s.length > modelConfig.maxPositions() || t.length + 1 > modelConfig.maxPositions()) {
                throw new IllegalArgumentException("training pair " + i + " needs " + Math.max(s.length, t.length + 1)
                        + " positions, the model has " + modelConfig.maxPositions() + ": " + p);
            }
            src.add(s);
            tgt.add(t);
        }
        TransformerParams params = TransformerParams.init(modelConfig, config.seed());
        model = new Seq2SeqModel(params, config.labelSmoothing());
        LrSchedule schedule = LrSchedule.warmupCosine(config.peakLr(), config.warmupSteps(), config.steps(),
                config.minLr());
        optimizer = new AdamW(paramGroups(params, schedule, config.weightDecay()), 0.9, 0.98, 1e-9, config.clipNorm());
        trainSources = List.copyOf(src);
        trainTargets = List.copyOf(tgt);
        sampler = new BatchSampler(trainSources, trainTargets, config.batchSentences(), config.seed(), modelConfig);
        if (resume != null) {
            resume.restore(optimizer);
            sampler.seek(resume.epoch(), resume.cursor());
        }
    }

    /**
     * The optimizer's groups for the model's parameters: the query projections ({@code *.q} weights and biases)
     * in a group of their own whose learning rate (and weight decay, so that decoupled decay stays the same
     * per step) is scaled by {@link TransformerParams#queryScale}, everything else in {@code "weights"}.
     *
     * <p>Why: {@code W_Q} holds {@code log2(e)/sqrt(d_k)} (0.18 at d_k 64) so that the scores are base-2
     * logits (SPEC.md 3.3). Adam's step is about the learning rate whatever a parameter's scale, so a
     * parameter stored 0.18x smaller moves 5.5x faster relative to itself: the usual model with the
     * constant {@code 1/sqrt(d_k)} outside its parameters, trained at 2e-3, is this model with its queries
     * trained at 1.1e-2. Scaling their rate by the same factor trains the folded model as the usual one is
     * trained.
     */
    public static List<ParamGroup> paramGroups(TransformerParams params, LrSchedule schedule, double weightDecay) {
        double q = params.queryScale();
        List<Tensor> queries = new ArrayList<>();
        List<Tensor> rest = new ArrayList<>();
        for (var e : params.byName().entrySet()) {
            (TransformerParams.isQueryProjection(e.getKey()) ? queries : rest).add(e.getValue());
        }
        return List.of(new ParamGroup("weights", rest, schedule, weightDecay),
                new ParamGroup("queries", queries, step -> schedule.lr(step) * q, weightDecay / q));
    }

    /**
     * BPE on both sides of {@code pairs} into one vocabulary of at most {@code vocabSize} ids, with the
     * placeholders of the data ({@link Placeholders#spans}: {@code %s}, {@code %1$d}, {@code {0}}, ... as
     * written) as atomic tokens ({@link BpeTrainer#train(Iterable, int, java.util.Collection)}): those seen at
     * least twice, most frequent first, as long as their merges take at most a quarter of the vocabulary's.
     * On data without placeholders (number words) this is plain BPE.
     */
    public static ByteBpeTokenizer trainTokenizer(List<Pair> pairs, int vocabSize) {
        List<String> corpus = new ArrayList<>(pairs.size() * 2);
        for (Pair p : pairs) {
            corpus.add(p.source());
            corpus.add(p.target());
        }
        int[][] merges = BpeTrainer.train(corpus, vocabSize, atomicPlaceholders(corpus, vocabSize));
        return new ByteBpeTokenizer(merges[0], merges[1]);
    }

    /** The placeholders {@link #trainTokenizer} keeps whole. */
    static List<String> atomicPlaceholders(List<String> corpus, int vocabSize) {
        Map<String, Integer> counts = new HashMap<>();
        for (String text : corpus) {
            for (String p : Placeholders.spans(text)) {
                counts.merge(p, 1, Integer::sum);
            }
        }
        List<String> byCount = counts.entrySet().stream().filter(e -> e.getValue() >= 2)
                .sorted(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .map(Map.Entry::getKey).toList();
        int budget = Math.max(0, vocabSize - ByteBpeTokenizer.FIRST_MERGE_ID) / 4;
        Set<String> prefixes = new HashSet<>(); // chains share prefixes: count each prefix token once
        List<String> atoms = new ArrayList<>();
        for (String p : byCount) {
            byte[] b = p.getBytes(StandardCharsets.UTF_8);
            List<String> fresh = new ArrayList<>();
            for (int n = 2; n <= b.length; n++) {
                String prefix = new String(b, 0, n, StandardCharsets.ISO_8859_1);
                if (!prefixes.contains(prefix)) {
                    fresh.add(prefix);
                }
            }
            if (prefixes.size() + fresh.size() > budget) {
                continue;
            }
            prefixes.addAll(fresh);
            atoms.add(p);
        }
        return atoms;
    }

    private static ModelConfig withVocab(ModelConfig c, int vocab) {
        return new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(), vocab,
                c.maxPositions(), c.embedScaleLog2(), c.padId(), c.bosId(), c.eosId()).validate();
    }

    public Seq2SeqModel model() {
        return model;
    }

    public ByteBpeTokenizer tokenizer() {
        return tokenizer;
    }

    /** The tokenizer as the artifact stores it. */
    public TokenizerSpec tokenizerSpec() {
        return new TokenizerSpec(tokenizer.mergeLeft(), tokenizer.mergeRight());
    }

    /**
     * A new sampler over this run's tokenized training pairs with the configured batch size and its own seed
     * (the QAT phase draws its batches from the same data without re-tokenizing it).
     */
    public BatchSampler newSampler(long seed) {
        return new BatchSampler(trainSources, trainTargets, config.batchSentences(), seed, modelConfig);
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** Steps done (including those before a resume). */
    public long step() {
        return optimizer.stepCount();
    }

    /**
     * One optimizer step on the next batch; returns the batch loss. A step that fails before it updates the
     * parameters (an {@link OutOfMemoryError} in the forward or backward pass, say) did not happen: the sampler is
     * put back, so the trainer is still that of {@link #step()} and a checkpoint of it resumes exactly
     * ({@link #consistent()}).
     */
    public double trainStep() {
        long epoch = sampler.epoch();
        int cursor = sampler.cursor();
        Batch batch = sampler.next();
        optimizer.zeroGrad();
        long s = optimizer.stepCount() + 1;
        Numerics n = FloatNumerics.training(config.dropout(), config.seed() * 0x9E3779B97F4A7C15L ^ s);
        lastTokens = batch.targetTokens();
        try (var ignored = Workspace.open()) { // the step's arrays are reused by the next step
            Tensor loss;
            try {
                loss = model.loss(batch, n, true);
                loss.backward();
                if (beforeUpdate != null) {
                    beforeUpdate.run();
                }
            } catch (RuntimeException | Error e) {
                sampler.seek(epoch, cursor); // the step did not happen: its batch comes next again
                throw e;
            }
            updating = true;
            optimizer.step();
            updating = false;
            return loss.item();
        }
    }

    private int lastTokens;
    /** True while {@link #trainStep} updates the parameters: a failure then leaves some updated, some not. */
    private boolean updating;
    /** Tests' hook between the backward pass and the update of a step. */
    private Runnable beforeUpdate;

    /** Runs {@code hook} in every step after the backward pass, before the update (tests inject failures there). */
    void beforeUpdate(Runnable hook) {
        beforeUpdate = hook;
    }

    /**
     * Whether the parameters, the optimizer and the sampler are those after {@link #step()} steps: false only
     * after a step failed while it updated the parameters (then a checkpoint would not resume that run).
     */
    public boolean consistent() {
        return !updating;
    }

    /** Trains until {@code config.steps()}, validating and checkpointing as configured; returns the last evaluation. */
    public TrainListener.EvalInfo run() {
        run(StopSignal.none());
        return lastEval;
    }

    private TrainListener.EvalInfo lastEval;

    /** The last evaluation {@link #run} made, or {@code null}. */
    public TrainListener.EvalInfo lastEval() {
        return lastEval;
    }

    /**
     * Trains until {@code config.steps()} or until {@code stop} says to stop (checked after every step: a
     * request, or its time budget counted from this call), validating and checkpointing as configured.
     * An early stop ends at a step boundary and neither validates nor checkpoints: the caller decides.
     */
    public StopSignal.Reason run(StopSignal stop) {
        long start = System.nanoTime();
        while (step() < config.steps()) {
            StopSignal.Reason early = stop.check(System.nanoTime() - start);
            if (early != null) {
                return early;
            }
            double lr = optimizer.nextLr(0);
            long t0 = System.nanoTime();
            double loss = trainStep();
            long t1 = System.nanoTime();
            long s = step();
            listener.onStep(new TrainListener.StepInfo(s, config.steps(), loss, lr, optimizer.lastGradNorm(),
                    lastTokens, lastTokens / ((t1 - t0) * 1e-9), (t1 - start) * 1e-9));
            boolean end = s == config.steps();
            if (config.checkpoint() != null && (end || (config.checkpointInterval() > 0
                    && s % config.checkpointInterval() == 0))) {
                saveCheckpoint();
            }
            if (end || (config.evalInterval() > 0 && s % config.evalInterval() == 0)) {
                lastEval = evaluate();
                listener.onEval(lastEval);
            }
        }
        return StopSignal.Reason.STEPS;
    }

    /** Writes the checkpoint now (to {@code config.checkpoint()}). */
    public void saveCheckpoint() {
        if (config.checkpoint() == null) {
            throw new IllegalStateException("no checkpoint path configured");
        }
        saveCheckpoint(config.checkpoint());
    }

    /** Writes the checkpoint now to {@code file} (resumable with {@code config.withCheckpoint(file, ...)}). */
    public void saveCheckpoint(Path file) {
        Checkpoint.capture(modelConfig, tokenizer.mergeLeft(), tokenizer.mergeRight(), optimizer, sampler.epoch(),
                sampler.cursor(), config.seed()).write(file);
        listener.onCheckpoint(step(), file);
    }

    /** Validation loss and greedy exact match on the first {@code evalSentences} validation pairs. */
    public TrainListener.EvalInfo evaluate() {
        List<Pair> v = valid.subList(0, Math.min(valid.size(), config.evalSentences()));
        if (v.isEmpty()) {
            return new TrainListener.EvalInfo(step(), Double.NaN, Double.NaN, 0);
        }
        List<String> hyp = translate(v.stream().map(Pair::source).toList());
        int exact = 0;
        for (int i = 0; i < v.size(); i++) {
            if (hyp.get(i).equals(v.get(i).target())) {
                exact++;
            }
        }
        double lossSum = 0;
        int batches = 0;
        for (int from = 0; from < v.size(); from += config.batchSentences()) {
            List<Pair> part = v.subList(from, Math.min(v.size(), from + config.batchSentences()));
            List<int[]> s = new ArrayList<>();
            List<int[]> t = new ArrayList<>();
            for (Pair p : part) {
                s.add(Seq2SeqModel.sourceIds(tokenizer, p.source(), modelConfig.eosId()));
                t.add(tokenizer.encode(p.target()));
            }
            lossSum += model.loss(Batch.of(s, t, modelConfig), FloatNumerics.plain(), false).item();
            batches++;
        }
        return new TrainListener.EvalInfo(step(), lossSum / batches, (double) exact / v.size(), v.size());
    }

    /** Greedy float translations of {@code sources} (batched by length; results in input order). */
    public List<String> translate(List<String> sources) {
        return translate(model, tokenizer, sources, 64);
    }

    /**
     * The decoding limit of a source of {@code sourceIds} ids (EOS included) when the trainer scores a model:
     * {@code min(max_positions - 1, 2 * sourceIds + 8)} steps. Per sentence, so that a translation does not
     * depend on its batch; the artifact is scored with the same limit (TrainFlow), which keeps the
     * fake-quantized and the int8 scores comparable even for sentences that never reach EOS.
     */
    public static int maxNewTokens(int sourceIds, ModelConfig cfg) {
        return Math.min(cfg.maxPositions() - 1, 2 * sourceIds + 8);
    }

    /** Greedy float translations with {@code model} and {@code tokenizer}, {@code batch} sentences at a time. */
    public static List<String> translate(Seq2SeqModel model, ByteBpeTokenizer tokenizer, List<String> sources,
                                         int batch) {
        return translate(model, tokenizer, sources, batch, FloatNumerics.plain());
    }

    /**
     * Greedy translations computed with {@code numerics} (float, or the fake-quantized model's), {@code batch}
     * sentences at a time, results in input order.
     */
    public static List<String> translate(Seq2SeqModel model, ByteBpeTokenizer tokenizer, List<String> sources,
                                         int batch, Numerics numerics) {
        ModelConfig c = model.config();
        int n = sources.size();
        int[][] ids = new int[n][];
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            ids[i] = Seq2SeqModel.sourceIds(tokenizer, sources.get(i), c.eosId());
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingInt(i -> ids[i].length));
        String[] out = new String[n];
        for (int from = 0; from < n; from += batch) {
            int to = Math.min(n, from + batch);
            List<int[]> part = new ArrayList<>();
            int[] limits = new int[to - from];
            for (int i = from; i < to; i++) {
                part.add(ids[order[i]]);
                limits[i - from] = maxNewTokens(ids[order[i]].length, c);
            }
            List<int[]> res = model.greedy(part, limits, numerics);
            for (int i = from; i < to; i++) {
                out[order[i]] = tokenizer.decode(res.get(i - from));
            }
        }
        return Arrays.asList(out);
    }
}
