package org.shiftformer.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.ClientOptions;
import org.shiftformer.client.ClientTls;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationListener;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;

/**
 * The streaming server against local decoding, side by side in one JVM: a {@link ShiftformerServer} on
 * 127.0.0.1 serving a random model of a preset (default {@code small}) on the sim backend, one
 * {@link ShiftformerClient} connection, and the same model loaded a second time for local decoding.
 * Every request is greedy over a 24-token random source and generates exactly 24 tokens (EOS is masked,
 * as in {@link DecodeBenchmark}, so every request does the same work); the setup checks that the server
 * streams exactly the tokens local decoding gives.
 *
 * <p>Configurations, each timed as "run it again until at least {@code --trial-ms} have passed":
 * <ul>
 *   <li>{@code local/S}: {@link Decoding#decode} of S sources as one batch, in process;</li>
 *   <li>{@code server/S}: S requests in flight at once on the connection (streamed Token frames,
 *       continuous batching on the server);</li>
 *   <li>{@code serial/S}: the same S requests one at a time (the next is sent when the previous is done);</li>
 *   <li>{@code tls/S}: as {@code server/S}, on a second server of the same model that speaks TLS 1.3 (JDK
 *       provider, a P-256 certificate made at start-up), through a client that verifies it: the cost of TLS
 *       is {@code tls/S - server/S}, measured in the same rounds.</li>
 * </ul>
 * After a warm-up that runs every configuration, the configurations run <em>interleaved</em>, one trial
 * each per round, and the report gives medians over the rounds, plus the per-token server overhead as
 * the median of the per-round differences {@code server/S - local/S} (microseconds per token), in wall
 * clock time and in CPU time of the whole JVM (server, client and decoding threads; on a shared machine
 * the CPU figure is the steadier one, as it does not count time spent waiting for a core).
 *
 * <p>Why a plain main and not JMH: JMH measures one parameter combination after another, and on these
 * machines a JVM's speed drifts by +-25% over minutes (PERF.md), which swamps a difference of a few
 * microseconds on a token that costs a few hundred; interleaving the configurations round by round and
 * differencing within a round cancels that drift. The shape (up to 64 asynchronous streams completing
 * on the client's event loop) does not map to JMH's threads either.
 *
 * <pre>
 * ./shiftformer bench ServerBenchmark [--preset small] [--streams 1,8,32,64] [--rounds 7]
 *     [--warmup-s 15] [--trial-ms 400] [--tokens 24] [--backend sim] [--backend-option threads=2] [--only server]
 * </pre>
 */
public final class ServerBenchmark {
    /** Source tokens per request (EOS included). */
    static final int LENGTH = 24;

    private final LoadedModel local;
    private final ShiftformerServer server;
    private final ShiftformerClient client;
    /** A client of the TLS server (same model and settings). */
    private final ShiftformerClient tlsClient;
    private final List<int[]> sources;
    /** Output tokens per request (EOS is masked, so every request generates exactly this many). */
    private final int outTokens;
    private final DecodeParams params;
    /** Modelled device cycles of the server's requests (Done.device_cycles), summed per trial. */
    private long cycles;

