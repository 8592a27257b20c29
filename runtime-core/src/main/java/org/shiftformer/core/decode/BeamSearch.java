package org.shiftformer.core.decode;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.spec.IntOps;

/**
 * Beam search exactly as SPEC.md 5.2: fixed-point base-2 log-probabilities, candidates ranked by score,
 * then hypothesis index, then token id; EOS candidates count only within the first W ranks; GNMT
 * length normalization in fixed point; the best finished hypothesis wins, ties to the earliest
 * finished. Tokens are streamed as soon as every live and finished hypothesis shares them. Width 1 is
 * not a beam: it is {@link GreedySearch} (SPEC.md 5.2), so this class needs at least 2.
 */
public final class BeamSearch implements SequenceSearch {
    private final ModelConfig cfg;
    private final LoadedModel model;
    private final EncodedSource source;
    private final int sequence;
    private final TokenListener listener;
    private final StepObserver observer;
    private final int width;
    private final int maxNew;
    private final int alphaQ8;
    private final int vocab;

    private List<Hyp> live = new ArrayList<>();
    private final List<Finished> finished = new ArrayList<>();
    private final ArrayDeque<DecoderState> spare = new ArrayDeque<>();
    private final long[] logp;
    private final int[] candHyp;
    private final int[] candTok;
    private final long[] candScore;
    private int[] feed = new int[0];
    private List<DecoderState> feedStates = List.of();
    private int step;
    private long cycles;
    private long cyclesSinceToken;
    private int emitted;
    private boolean done;
    private DecodeResult result;

    private record Hyp(int[] tokens, long score, DecoderState state) {
    }

    private record Finished(int[] tokens, long score, long norm, boolean eos) {
    }

    public BeamSearch(LoadedModel model, EncodedSource source, DecodeParams params, int sequence, TokenListener listener) {
        this(model, source, params, sequence, listener, null);
    }

    /** With {@code observer} (may be null) seeing every step's logits, hypothesis scores and choices. */
    public BeamSearch(LoadedModel model, EncodedSource source, DecodeParams params, int sequence, TokenListener listener,
                      StepObserver observer) {
        this.cfg = model.config();
        this.model = model;
        this.source = source;
        this.sequence = sequence;
        this.listener = listener;
        if (params.beamWidth() < 2) {
            throw new IllegalArgumentException("beam search needs a width of at least 2, got " + params.beamWidth()
                    + ": width 1 is greedy (SPEC.md 5.2)");
        }
        this.observer = observer;
        this.width = params.beamWidth();
        this.maxNew = Decoding.checkMaxNew(cfg, params.maxNewTokens());
        this.alphaQ8 = params.alphaQ8();
        this.vocab = cfg.vocabSize();
        this.logp = new long[vocab];
        int maxCand = width * 2 * width;
        this.candHyp = new int[maxCand];
        this.candTok = new int[maxCand];
        this.candScore = new long[maxCand];
        live.add(new Hyp(new int[0], 0, model.newDecoder(source, maxNew)));
        prepareFeed();
    }

    private void prepareFeed() {
        feed = new int[live.size()];
        List<DecoderState> st = new ArrayList<>(live.size());
        for (int i = 0; i < live.size(); i++) {
            int[] t = live.get(i).tokens;
            feed[i] = t.length == 0 ? cfg.bosId() : t[t.length - 1];
            st.add(live.get(i).state);
        }
        feedStates = st;
    }

    @Override
    public List<DecoderState> states() {
        return done ? List.of() : feedStates;
    }

    @Override
    public int[] tokens() {
        return feed;
    }

