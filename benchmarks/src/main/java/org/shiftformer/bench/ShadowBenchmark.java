package org.shiftformer.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.ShadowModel;

/**
 * What shadow execution costs ({@code serve --shadow}): greedy decoding of S sources as one batch on the
 * serving backend alone ({@code plain/S}), with every sequence shadowed on a second backend
 * ({@code shadow/S}), and with a tenth of them ({@code shadow10/S}), interleaved round by round as in
 * {@link ServerBenchmark} (a plain main, for the same reason), reporting medians and the ratio to plain.
 * EOS is masked on both sides, so every request decodes exactly {@code --tokens} tokens.
 *
 * <pre>
 * ./shiftformer bench ShadowBenchmark [--preset small] [--streams 1,8,32] [--rounds 7] [--warmup-s 10]
 *     [--trial-ms 400] [--tokens 24] [--backend sim] [--shadow sim]
 * </pre>
 */
public final class ShadowBenchmark {
    private ShadowBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("preset", "small", "streams", "1,8,32", "rounds", "7",
                "warmup-s", "10", "trial-ms", "400", "tokens", "24", "backend", "sim", "shadow", "sim"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            String key = args[i].replaceFirst("^--", "");
            if (!opt.containsKey(key)) {
                throw new IllegalArgumentException("unknown option " + args[i] + "; known: " + opt.keySet());
            }
            opt.put(key, args[i + 1]);
        }
        int[] streams = Arrays.stream(opt.get("streams").split(",")).mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        int rounds = Integer.parseInt(opt.get("rounds"));
        long trialNs = Long.parseLong(opt.get("trial-ms")) * 1_000_000L;
        int tokens = Integer.parseInt(opt.get("tokens"));
        ModelConfig cfg = RandomModels.preset(opt.get("preset"), 1000);
        QuantizedModel weights = RandomModels.generate(cfg, 1);
        int max = Arrays.stream(streams).max().orElseThrow();
        SplittableRandom rnd = new SplittableRandom(2);
        List<int[]> sources = new ArrayList<>();
        for (int s = 0; s < max; s++) {
            int[] src = rnd.ints(24, 3, cfg.vocabSize()).toArray();
            src[23] = cfg.eosId();
            sources.add(src);
        }
        DecodeParams params = DecodeParams.greedy(tokens);
        try (Backend primary = Backends.select(opt.get("backend")).open(Map.of());
             Backend shadow = Backends.select(opt.get("shadow")).open(Map.of());
             LoadedModel plain = new NoEosModel(primary.load(weights));
             LoadedModel all = new ShadowModel(new NoEosModel(primary.load(weights)), opt.get("backend"),
                     new NoEosModel(shadow.load(weights)), opt.get("shadow"), 1.0, ShadowModel.OnMismatch.FAIL, 1,
                     new ShadowModel.Counters());
             LoadedModel tenth = new ShadowModel(new NoEosModel(primary.load(weights)), opt.get("backend"),
                     new NoEosModel(shadow.load(weights)), opt.get("shadow"), 0.1, ShadowModel.OnMismatch.FAIL, 1,
                     new ShadowModel.Counters())) {
            Map<String, LoadedModel> models = new LinkedHashMap<>();
            models.put("plain", plain);
            models.put("shadow", all);
            models.put("shadow10", tenth);
            System.out.printf("ShadowBenchmark: preset %s, serving backend %s, shadow %s, greedy, %d tokens per request;"
                    + " %d rounds, trials of >= %d ms%n", opt.get("preset"), primary.identity(), shadow.identity(),
                    tokens, rounds, trialNs / 1_000_000);
            long warmEnd = System.nanoTime() + Long.parseLong(opt.get("warmup-s")) * 1_000_000_000L;
            while (System.nanoTime() < warmEnd) {
                for (LoadedModel m : models.values()) {
                    trial(m, sources.subList(0, streams[0]), params, 50_000_000L);
                }
            }
            Map<String, double[]> nsPerToken = new LinkedHashMap<>();
            for (int s : streams) {
                for (String k : models.keySet()) {
                    nsPerToken.put(k + "/" + s, new double[rounds]);
                }
            }
            for (int r = 0; r < rounds; r++) {
                for (int s : streams) {
                    for (Map.Entry<String, LoadedModel> e : models.entrySet()) {
                        nsPerToken.get(e.getKey() + "/" + s)[r] = trial(e.getValue(), sources.subList(0, s), params, trialNs);
                    }
                }
                System.out.printf("  round %d/%d done%n", r + 1, rounds);
            }
            System.out.printf("%n%-8s %14s %14s %14s %14s %14s%n", "streams", "plain tok/s", "shadow tok/s", "shadow/plain",
                    "10% tok/s", "10%/plain");
            for (int s : streams) {
                double p = 1e9 / ServerBenchmark.median(nsPerToken.get("plain/" + s));
                double a = 1e9 / ServerBenchmark.median(nsPerToken.get("shadow/" + s));
                double t = 1e9 / ServerBenchmark.median(nsPerToken.get("shadow10/" + s));
                System.out.printf("%-8d %14.0f %14.0f %13.3fx %14.0f %13.3fx%n", s, p, a, a / p, t, t / p);
            }
            ShadowModel.Counters c = ((ShadowModel) all).counters();
            System.out.printf("shadowed rows compared: %d, mismatches: %d%n", c.rows.sum(), c.mismatches.sum());
        }
    }

    /** Nanoseconds per token of repeated batched decodes of {@code batch} for at least {@code ns}. */
    private static double trial(LoadedModel m, List<int[]> batch, DecodeParams params, long ns) {
        long tokens = 0;
        long t0 = System.nanoTime();
        long elapsed;
        do {
            for (var r : Decoding.decode(m, batch, params, TokenListener.NONE)) {
                tokens += r.tokens().length;
            }
            elapsed = System.nanoTime() - t0;
        } while (elapsed < ns);
        return (double) elapsed / tokens;
    }
}
