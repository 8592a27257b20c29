package org.shiftformer.core.engine;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.LongAdder;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;

/**
 * Shadow execution: a served model whose work is repeated, for a sample of sequences, by the same model
 * on a second backend, and compared bit for bit (SPEC.md: every backend computes the same bits). The
 * encoder output of a sampled source ({@link EncodedSource#memory()}) and the int32 logits of every
 * decoder step of a sampled sequence are compared; the shadow's step runs on a thread of its own while
 * the primary computes, so a step costs the slower of the two, not their sum.
 *
 * <p>A mismatch is counted ({@link Counters}), logged (the first, and each that fails a step) with the step, the
 * position and the first differing element, remembered ({@link Counters#first()}, shown in {@code /health/ready}),
 * and then handled as {@link OnMismatch} says: {@code LOG} keeps the primary's result; {@code FAIL} and
 * {@code FAILOVER} fail the step with BACKEND_FAILURE before its logits are used, so no token computed
 * from wrong bits is sent: with a fallback policy the server's failover moves the streams to another
 * backend (the shadow's, when the policy names it), and without one each request of the step ends with
 * that error. The check happens before the logits leave this class, which is why it is synchronous.
 *
 * <p>Sampling is per sequence, when its decoder is created (beam hypotheses forked from a sampled one
 * are sampled too). A shadow that fails (its own error) stops shadowing that sequence, is counted
 * ({@link Counters#errors}) and never fails the primary. Used by one scheduler thread at a time.
 */
public final class ShadowModel implements LoadedModel {
    private static final Logger LOG = System.getLogger(ShadowModel.class.getName());

    /** What a mismatch does. */
    public enum OnMismatch {
        /** Count and log it; the primary's result is used. */
        LOG,
        /** Fail the step with BACKEND_FAILURE: the server's failover moves the streams (to the shadow backend when the policy names it). */
        FAILOVER,
        /** Fail the step with BACKEND_FAILURE and mark it so; with fallback {@code none} the requests end with the error. */
        FAIL;

        /** {@code log}, {@code failover} or {@code fail}. */
        public static OnMismatch parse(String s) {
            try {
                return valueOf(s.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "on-mismatch '" + s
                        + "' must be log, failover or fail");
            }
        }
    }

    /**
     * A difference between the two backends.
     *
     * @param kind     {@code encoder} (the encoder output of a source) or {@code logits} (a decoder step)
     * @param step     the decoder step of this model (0-based, counting every batched step), or -1 for the encoder
     * @param position the sequence's position (tokens decoded so far), or the source length for the encoder
     * @param index    the first differing element (a vocabulary id for logits, a byte for the encoder)
     * @param primary  the primary's value there
     * @param shadow   the shadow's value there
     */
    public record Mismatch(String kind, long step, int position, int index, int primary, int shadow) {
        @Override
        public String toString() {
            return kind.equals("encoder")
                    ? "encoder output of a source of " + position + " tokens differs at byte " + index + ": primary "
                    + primary + ", shadow " + shadow
                    : "logits of decoder step " + step + " (position " + position + ") differ at id " + index
                    + ": primary " + primary + ", shadow " + shadow;
        }
    }

    private final LoadedModel primary;
    private final LoadedModel shadow;
    private final String primaryName;
    private final String shadowName;
    private final double sample;
    private final OnMismatch onMismatch;
    private final SplittableRandom rnd;
    private final ExecutorService worker;
    private final Counters counters;
    private long steps;

    /**
     * What shadow execution found, shared by the shadow models of one server (reloads make new ones) so
     * that its meters count over all of them.
     */
    public static final class Counters {
        /** Sources whose encoder output was compared. */
        public final LongAdder sources = new LongAdder();
        /** Decoder rows (one sequence's step) whose logits were compared. */
        public final LongAdder rows = new LongAdder();
        /** Differences found. */
        public final LongAdder mismatches = new LongAdder();
        /** Shadow computations that failed by themselves (not counted as mismatches). */
        public final LongAdder errors = new LongAdder();
        private volatile Mismatch first;

        /** The first difference found, or null. */
        public Mismatch first() {
            return first;
        }
    }