    @Override
    public void advance(int[] logits, int offset, long deviceCycles) {
        step++;
        cycles += deviceCycles;
        cyclesSinceToken += deviceCycles;
        int perHyp = 2 * width;
        int n = 0;
        for (int h = 0; h < live.size(); h++) {
            IntOps.logProbs(logits, offset + h * vocab, vocab, model.logitsExponent(), cfg.padId(), cfg.bosId(), logp, 0);
            n = topCandidates(h, live.get(h).score, perHyp, n);
        }
        sortCandidates(n);
        List<StepObserver.Choice> chosen = observer == null ? null : new ArrayList<>();
        List<Hyp> next = new ArrayList<>(width);
        Map<DecoderState, Boolean> claimed = new IdentityHashMap<>();
        for (int rank = 0; rank < n && next.size() < width; rank++) {
            Hyp parent = live.get(candHyp[rank]);
            if (candTok[rank] == cfg.eosId()) {
                if (rank < width) {
                    int len = parent.tokens.length + 1;
                    finished.add(new Finished(parent.tokens, candScore[rank],
                            IntOps.normalize(candScore[rank], len, alphaQ8), true));
                    if (chosen != null) {
                        chosen.add(new StepObserver.Choice(candHyp[rank], candTok[rank], candScore[rank], -1));
                    }
                }
                continue;
            }
            DecoderState st;
            if (claimed.putIfAbsent(parent.state, Boolean.TRUE) == null) {
                st = parent.state;
            } else {
                st = spare.isEmpty() ? model.newDecoder(source, maxNew) : spare.pop();
                st.copyFrom(parent.state);
            }
            int[] tokens = Arrays.copyOf(parent.tokens, parent.tokens.length + 1);
            tokens[parent.tokens.length] = candTok[rank];
            if (chosen != null) {
                chosen.add(new StepObserver.Choice(candHyp[rank], candTok[rank], candScore[rank],
                        step == maxNew ? -1 : next.size()));
            }
            next.add(new Hyp(tokens, candScore[rank], st));
        }
        if (observer != null) {
            long[] scores = new long[live.size()];
            for (int h = 0; h < scores.length; h++) {
                scores[h] = live.get(h).score;
            }
            observer.onStep(sequence, step - 1, logits, offset, scores, chosen);
        }
        for (Hyp h : live) {
            if (!claimed.containsKey(h.state)) {
                spare.push(h.state);
            }
        }
        if (step == maxNew) {
            for (Hyp h : next) {
                finished.add(new Finished(h.tokens, h.score, IntOps.normalize(h.score, h.tokens.length, alphaQ8), false));
                spare.push(h.state);
            }
            next = List.of();
        }
        live = next;
        if (finished.size() >= width || live.isEmpty()) {
            finish();
        } else {
            prepareFeed();
            streamCommonPrefix();
        }
    }

    /** Appends this hypothesis' best {@code k} candidates (score desc, token asc) at {@code n}. */
    private int topCandidates(int h, long base, int k, int n) {
        int start = n;
        int count = 0;
        for (int v = 0; v < vocab; v++) {
            if (logp[v] == Long.MIN_VALUE) {
                continue;
            }
            long s = base + logp[v];
            if (count == k && s <= candScore[start + count - 1]) {
                continue; // not better than the worst kept (ties keep the lower token id already kept)
            }
            int pos = count == k ? count - 1 : count;
            while (pos > 0 && candScore[start + pos - 1] < s) {
                candScore[start + pos] = candScore[start + pos - 1];
                candTok[start + pos] = candTok[start + pos - 1];
                pos--;
            }
            candScore[start + pos] = s;
            candTok[start + pos] = v;
            candHyp[start + pos] = h;
            if (count < k) {
                count++;
            }
        }
        for (int i = start; i < start + count; i++) {
            candHyp[i] = h;
        }
        return n + count;
    }

    /** Insertion sort of the few candidates by score desc, hypothesis asc, token asc. */
    private void sortCandidates(int n) {
        for (int i = 1; i < n; i++) {
            long s = candScore[i];
            int h = candHyp[i];
            int t = candTok[i];
            int j = i - 1;
            while (j >= 0 && (candScore[j] < s || (candScore[j] == s && (candHyp[j] > h || (candHyp[j] == h && candTok[j] > t))))) {
                candScore[j + 1] = candScore[j];
                candHyp[j + 1] = candHyp[j];
                candTok[j + 1] = candTok[j];
                j--;
            }
            candScore[j + 1] = s;
            candHyp[j + 1] = h;
            candTok[j + 1] = t;
        }
    }

    private void streamCommonPrefix() {
        int common = Integer.MAX_VALUE;
        int[] ref = live.isEmpty() ? finished.get(0).tokens : live.get(0).tokens;
        for (Hyp h : live) {
            common = Math.min(common, commonPrefix(ref, h.tokens));
        }
        for (Finished f : finished) {
            common = Math.min(common, commonPrefix(ref, f.tokens));
        }
        emitUpTo(ref, common);
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }

    private void emitUpTo(int[] tokens, int end) {
        while (emitted < end) {
            listener.onToken(sequence, tokens[emitted], emitted, cyclesSinceToken);
            cyclesSinceToken = 0;
            emitted++;
        }
    }

    private void finish() {
        Finished best = finished.get(0);
        for (Finished f : finished) {
            if (f.norm > best.norm) {
                best = f;
            }
        }
        emitUpTo(best.tokens, best.tokens.length);
        result = new DecodeResult(best.tokens, best.norm, best.eos, step, cycles);
        done = true;
        for (Hyp h : live) {
            spare.push(h.state);
        }
        live = List.of();
        feedStates = List.of();
    }

    @Override
    public boolean done() {
        return done;
    }

    @Override
    public DecodeResult result() {
        return result;
    }

    @Override
    public void close() {
        for (Hyp h : live) {
            h.state.close();
        }
        live = List.of();
        while (!spare.isEmpty()) {
            spare.pop().close();
        }
    }
}