    private ServerBenchmark(LoadedModel local, ShiftformerServer server, ShiftformerClient client,
                            ShiftformerClient tlsClient, List<int[]> sources, int outTokens) {
        this.outTokens = outTokens;
        this.params = DecodeParams.greedy(outTokens);
        this.local = local;
        this.server = server;
        this.client = client;
        this.tlsClient = tlsClient;
        this.sources = sources;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("preset", "small", "streams", "1,8,32,64", "rounds", "7",
                "warmup-s", "15", "trial-ms", "400", "backend", "sim", "tokens", Integer.toString(LENGTH), "only", "all"));
        Map<String, String> backendOptions = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("usage: ServerBenchmark [--preset P] [--streams 1,8,32,64] [--rounds N]"
                        + " [--warmup-s S] [--trial-ms MS] [--tokens N] [--backend NAME] [--backend-option KEY=VALUE]"
                        + " [--only all|local|server|serial|tls]; got '"
                        + args[i] + "'");
            }
            String key = args[i].substring(2);
            String value = args[++i];
            if (key.equals("backend-option")) {
                String[] kv = value.split("=", 2);
                backendOptions.put(kv[0], kv.length > 1 ? kv[1] : "");
            } else if (!opt.containsKey(key)) {
                throw new IllegalArgumentException("unknown option --" + key + "; known: " + opt.keySet()
                        + " and backend-option");
            } else {
                opt.put(key, value);
            }
        }
        int[] streams = Arrays.stream(opt.get("streams").split(",")).mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        int rounds = Integer.parseInt(opt.get("rounds"));
        long warmupNs = Long.parseLong(opt.get("warmup-s")) * 1_000_000_000L;
        long trialNs = Long.parseLong(opt.get("trial-ms")) * 1_000_000L;
        int maxStreams = Arrays.stream(streams).max().orElseThrow();
        int outTokens = Integer.parseInt(opt.get("tokens"));

        ModelConfig cfg = RandomModels.preset(opt.get("preset"), 1000);
        Path file = Files.createTempFile("shiftformer-server-bench", ".itm");
        RandomArtifacts.write(cfg, 1, file, "ServerBenchmark");
        Artifact artifact = ArtifactReader.read(file);
        SplittableRandom rnd = new SplittableRandom(2);
        List<int[]> sources = new ArrayList<>();
        for (int s = 0; s < maxStreams; s++) {
            sources.add(rnd.ints(LENGTH - 1, 3, cfg.vocabSize()).toArray()); // + the EOS = 24 source tokens
        }
        ServerConfig serverConfig = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1")
                .maxBatchRows(Math.max(ServerConfig.MAX_BATCH_ROWS_DEFAULT, maxStreams)).conclude();
        Path pki = Files.createTempDirectory("shiftformer-server-bench-tls");
        Path[] tlsFiles = BenchPki.write(pki);
        ServerConfig tlsConfig = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1")
                .maxBatchRows(Math.max(ServerConfig.MAX_BATCH_ROWS_DEFAULT, maxStreams)).tls(tlsFiles[1], tlsFiles[2])
                .conclude();
        try (Backend backend = Backends.select(opt.get("backend")).open(backendOptions);
             LoadedModel local = new NoEosModel(backend.load(artifact.model()));
             ShiftformerServer server = ShiftformerServer.start(serverConfig,
                     ServedModel.of(artifact, new NoEosModel(backend.load(artifact.model())), backend.identity()));
             ShiftformerClient client = ShiftformerClient.connect("127.0.0.1", server.localAddress().getPort());
             ShiftformerServer tlsServer = ShiftformerServer.start(tlsConfig,
                     ServedModel.of(artifact, new NoEosModel(backend.load(artifact.model())), backend.identity()));
             ShiftformerClient tlsClient = ShiftformerClient.connect("127.0.0.1", tlsServer.localAddress().getPort(),
                     ClientOptions.builder().tls(ClientTls.trusting(tlsFiles[0])).build())) {
            System.out.printf("ServerBenchmark: preset %s (d_model %d, %d+%d layers, vocab %d), backend %s, greedy, "
                            + "%d source tokens -> %d output tokens per request; server transport %s, client %s; "
                            + "%d rounds after %d s warm-up, trials of >= %d ms%n",
                    opt.get("preset"), cfg.dModel(), cfg.encoderLayers(), cfg.decoderLayers(), cfg.vocabSize(),
                    backend.identity(), LENGTH, outTokens, server.transport(), client.transport(), rounds,
                    warmupNs / 1_000_000_000L, trialNs / 1_000_000L);
            ServerBenchmark b = new ServerBenchmark(local, server, client, tlsClient, sources, outTokens);
            b.checkBitExact(maxStreams, client);
            b.checkBitExact(maxStreams, tlsClient);
            b.only = opt.get("only");
            b.run(streams, rounds, warmupNs, trialNs);
            System.out.printf("server: %s%n", server.stats());
        } finally {
            Files.deleteIfExists(file);
            for (Path f : tlsFiles) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(pki);
        }
    }

    /** The server streams exactly the tokens of local decoding (and every request gets all 24). */
    private void checkBitExact(int n, ShiftformerClient client) {
        List<DecodeResult> expected = Decoding.decode(local, withEos(n), params, TokenListener.NONE);
        List<CompletableFuture<Translation>> got = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            got.add(client.translate(request(i)));
        }
        for (int i = 0; i < n; i++) {
            int[] tokens = got.get(i).join().tokens();
            if (!Arrays.equals(expected.get(i).tokens(), tokens) || tokens.length != outTokens) {
                throw new IllegalStateException("request " + i + ": the server streamed " + Arrays.toString(tokens)
                        + ", local decoding gives " + Arrays.toString(expected.get(i).tokens()));
            }
        }
    }

    private List<int[]> withEos(int n) {
        List<int[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int[] s = Arrays.copyOf(sources.get(i), LENGTH);
            s[LENGTH - 1] = local.config().eosId();
            out.add(s);
        }
        return out;
    }

    private TranslationRequest request(int i) {
        return TranslationRequest.tokens(sources.get(i)).maxNewTokens(outTokens);
    }

    // ---- the three configurations; each returns the tokens it produced ----------------------------------

    private long local(int s) {
        List<DecodeResult> r = Decoding.decode(local, withEos(s), params, TokenListener.NONE);
        long tokens = 0;
        for (DecodeResult d : r) {
            tokens += d.tokens().length;
        }
        return tokens;
    }

    private static final TranslationListener COUNT_ONLY = token -> { };

    private long server(int s) {
        return inFlight(client, s);
    }

    private long tls(int s) {
        return inFlight(tlsClient, s);
    }

    private long inFlight(ShiftformerClient client, int s) {
        List<CompletableFuture<Translation>> fs = new ArrayList<>(s);
        for (int i = 0; i < s; i++) {
            fs.add(client.translate(request(i), COUNT_ONLY)); // streamed: one Token frame per token
        }
        long tokens = 0;
        for (CompletableFuture<Translation> f : fs) {
            Translation t = f.join();
            tokens += t.tokens().length;
            cycles += t.deviceCycles();
        }
        return tokens;
    }

    private long serial(int s) {
        long tokens = 0;
        for (int i = 0; i < s; i++) {
            Translation t = client.translate(request(i), COUNT_ONLY).join();
            tokens += t.tokens().length;
            cycles += t.deviceCycles();
        }
        return tokens;
    }

    /** Which configurations run: all, or only local, server or serial (to profile one of them, e.g. with perf). */
    private String only = "all";
    private long trialTokens;
    /** CPU time of the whole JVM (server, client and decoding threads) per token in the last trial. */
    private double trialCpuNsPerToken;

    private interface Config {
        long run(int streams);
    }

    private static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    /** Nanoseconds per token of one trial: repeats {@code c} until {@code trialNs} have passed. */
    private double trial(Config c, int s, long trialNs) {
        long tokens = 0;
        long cpu0 = OS.getProcessCpuTime();
        long t0 = System.nanoTime();
        long elapsed;
        do {
            tokens += c.run(s);
            elapsed = System.nanoTime() - t0;
        } while (elapsed < trialNs);
        trialTokens = tokens;
        trialCpuNsPerToken = (double) (OS.getProcessCpuTime() - cpu0) / tokens;
        return (double) elapsed / tokens;
    }

    private void run(int[] streams, int rounds, long warmupNs, long trialNs) {
        Map<String, Config> configs = new LinkedHashMap<>();
        for (int s : streams) {
            configs.put("local/" + s, this::local);
            configs.put("server/" + s, this::server);
            configs.put("tls/" + s, this::tls);
            if (s > 1) {
                configs.put("serial/" + s, this::serial);
            }
        }
        if (!only.equals("all")) {
            configs.keySet().removeIf(k -> !k.startsWith(only + "/"));
            if (configs.isEmpty()) {
                throw new IllegalArgumentException("--only " + only + ": no such configuration (all, local, server, serial, "
                        + "tls)");
            }
            profileOnly(configs, streams, rounds, warmupNs, trialNs);
            return;
        }
        long warmEnd = System.nanoTime() + warmupNs;
        do {
            for (Map.Entry<String, Config> e : configs.entrySet()) {
                trial(e.getValue(), streamsOf(e.getKey()), Math.min(trialNs, 200_000_000L));
            }
        } while (System.nanoTime() < warmEnd);

        Map<String, double[]> nsPerToken = new LinkedHashMap<>();
        Map<String, double[]> cpuNsPerToken = new LinkedHashMap<>();
        Map<String, long[]> stepsAndRows = new LinkedHashMap<>();
        Map<String, long[]> cyclesAndTokens = new LinkedHashMap<>();
        configs.keySet().forEach(k -> {
            nsPerToken.put(k, new double[rounds]);
            cpuNsPerToken.put(k, new double[rounds]);
            stepsAndRows.put(k, new long[2]);
            cyclesAndTokens.put(k, new long[2]);
        });
        for (int r = 0; r < rounds; r++) {
            for (Map.Entry<String, Config> e : configs.entrySet()) {
                long steps = server.stats().steps();
                long rows = server.stats().stepRows();
                cycles = 0;
                nsPerToken.get(e.getKey())[r] = trial(e.getValue(), streamsOf(e.getKey()), trialNs);
                cpuNsPerToken.get(e.getKey())[r] = trialCpuNsPerToken;
                cyclesAndTokens.get(e.getKey())[0] += cycles;
                cyclesAndTokens.get(e.getKey())[1] += trialTokens;
                stepsAndRows.get(e.getKey())[0] += server.stats().steps() - steps;
                stepsAndRows.get(e.getKey())[1] += server.stats().stepRows() - rows;
            }
            System.out.printf("  round %d/%d done%n", r + 1, rounds);
        }

        System.out.printf("%n(a) per-token server overhead: server/S - local/S in us per token, wall clock and CPU time of "
                + "the JVM (median of %d paired rounds, min..max)%n", rounds);
        System.out.printf("%-8s %12s %12s %22s %12s %12s %22s%n", "streams", "local wall", "server wall", "overhead wall",
                "local cpu", "server cpu", "overhead cpu");
        for (int s : streams) {
            double[] l = nsPerToken.get("local/" + s);
            double[] v = nsPerToken.get("server/" + s);
            double[] d = diff(v, l);
            double[] lc = cpuNsPerToken.get("local/" + s);
            double[] vc = cpuNsPerToken.get("server/" + s);
            double[] dc = diff(vc, lc);
            System.out.printf("%-8d %12.1f %12.1f %8.1f (%5.1f..%5.1f) %12.1f %12.1f %8.1f (%5.1f..%5.1f)%n", s,
                    median(l) / 1e3, median(v) / 1e3, median(d) / 1e3, min(d) / 1e3, max(d) / 1e3,
                    median(lc) / 1e3, median(vc) / 1e3, median(dc) / 1e3, min(dc) / 1e3, max(dc) / 1e3);
        }
        System.out.printf("%n(b) aggregate tokens/s through the server: S concurrent streams (continuous batching) vs "
                + "the same S requests one at a time (median of %d rounds)%n", rounds);
        System.out.printf("%-8s %14s %14s %10s %14s %16s%n", "streams", "batched tok/s", "serial tok/s", "speed-up",
                "local tok/s", "rows/step");
        for (int s : streams) {
            double batched = 1e9 / median(nsPerToken.get("server/" + s));
            double serial = 1e9 / median(nsPerToken.get(s > 1 ? "serial/" + s : "server/" + s));
            double local = 1e9 / median(nsPerToken.get("local/" + s));
            long[] sr = stepsAndRows.get("server/" + s);
            System.out.printf("%-8d %14.0f %14.0f %9.2fx %14.0f %16.1f%n", s, batched, serial, batched / serial, local,
                    (double) sr[1] / Math.max(1, sr[0]));
        }
        System.out.println("(rows/step: mean decoder rows per server step while server/S ran, S at most)");
        System.out.printf("%n(d) the cost of TLS: tls/S (TLS 1.3 connection) vs server/S (plaintext), same server settings "
                + "and model (median of %d paired rounds, min..max)%n", rounds);
        System.out.printf("%-8s %14s %14s %10s %22s %22s%n", "streams", "plain tok/s", "tls tok/s", "tls/plain",
                "extra wall us/token", "extra cpu us/token");
        for (int s : streams) {
            double[] v = nsPerToken.get("server/" + s);
            double[] t = nsPerToken.get("tls/" + s);
            double[] d = diff(t, v);
            double[] dc = diff(cpuNsPerToken.get("tls/" + s), cpuNsPerToken.get("server/" + s));
            System.out.printf("%-8d %14.0f %14.0f %9.3fx %8.1f (%5.1f..%5.1f) %8.1f (%5.1f..%5.1f)%n", s,
                    1e9 / median(v), 1e9 / median(t), median(v) / median(t), median(d) / 1e3, min(d) / 1e3, max(d) / 1e3,
                    median(dc) / 1e3, min(dc) / 1e3, max(dc) / 1e3);
        }
        System.out.printf("%n(c) the same on the modelled device (the sim backend's datapath cost model): cycles per token%n");
        System.out.printf("%-8s %16s %16s %10s%n", "streams", "batched cyc/tok", "serial cyc/tok", "speed-up");
        for (int s : streams) {
            double batched = perToken(cyclesAndTokens.get("server/" + s));
            double serial = perToken(cyclesAndTokens.get(s > 1 ? "serial/" + s : "server/" + s));
            System.out.printf("%-8d %16.0f %16.0f %9.2fx%n", s, batched, serial, serial / batched);
        }
    }

    /**
     * {@code --only}: runs the chosen configuration alone (after its warm-up, which prints a line to start a
     * profiler on, e.g. {@code perf stat --per-thread -p PID}) and prints its medians.
     */
    private void profileOnly(Map<String, Config> configs, int[] streams, int rounds, long warmupNs, long trialNs) {
        long warmEnd = System.nanoTime() + warmupNs;
        do {
            for (Map.Entry<String, Config> e : configs.entrySet()) {
                trial(e.getValue(), streamsOf(e.getKey()), Math.min(trialNs, 200_000_000L));
            }
        } while (System.nanoTime() < warmEnd);
        System.out.printf("warm: measuring %s in pid %d%n", configs.keySet(), ProcessHandle.current().pid());
        for (Map.Entry<String, Config> e : configs.entrySet()) {
            double[] wall = new double[rounds];
            double[] cpu = new double[rounds];
            long tokens = 0;
            for (int r = 0; r < rounds; r++) {
                wall[r] = trial(e.getValue(), streamsOf(e.getKey()), trialNs);
                cpu[r] = trialCpuNsPerToken;
                tokens += trialTokens;
            }
            System.out.printf("%-10s %10.1f us/token wall %10.1f us/token cpu (medians of %d trials, %d tokens)%n",
                    e.getKey(), median(wall) / 1e3, median(cpu) / 1e3, rounds, tokens);
        }
    }

    private static double perToken(long[] cyclesAndTokens) {
        return (double) cyclesAndTokens[0] / Math.max(1, cyclesAndTokens[1]);
    }

    private static int streamsOf(String key) {
        return Integer.parseInt(key.substring(key.indexOf('/') + 1));
    }

    private static double[] diff(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    /** The median (the mean of the middle two for an even count); also ShadowBenchmark's. */
    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double min(double[] a) {
        return Arrays.stream(a).min().orElse(Double.NaN);
    }

    private static double max(double[] a) {
        return Arrays.stream(a).max().orElse(Double.NaN);
    }

}
