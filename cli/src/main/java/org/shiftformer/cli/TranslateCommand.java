package org.shiftformer.cli;

import static org.shiftformer.cli.Main.ERR;
import static org.shiftformer.cli.Main.OUT;
import static org.shiftformer.cli.Main.printable;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.client.ClientOptions;
import org.shiftformer.client.ClientTls;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TokenEvent;
import org.shiftformer.client.TokenIterator;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationRequest;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.engine.Translator;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.protocol.Message;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ./shiftformer translate}: every TEXT gets its translation or its error; the exit status is 0 when
 * all were translated, 1 when some failed, 2 when nothing could run (a bad option, an unreadable model, an
 * unknown backend, an unreachable server).
 */
@Command(name = "translate", mixinStandardHelpOptions = true,
        description = {"Translate each TEXT locally (--model) or on a server (--server HOST:PORT), printing tokens as "
                + "they are produced. Each TEXT gets its translation or its error (error: [CODE] ... on standard "
                + "error, [failed: CODE] on standard output); the others are still translated.",
            "Defaults are the protocol's (PROTOCOL.md): greedy, as many new tokens as the model allows, no length "
                + "penalty."},
        exitCodeListHeading = "%nExit status:%n",
        exitCodeList = {"0:every TEXT was translated",
            "1:at least one TEXT failed (its error is printed; the other TEXTs were translated)",
            "2:nothing was translated: an invalid option, an unreadable model, an unknown or unavailable backend, "
                + "an unreachable server (error: [CODE] message)"})
final class TranslateCommand implements Callable<Integer> {
    /** The environment variable a bearer token may come from. */
    static final String TOKEN_ENV = "SHIFTFORMER_TOKEN";
    /** Exit status when some texts failed. */
    static final int SOME_FAILED = 1;

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
    @Option(names = "--beam", paramLabel = "N", defaultValue = "1",
            description = "beam width, 1 to " + DecodeParams.MAX_BEAM + " (a server may allow fewer: its "
                    + "max_beam_width); 1 is greedy (default ${DEFAULT-VALUE}, as the protocol's beam_width)")
    int beam;
    @Option(names = "--max-new-tokens", paramLabel = "N",
            description = "most tokens to generate, EOS included, 1 to the model's max_positions - 1 (above is "
                    + "refused). Default: that maximum (127 for a model of 128 positions, such as the tiny preset), as "
                    + "the protocol's max_new_tokens = 0; with --server, what the server makes of 0 (the same maximum "
                    + "unless it sets shiftformer.server.defaultMaxNewTokens)")
    Integer maxNew;
    @Option(names = "--length-penalty", paramLabel = "ALPHA",
            description = "GNMT length penalty alpha in [0, 2] for beam search (SPEC.md 5.1); needs --beam 2 or more. "
                    + "Default 0 (no length normalization), as the protocol's alpha_q8 = 0")
    Double alpha;
    @Option(names = "--deadline-ms", defaultValue = "0",
            description = "with --server: the server's deadline per text; 0 for none (default ${DEFAULT-VALUE})")
    long deadlineMs;
    @Option(names = "--tokens", description = "print one line per token (id, piece, modelled cycles)")
    boolean showTokens;
    @Option(names = "--trace-logits", paramLabel = "K",
            description = "local only: print JSON lines instead, per decoder step the chosen token and the K largest "
                    + "int32 logits (greedy; for beam search each live hypothesis with its index, score, top K and "
                    + "choices), then one result line per TEXT; SPEC.md, \"Tracing the logits\"")
    Integer traceLogits;
    @Option(names = "--tls", description = "with --server: speak TLS, trusting the JDK's CA certificates unless "
            + "--tls-ca says otherwise (implied by the other --tls options)")
    boolean tls;
    @Option(names = "--tls-ca", paramLabel = "PEM", description = "with --server: trust these CA certificates for the server")
    Path tlsCa;
    @Option(names = "--tls-cert", paramLabel = "PEM", description = "with --server: client certificate chain, for "
            + "servers that require one (with --tls-key)")
    Path tlsCert;
    @Option(names = "--tls-key", paramLabel = "PEM", description = "with --server: PKCS#8 key of --tls-cert")
    Path tlsKey;
    @Option(names = "--token-file", paramLabel = "FILE", description = "with --server: the bearer token, the first "
            + "line of FILE; default: the environment variable " + TOKEN_ENV + " (never a command-line argument, which "
            + "other users can see)")
    Path tokenFile;
    @Mixin
    PluginsOption plugins = new PluginsOption();
    @Parameters(paramLabel = "TEXT", arity = "1..*")
    List<String> texts;

