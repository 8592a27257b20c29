package org.shiftformer.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TokenEvent;
import org.shiftformer.client.TokenIterator;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactInspector;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeParams;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.engine.Translator;
import org.shiftformer.core.protocol.Message;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ./shiftformer <command>}. Errors print {@code error: [CODE] message} and exit with status 2. */
@Command(name = "shiftformer", mixinStandardHelpOptions = true, version = "shiftformer 0.1.0",
        description = "Integer-only Transformer translation runtime: artifacts, backends and decoding.",
        subcommands = {Main.Random.class, Main.Inspect.class, Main.Translate.class, Main.ListBackends.class,
            Demo.class, Main.Serve.class, TrainCommands.Train.class, TrainCommands.Eval.class})
public final class Main {
    /** Where commands print; swapped by tests. */
    static PrintWriter OUT = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
    static PrintWriter ERR = new PrintWriter(System.err, true, StandardCharsets.UTF_8);

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(OUT);
        cl.setErr(ERR);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (ex instanceof ShiftformerException se) {
                cmd.getErr().println("error: [" + se.code() + "] " + se.getMessage());
                return 2;
            }
            throw ex;
        });
        return cl.execute(args);
    }

    @Command(name = "random", mixinStandardHelpOptions = true,
            description = "Write a random-weight artifact (for tests and benchmarks; its output is not a translation).")
    static final class Random implements Callable<Integer> {
        @Option(names = "--preset", defaultValue = "small", description = "tiny, small or base (default ${DEFAULT-VALUE})")
        String preset;
        @Option(names = {"-o", "--output"}, required = true, description = "artifact file to write")
        Path output;
        @Option(names = "--vocab", description = "vocabulary size (>= 259; default: tiny 512, small 1000, base 8000)")
        Integer vocab;
        @Option(names = "--seed", defaultValue = "1")
        long seed;
        @Option(names = "--d-model")
        Integer dModel;
        @Option(names = "--heads")
        Integer heads;
        @Option(names = "--d-ff")
        Integer dFf;
        @Option(names = "--encoder-layers")
        Integer encoderLayers;
        @Option(names = "--decoder-layers")
        Integer decoderLayers;
        @Option(names = "--max-positions")
        Integer maxPositions;
        @Option(names = "--style", defaultValue = "realistic", paramLabel = "realistic|peaked",
                description = "realistic (default): the decoder's output calibrated on random inputs, so outputs vary "
                        + "with the input and mostly end with EOS, and the top two logits of a step are a few hundred "
                        + "apart; peaked: the uncalibrated generator, whose output mostly repeats one token that wins "
                        + "by about 18,000")
        String style;

        @Override
        public Integer call() {
            int v = vocab != null ? vocab : switch (preset) {
                case "tiny" -> 512;
                case "base" -> 8000;
                default -> 1000;
            };
            ModelConfig p = RandomModels.preset(preset, v);
            ModelConfig cfg = new ModelConfig(or(dModel, p.dModel()), or(heads, p.heads()), or(dFf, p.dFf()),
                    or(encoderLayers, p.encoderLayers()), or(decoderLayers, p.decoderLayers()), v,
                    or(maxPositions, p.maxPositions()), p.embedScaleLog2(), p.padId(), p.bosId(), p.eosId()).validate();
            RandomModels.Style st = switch (style) {
                case "realistic" -> RandomModels.Style.REALISTIC;
                case "peaked" -> RandomModels.Style.PEAKED;
                default -> throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "--style '" + style + "' must be realistic or peaked");
            };
            long t0 = System.nanoTime();
            String sha = RandomArtifacts.write(cfg, seed, st, output,
                    "shiftformer random --preset " + preset + " --seed " + seed + " --style " + style);
            OUT.printf("wrote %s (%s, d_model %d, %d heads, d_ff %d, %d+%d layers, vocab %d) in %d ms%nsha256 %s%n",
                    output, preset, cfg.dModel(), cfg.heads(), cfg.dFf(), cfg.encoderLayers(), cfg.decoderLayers(),
                    cfg.vocabSize(), (System.nanoTime() - t0) / 1_000_000, sha);
            return 0;
        }

        private static int or(Integer v, int d) {
            return v != null ? v : d;
        }
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Verify an artifact and print its header, tensors, exponents, provenance and checksum.")
    static final class Inspect implements Callable<Integer> {
        @Parameters(paramLabel = "FILE")
        Path file;

        @Override
        public Integer call() {
            OUT.print(ArtifactInspector.inspect(file));
            OUT.flush();
            return 0;
        }
    }

    @Command(name = "backends", mixinStandardHelpOptions = true, description = "List installed backends.")
    static final class ListBackends implements Callable<Integer> {
        @Override
        public Integer call() {
            for (BackendProvider p : Backends.installed()) {
                Availability a = p.availability();
                OUT.printf("%-10s rank %-4d %-12s %s%n", p.name(), p.rank(), a.available() ? "available" : "unavailable",
                        a.available() ? p.capabilities().description() : a.reason());
            }
            return 0;
        }
    }

    @Command(name = "translate", mixinStandardHelpOptions = true,
            description = "Translate TEXT locally (--model) or on a server (--server HOST:PORT), printing tokens as they "
                    + "are produced.")
    static final class Translate implements Callable<Integer> {
        /** Where to decode: exactly one of a local artifact and a server. */
        static final class Target {
            @Option(names = "--model", required = true, description = "artifact file: decode locally")
            Path model;
            @Option(names = "--server", required = true, paramLabel = "HOST:PORT",
                    description = "decode on a shiftformer server (./shiftformer serve) through the Java client")
            String server;
        }

        @ArgGroup(exclusive = true, multiplicity = "1")
        Target target;
        @Option(names = "--backend", defaultValue = "sim", description = "backend name, local only (default ${DEFAULT-VALUE})")
        String backend;
        @Option(names = "--backend-option", description = "backend setting KEY=VALUE, local only (repeatable)")
        Map<String, String> backendOptions = new LinkedHashMap<>();
        @Option(names = "--beam", defaultValue = "1", description = "beam width; 1 is greedy")
        int beam;
        @Option(names = "--max-new-tokens", defaultValue = "64")
        int maxNew;
        @Option(names = "--length-penalty", defaultValue = "0.6", description = "GNMT alpha for beam search")
        double alpha;
        @Option(names = "--deadline-ms", defaultValue = "0", description = "with --server: the server's deadline per text; 0 for none")
        long deadlineMs;
        @Option(names = "--tokens", description = "print one line per token (id, piece, modelled cycles)")
        boolean showTokens;
        @Parameters(paramLabel = "TEXT", arity = "1..*")
        List<String> texts;

        @Override
        public Integer call() {
            if (target.server != null) {
                return remote();
            }
            Artifact artifact = ArtifactReader.read(target.model);
            BackendProvider provider = Backends.select(backend);
            ByteBpeTokenizer tok = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
            int maxNewTokens = Math.min(maxNew, artifact.model().config().maxPositions() - 1);
            DecodeParams params = new DecodeParams(beam, maxNewTokens, alpha);
            try (Backend b = provider.open(backendOptions); LoadedModel m = b.load(artifact.model())) {
                Translator tr = new Translator(m, tok);
                for (String text : texts) {
                    OUT.println("> " + text);
                    long t0 = System.nanoTime();
                    long[] first = {0};
                    List<Translator.Translation> r = tr.translate(List.of(text), params, (seq, token, piece, cycles) -> {
                        if (first[0] == 0) {
                            first[0] = System.nanoTime();
                        }
                        if (showTokens) {
                            OUT.printf("  token %5d %-16s %,d cycles%n", token, token < 0 ? "" : tok.pieceForDisplay(token), cycles);
                        } else {
                            OUT.print(printable(piece));
                            OUT.flush();
                        }
                    });
                    long t1 = System.nanoTime();
                    Translator.Translation t = r.get(0);
                    OUT.printf("%n  [%d tokens, %s, first token %.1f ms, total %.1f ms, modelled device %,d cycles; %s; %s; model sha256 %s]%n",
                            t.tokens().length, t.result().finishedByEos() ? "eos" : "max length",
                            first[0] == 0 ? 0.0 : (first[0] - t0) / 1e6, (t1 - t0) / 1e6, t.result().deviceCycles(),
                            b.identity(), params, artifact.sha256Hex().substring(0, 16));
                }
            }
            return 0;
        }

        /** The same output as local decoding, through {@link ShiftformerClient} (one request per text, in order). */
        private int remote() {
            int colon = target.server.lastIndexOf(':');
            int port = -1;
            if (colon > 0) {
                try {
                    port = Integer.parseInt(target.server.substring(colon + 1));
                } catch (NumberFormatException e) {
                    port = -1;
                }
            }
            if (port < 1 || port > 65535) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "--server '" + target.server + "' must be HOST:PORT with a port in [1, 65535]");
            }
            String host = target.server.substring(0, colon).replaceAll("^\\[|\\]$", "");
            try (ShiftformerClient client = ShiftformerClient.connect(host, port)) {
                int maxNewTokens = Math.min(maxNew, client.modelInfo().config().maxPositions() - 1);
                for (String text : texts) {
                    TranslationRequest request = TranslationRequest.text(text).beam(beam).maxNewTokens(maxNewTokens)
                            .deadline(Duration.ofMillis(deadlineMs));
                    if (beam > 1) {
                        request = request.lengthPenalty(alpha);
                    }
                    OUT.println("> " + text);
                    long t0 = System.nanoTime();
                    long[] first = {0};
                    StringBuilder streamed = new StringBuilder();
                    Translation t;
                    try (TokenIterator it = client.translateBlocking(request)) {
                        while (it.hasNext()) {
                            TokenEvent e = it.next();
                            streamed.append(e.text());
                            if (first[0] == 0) {
                                first[0] = System.nanoTime();
                            }
                            if (showTokens) {
                                OUT.printf("  token %5d %-16s %,d cycles%n", e.token(), printable(e.text()), e.deviceCycles());
                            } else {
                                OUT.print(printable(e.text()));
                                OUT.flush();
                            }
                        }
                        t = it.result().join();
                    }
                    long t1 = System.nanoTime();
                    // What the Token frames did not deliver (Done's text_tail: a trailing incomplete character).
                    String tail = t.text().startsWith(streamed.toString()) ? t.text().substring(streamed.length()) : "";
                    if (!tail.isEmpty()) {
                        if (showTokens) {
                            OUT.printf("  token %5d %-16s %,d cycles%n", -1, "", 0);
                        } else {
                            OUT.print(printable(tail));
                        }
                    }
                    Message.Params p = t.params();
                    OUT.printf("%n  [%d tokens, %s, first token %.1f ms, total %.1f ms, modelled device %,d cycles; %s; %s; model sha256 %s; server %s]%n",
                            t.tokens().length, t.finishedByEos() ? "eos" : "max length",
                            first[0] == 0 ? 0.0 : (first[0] - t0) / 1e6, (t1 - t0) / 1e6, t.deviceCycles(), t.backend(),
                            p == null ? "?" : new DecodeParams(p.beamWidth(), p.maxNewTokens(), p.alphaQ8() / 256.0),
                            t.modelSha256().substring(0, Math.min(16, t.modelSha256().length())), target.server);
                }
            }
            return 0;
        }
    }

    @Command(name = "serve", mixinStandardHelpOptions = true,
            description = "Serve a model over the streaming protocol (PROTOCOL.md) until SIGINT or SIGTERM, with an "
                    + "admin HTTP port (GET /metrics, /health/live, /health/ready; POST /admin/reload[?path=FILE]); "
                    + "other settings come from the shiftformer.server.* system properties (ServerConfig).")
    static final class Serve implements Callable<Integer> {
        @Option(names = "--model", required = true, description = "artifact file")
        Path model;
        @Option(names = "--backend", defaultValue = "sim", description = "backend name (default ${DEFAULT-VALUE})")
        String backend;
        @Option(names = "--backend-option", description = "backend setting KEY=VALUE (repeatable)")
        Map<String, String> backendOptions = new LinkedHashMap<>();
        @Option(names = "--port", description = "TCP port; 0 picks a free one (default " + ServerConfig.PORT_DEFAULT + ")")
        Integer port;
        @Option(names = "--bind", description = "address to bind, for both ports (default "
                + ServerConfig.BIND_ADDRESS_DEFAULT + ")")
        String bind;
        @Option(names = "--admin-port", description = "admin HTTP port; 0 picks a free one, -1 disables it (default "
                + ServerConfig.ADMIN_PORT_DEFAULT + ")")
        Integer adminPort;
        @Option(names = "--fallback", description = "when the backend cannot run: none (fail start-up), next (the next "
                + "available backend by rank) or a comma-separated list of backend names (default "
                + ServerConfig.FALLBACK_DEFAULT + ")")
        String fallback;

        @Override
        public Integer call() throws InterruptedException {
            ServerConfig.Builder cfg = ServerConfig.builder();
            if (port != null) {
                cfg.port(port);
            }
            if (bind != null) {
                cfg.bindAddress(bind);
            }
            if (adminPort != null) {
                cfg.adminPort(adminPort);
            }
            if (fallback != null) {
                cfg.fallback(fallback);
            }
            ServerConfig config = cfg.conclude();
            org.shiftformer.core.server.FallbackPolicy.Choice choice = config.fallback().open(backend, backendOptions);
            if (choice.isFallback()) {
                ERR.println("warning: " + choice.fallback());
            }
            Backend b = choice.backend();
            ShiftformerServer server;
            try {
                org.shiftformer.core.server.ModelLoader loader = new org.shiftformer.core.server.ModelLoader(choice, model);
                server = ShiftformerServer.start(config, loader.load(model), loader, null);
            } catch (RuntimeException e) {
                b.close();
                throw e;
            }
            CountDownLatch stopped = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                ERR.println("shutting down: draining live streams for up to " + config.drainTimeoutMs() + " ms");
                server.close();
                b.close();
                stopped.countDown();
            }, "shiftformer-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            ServedModel served = server.served();
            OUT.printf("listening on %s:%d (%s, backend %s%s, model sha256 %s)%n", server.localAddress().getHostString(),
                    server.localAddress().getPort(), server.transport(), served.backend(),
                    choice.isFallback() ? ", a fallback for " + choice.requested() : "", served.sha256());
            if (server.adminAddress() != null) {
                OUT.printf("admin on http://%s:%d (/metrics /health/live /health/ready, POST /admin/reload)%n",
                        server.adminAddress().getHostString(), server.adminAddress().getPort());
            }
            OUT.flush();
            stopped.await(); // until SIGINT / SIGTERM runs the hook
            return 0;
        }
    }

    /** Control characters would garble a terminal: show them as escapes. */
    static String printable(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            if (cp < 0x20 && cp != '\n' || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
                sb.append(String.format("\\x%02x", cp));
            } else {
                sb.appendCodePoint(cp);
            }
        });
        return sb.toString();
    }
}
