package org.shiftformer.cli;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
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
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.artifact.ArtifactInspector;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ./shiftformer <command>}. Errors print {@code error: [CODE] message} and exit with status 2. */
@Command(name = "shiftformer", mixinStandardHelpOptions = true, version = "shiftformer 0.1.0",
        description = "Integer-only Transformer translation runtime: artifacts, backends and decoding.",
        subcommands = {Main.Random.class, Main.Inspect.class, TranslateCommand.class, Main.ListBackends.class,
            Demo.class, Main.Serve.class, RolloutCommand.class, ConformanceCommand.class, TrainCommands.Train.class, TrainCommands.Eval.class})
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
            if (ex instanceof IllegalArgumentException) {
                // bad input found past the options (a checkpoint of another model, a corrupt file): the message
                // names it, a stack trace would only bury it
                cmd.getErr().println("error: " + (ex.getMessage() != null ? ex.getMessage() : ex.toString()));
                return 2;
            }
            throw ex;
        });
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            // picocli's handler sees exceptions only. Where the last allocation failed helps no one; what to do
            // does (train has said what it kept and how to resume)
            ERR.println("error: out of memory (" + e.getMessage() + "): give the JVM a larger heap, e.g. "
                    + "JDK_JAVA_OPTIONS=-Xmx8g");
            return 1;
        }
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
                        + "by about 18,500 on the tiny preset")
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
        @Mixin
        PluginsOption plugins = new PluginsOption();

        @Override
        public Integer call() {
            plugins.load();
            for (BackendProvider p : Backends.installed()) {
                Availability a = p.availability();
                OUT.printf("%-10s rank %-4d %-12s %s%n", p.name(), p.rank(), a.available() ? "available" : "unavailable",
                        a.available() ? p.capabilities().description() : a.reason());
            }
            for (String p : Backends.problems()) {
                OUT.println("not installed: " + p);
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
        @Option(names = "--model-dir", description = "the only directory POST /admin/reload?path= may read artifacts "
                + "from (relative paths resolve there; default: the directory of --model)")
        Path modelDir;
        @Option(names = "--tls-cert", paramLabel = "PEM", description = "TLS certificate chain: both ports speak TLS "
                + "1.3/1.2 only (with --tls-key; SECURITY.md)")
        Path tlsCert;
        @Option(names = "--tls-key", paramLabel = "PEM", description = "PKCS#8 private key of --tls-cert ('BEGIN PRIVATE KEY')")
        Path tlsKey;
        @Option(names = "--tls-client-ca", paramLabel = "PEM", description = "require client certificates signed by "
                + "these CA certificates (mutual TLS)")
        Path tlsClientCa;
        @Option(names = "--tokens-file", paramLabel = "FILE", description = "bearer tokens (SECURITY.md): every Hello "
                + "needs one, per-client max_in_flight, role=admin for POST /admin/reload; re-read when it changes")
        Path tokensFile;
        @Mixin
        PluginsOption plugins = new PluginsOption();
        @Option(names = "--shadow", paramLabel = "BACKEND", description = "shadow execution: repeat the work of a "
                + "sample of sequences on BACKEND and compare every bit (encoder outputs, int32 logits)")
        String shadow;
        @Option(names = "--shadow-sample", paramLabel = "P", description = "share of sequences shadowed, in (0, 1] "
                + "(default 1: all)")
        Double shadowSample;
        @Option(names = "--on-mismatch", paramLabel = "log|failover|fail", description = "what a difference does: log "
                + "(count it, serve the primary's result), failover (fail the step before its logits are used; "
                + "--fallback moves the streams, e.g. to the shadow's backend), fail (default log)")
        String onMismatch;

        @Override
        public Integer call() throws InterruptedException {
            plugins.load();
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
            if (tlsCert != null || tlsKey != null) {
                cfg.tls(tlsCert, tlsKey);
            }
            if (tlsClientCa != null) {
                cfg.tlsClientCa(tlsClientCa);
            }
            if (tokensFile != null) {
                cfg.tokensFile(tokensFile);
            }
            if (shadow != null || shadowSample != null || onMismatch != null) {
                if (shadow == null) {
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "--shadow-sample and --on-mismatch need "
                            + "--shadow BACKEND");
                }
                cfg.shadow(shadow, shadowSample == null ? ServerConfig.SHADOW_SAMPLE_DEFAULT : shadowSample,
                        onMismatch == null ? ServerConfig.SHADOW_ON_MISMATCH_DEFAULT : onMismatch);
            }
            ServerConfig config = cfg.conclude();
            if (modelDir != null && !java.nio.file.Files.isDirectory(modelDir)) {
                // else every reload would be refused, and only then would anyone learn why
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "--model-dir " + modelDir + " is not a directory");
            }
            org.shiftformer.core.server.FallbackPolicy.Choice choice = config.fallback().open(backend, backendOptions);
            if (choice.isFallback()) {
                ERR.println("warning: " + choice.fallback());
            }
            Backend b = choice.backend();
            ShiftformerServer server;
            try {
                org.shiftformer.core.server.ModelLoader loader = modelDir == null
                        ? new org.shiftformer.core.server.ModelLoader(choice, model)
                        : new org.shiftformer.core.server.ModelLoader(choice, model, modelDir);
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
            if (config.tls() || config.tokensFile() != null) {
                OUT.printf("security: %s%s%n", config.tls() ? "TLS" + (config.tlsClientCaFile() != null
                        ? " with client certificates" : "") : "plaintext", config.tokensFile() != null
                        ? ", bearer tokens from " + config.tokensFile() : ", no tokens");
            }
            if (server.adminAddress() != null) {
                OUT.printf("admin on %s://%s:%d (/metrics /health/live /health/ready, POST /admin/reload)%n",
                        config.tls() ? "https" : "http", server.adminAddress().getHostString(),
                        server.adminAddress().getPort());
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