    @Override
    public Integer call() {
        checkOptions();
        plugins.load();
        return target.server != null ? remote() : local();
    }

    /** What can be checked before the model or the server is known. */
    private void checkOptions() {
        if (beam < 1 || beam > DecodeParams.MAX_BEAM) {
            throw invalid("--beam " + beam + " must be in [1, " + DecodeParams.MAX_BEAM + "]");
        }
        if (alpha != null) {
            if (beam < 2) {
                throw invalid("--length-penalty applies to beam search only; add --beam N with N >= 2 (it was "
                        + (beam == 1 ? "greedy, --beam 1" : "--beam " + beam) + ")");
            }
            if (!(alpha >= 0 && alpha <= 2)) {
                throw invalid("--length-penalty " + alpha + " must be in [0, 2]");
            }
        }
        if (maxNew != null && maxNew < 1) {
            throw invalid("--max-new-tokens " + maxNew + " must be at least 1");
        }
        boolean tlsOptions = tls || tlsCa != null || tlsCert != null || tlsKey != null;
        if (target.server == null && (tlsOptions || tokenFile != null)) {
            throw invalid((tokenFile != null ? "--token-file" : "--tls options") + " apply to --server only");
        }
        if ((tlsCert == null) != (tlsKey == null)) {
            throw invalid(tlsCert == null ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
        }
        if (traceLogits != null) {
            if (target.server != null) {
                throw invalid("--trace-logits needs local decoding (--model FILE): a server sends tokens, not logits");
            }
            if (showTokens) {
                throw invalid("--trace-logits and --tokens are exclusive: the trace already names every token");
            }
        }
        if (deadlineMs < 0) {
            throw invalid("--deadline-ms " + deadlineMs + " must be >= 0");
        }
    }

    /** The refusal of a --max-new-tokens above what the model allows. */
    static void checkMaxNew(Integer maxNew, int maxPositions, String whose) {
        if (maxNew != null && maxNew > maxPositions - 1) {
            throw invalid("--max-new-tokens " + maxNew + " exceeds " + whose + " limit of " + (maxPositions - 1)
                    + " (max_positions " + maxPositions + " - 1)");
        }
    }

    private static ShiftformerException invalid(String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, message);
    }

    private double lengthPenalty() {
        return alpha == null ? 0 : alpha;
    }

    private int local() {
        Artifact artifact = ArtifactReader.read(target.model);
        ModelConfig cfg = artifact.model().config();
        checkMaxNew(maxNew, cfg.maxPositions(), "the model's");
        if (traceLogits != null && (traceLogits < 1 || traceLogits > cfg.vocabSize() - 2)) {
            throw invalid("--trace-logits " + traceLogits + " must be in [1, " + (cfg.vocabSize() - 2)
                    + "] (the vocabulary of " + cfg.vocabSize() + " without pad and bos)");
        }
        BackendProvider provider = Backends.select(backend);
        ByteBpeTokenizer tok = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
        DecodeParams params = new DecodeParams(beam, maxNew != null ? maxNew : cfg.maxPositions() - 1, lengthPenalty());
        int failed = 0;
        try (Backend b = provider.open(backendOptions); LoadedModel m = b.load(artifact.model())) {
            Translator tr = new Translator(m, tok);
            LogitsTrace trace = traceLogits == null ? null : new LogitsTrace(OUT, cfg, traceLogits);
            for (int i = 0; i < texts.size(); i++) {
                String text = texts.get(i);
                try {
                    if (trace != null) {
                        trace.translate(tr, i, text, params);
                    } else {
                        localOne(tr, tok, b, artifact, text, params);
                    }
                } catch (ShiftformerException e) {
                    failed++;
                    report(i, text, e, trace);
                }
            }
        }
        return failed == 0 ? 0 : SOME_FAILED;
    }