    /**
     * @param primary     the model that serves (its results are what clients get)
     * @param shadow      the same model on the shadow backend; closed with this one
     * @param sample      the share of sequences shadowed, in (0, 1]
     * @param seed        the sampling seed
     * @param counters    where the findings are counted
     */
    public ShadowModel(LoadedModel primary, String primaryName, LoadedModel shadow, String shadowName, double sample,
                       OnMismatch onMismatch, long seed, Counters counters) {
        this.primary = Objects.requireNonNull(primary, "primary");
        this.shadow = Objects.requireNonNull(shadow, "shadow");
        this.primaryName = primaryName;
        this.shadowName = shadowName;
        if (!(sample > 0 && sample <= 1)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "shadow sample " + sample + " must be in (0, 1]");
        }
        if (!primary.config().equals(shadow.config())) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "the shadow model has another configuration: "
                    + shadow.config() + " vs " + primary.config());
        }
        this.sample = sample;
        this.onMismatch = Objects.requireNonNull(onMismatch, "onMismatch");
        this.rnd = new SplittableRandom(seed);
        this.counters = Objects.requireNonNull(counters, "counters");
        this.worker = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().name("shiftformer-shadow-" + shadowName).daemon(true).factory());
    }

    public String primaryName() {
        return primaryName;
    }

    public String shadowName() {
        return shadowName;
    }

    /** What this model (and the others sharing its counters) found. */
    public Counters counters() {
        return counters;
    }

    @Override
    public ModelConfig config() {
        return primary.config();
    }

    @Override
    public int logitsExponent() {
        return primary.logitsExponent();
    }

    @Override
    public EncodeResult encode(List<int[]> sources, LayerTap tap) {
        EncodeResult r = primary.encode(sources, tap);
        List<EncodedSource> wrapped = new ArrayList<>(sources.size());
        for (int i = 0; i < sources.size(); i++) {
            wrapped.add(new Source(r.sources().get(i), sources.get(i).clone()));
        }
        return new EncodeResult(wrapped, r.cost());
    }

    @Override
    public DecoderState newDecoder(EncodedSource source, int capacity) {
        Source src = (Source) source;
        DecoderState p = primary.newDecoder(src.primary, capacity);
        DecoderState s = null;
        boolean sampled;
        synchronized (rnd) {
            sampled = sample >= 1 || rnd.nextDouble() < sample;
        }
        if (sampled) {
            try {
                EncodedSource se = src.shadow();
                if (se != null) {
                    s = shadow.newDecoder(se, capacity);
                }
            } catch (RuntimeException e) {
                shadowFailed(e);
            }
        }
        return new State(src, p, s);
    }

    @Override
    public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        int n = states.size();
        int vocab = primary.config().vocabSize();
        List<DecoderState> ps = new ArrayList<>(n);
        List<DecoderState> ss = new ArrayList<>();
        int[] rows = new int[n];
        int shadowed = 0;
        for (int i = 0; i < n; i++) {
            State st = (State) states.get(i);
            ps.add(st.p);
            if (st.s != null) {
                ss.add(st.s);
                rows[shadowed++] = i;
            }
        }
        long step = steps++;
        if (shadowed == 0) {
            return primary.decodeStep(ps, tokens, logits, tap);
        }
        int[] sTokens = new int[shadowed];
        int[] sPositions = new int[shadowed];
        for (int j = 0; j < shadowed; j++) {
            sTokens[j] = tokens[rows[j]];
            sPositions[j] = states.get(rows[j]).position();
        }
        int[] sLogits = new int[shadowed * vocab];
        Future<StepCost> f = worker.submit(() -> shadow.decodeStep(ss, sTokens, sLogits, null));
        StepCost cost;
        try {
            cost = primary.decodeStep(ps, tokens, logits, tap);
        } catch (RuntimeException e) {
            await(f); // the shadow's states stay consistent with what it computed; the primary's failure goes up
            throw e;
        }
        if (!await(f)) {
            for (int j = 0; j < shadowed; j++) {
                ((State) states.get(rows[j])).stopShadowing();
            }
            return cost;
        }
        for (int j = 0; j < shadowed; j++) {
            int row = rows[j];
            counters.rows.increment();
            int at = Arrays.mismatch(logits, row * vocab, (row + 1) * vocab, sLogits, j * vocab, (j + 1) * vocab);
            if (at >= 0) {
                mismatch(new Mismatch("logits", step, sPositions[j], at, logits[row * vocab + at], sLogits[j * vocab + at]));
            }
        }
        return cost;
    }

    /** True when the shadow's step completed; false when it failed by itself (counted, logged). */
    private boolean await(Future<StepCost> f) {
        try {
            f.get();
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            f.cancel(true);
            throw new ShiftformerException(ErrorCode.CANCELLED, "interrupted while the shadow backend computed", e);
        } catch (ExecutionException e) {
            shadowFailed(e.getCause());
            return false;
        }
    }

    private void shadowFailed(Throwable e) {
        counters.errors.increment();
        LOG.log(Level.WARNING, "shadow backend " + shadowName + " failed; the sequences it shadowed are no longer "
                + "compared: " + e);
    }

    private void mismatch(Mismatch m) {
        counters.mismatches.increment();
        boolean firstOne;
        synchronized (counters) {
            firstOne = counters.first == null;
            if (firstOne) {
                counters.first = m;
            }
        }
        String what = "shadow execution: backend " + primaryName + " and shadow " + shadowName + " differ: " + m;
        if (firstOne || onMismatch != OnMismatch.LOG) {
            LOG.log(Level.WARNING, what + (onMismatch == OnMismatch.LOG ? " (on-mismatch log: the primary's result is used)"
                    : " (on-mismatch " + onMismatch.name().toLowerCase(Locale.ROOT) + ": the step fails)"));
        }
        if (onMismatch != OnMismatch.LOG) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, what);
        }
    }

    @Override
    public void close() {
        worker.shutdown();
        try {
            primary.close();
        } finally {
            shadow.close();
        }
    }

    /** A source encoded by the primary, encoded by the shadow when a sampled decoder first needs it. */
    private final class Source implements EncodedSource {
        final EncodedSource primary;
        final int[] tokens;
        private EncodedSource shadowed;
        private boolean tried;

        Source(EncodedSource primary, int[] tokens) {
            this.primary = primary;
            this.tokens = tokens;
        }

        /** The shadow's encoding, compared with the primary's (once); null when the shadow failed. */
        EncodedSource shadow() {
            if (!tried) {
                tried = true;
                shadowed = ShadowModel.this.shadow.encode(List.of(tokens), null).sources().get(0);
                counters.sources.increment();
                byte[] a = primary.memory();
                byte[] b = shadowed.memory();
                int at = Arrays.mismatch(a, b);
                if (at >= 0) {
                    mismatch(new Mismatch("encoder", -1, tokens.length, at, at < a.length ? a[at] : -1,
                            at < b.length ? b[at] : -1));
                }
            }
            return shadowed;
        }

        @Override
        public int length() {
            return primary.length();
        }

        @Override
        public byte[] memory() {
            return primary.memory();
        }

        @Override
        public void close() {
            try {
                primary.close();
            } finally {
                if (shadowed != null) {
                    shadowed.close();
                }
            }
        }
    }

    /** A primary decoder state and, when its sequence is sampled, the shadow's. */
    private final class State implements DecoderState {
        final Source source;
        final DecoderState p;
        DecoderState s;

        State(Source source, DecoderState p, DecoderState s) {
            this.source = source;
            this.p = p;
            this.s = s;
        }

        void stopShadowing() {
            if (s != null) {
                try {
                    s.close();
                } catch (RuntimeException e) {
                    // the shadow already failed
                }
                s = null;
            }
        }

        @Override
        public int position() {
            return p.position();
        }

        @Override
        public int capacity() {
            return p.capacity();
        }

        @Override
        public EncodedSource source() {
            return source;
        }

        @Override
        public DecoderState fork() {
            DecoderState pf = p.fork();
            DecoderState sf = null;
            if (s != null) {
                try {
                    sf = s.fork();
                } catch (RuntimeException e) {
                    shadowFailed(e);
                }
            }
            return new State(source, pf, sf);
        }

        @Override
        public void copyFrom(DecoderState other) {
            State o = (State) other;
            p.copyFrom(o.p);
            if (s != null && o.s != null) {
                try {
                    s.copyFrom(o.s);
                } catch (RuntimeException e) {
                    shadowFailed(e);
                    stopShadowing();
                }
            } else {
                stopShadowing(); // now a copy of a sequence that is not shadowed
            }
        }

        @Override
        public void close() {
            try {
                p.close();
            } finally {
                stopShadowing();
            }
        }
    }
}