    private void localOne(Translator tr, ByteBpeTokenizer tok, Backend b, Artifact artifact, String text, DecodeParams params) {
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

    /**
     * A text's failure: {@code error: [CODE] text N: message} on standard error, and on standard output a
     * {@code [failed: CODE]} line (a JSON error line when tracing) in the text's place.
     */
    private void report(int index, String text, ShiftformerException e, LogitsTrace trace) {
        if (trace != null) {
            trace.error(index, text, e);
        } else {
            OUT.printf("%n  [failed: %s]%n", e.code());
        }
        OUT.flush();
        ERR.println("error: [" + e.code() + "] text " + (index + 1) + " of " + texts.size() + " ('" + printable(text) + "'): "
                + e.getMessage());
    }

    /** The bearer token: the first line of {@code tokenFile} (--token-file), else $SHIFTFORMER_TOKEN, else none. */
    static String token(Path tokenFile) {
        String token;
        if (tokenFile != null) {
            try {
                token = java.nio.file.Files.readAllLines(tokenFile, java.nio.charset.StandardCharsets.UTF_8).stream()
                        .findFirst().orElse("").strip();
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot read --token-file " + tokenFile + ": " + e, e);
            }
            if (token.isEmpty()) {
                throw invalid("--token-file " + tokenFile + " has no token on its first line");
            }
            return token;
        }
        token = System.getenv(TOKEN_ENV);
        return token == null || token.isBlank() ? null : token.strip();
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
            throw invalid("--server '" + target.server + "' must be HOST:PORT with a port in [1, 65535]");
        }
        String host = target.server.substring(0, colon).replaceAll("^\\[|\\]$", "");
        int failed = 0;
        ClientOptions.Builder options = ClientOptions.builder().token(token(tokenFile));
        if (tls || tlsCa != null || tlsCert != null) {
            ClientTls t = tlsCa == null ? ClientTls.system() : ClientTls.trusting(tlsCa);
            options.tls(tlsCert == null ? t : t.withClientCertificate(tlsCert, tlsKey));
        }
        try (ShiftformerClient client = ShiftformerClient.connect(host, port, options.build())) {
            // The served model's limit, from Welcome (and ModelInfo); 0 means the server did not say, and then its
            // own error for each text says it.
            int maxPositions = client.welcome().model() != null ? client.welcome().model().maxPositions() : 0;
            if (maxPositions == 0 && client.modelInfo() != null && client.modelInfo().config() != null) {
                maxPositions = client.modelInfo().config().maxPositions();
            }
            if (maxPositions > 0) {
                checkMaxNew(maxNew, maxPositions, "the served model's");
            }
            int maxBeam = client.welcome().maxBeamWidth();
            if (maxBeam > 0 && beam > maxBeam) {
                throw invalid("--beam " + beam + " exceeds the server's max_beam_width of " + maxBeam);
            }
            for (int i = 0; i < texts.size(); i++) {
                String text = texts.get(i);
                try {
                    remoteOne(client, text);
                } catch (ShiftformerException e) {
                    failed++;
                    report(i, text, e, null);
                }
            }
        }
        return failed == 0 ? 0 : SOME_FAILED;
    }

    private void remoteOne(ShiftformerClient client, String text) {
        // 0 asks for the server's default (PROTOCOL.md section 4); the same holds for an absent alpha.
        TranslationRequest request = TranslationRequest.text(text).beam(beam).maxNewTokens(maxNew == null ? 0 : maxNew)
                .deadline(Duration.ofMillis(deadlineMs));
        if (alpha != null) {
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
            try {
                t = it.result().join();
            } catch (CompletionException e) {
                throw e.getCause() instanceof ShiftformerException se ? se : e;
            }
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
