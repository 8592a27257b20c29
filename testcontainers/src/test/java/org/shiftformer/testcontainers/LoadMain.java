package org.shiftformer.testcontainers;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.shiftformer.client.ShiftformerClient;

/**
 * The soak command ({@code ./shiftformer soak [OPTIONS]}): the load test's code, longer and wider. It writes
 * a random model of a preset, starts the image in a {@link ShiftformerContainer}, decodes the source pool
 * locally, runs {@link LoadRun} with {@code --clients} connections at {@code --rate} requests per second
 * for {@code --duration-s}, prints the summary, writes {@code report.html} and {@code summary.txt} to
 * {@code --report-dir}, and exits 1 unless the run was clean (no lost, duplicated or failed request, no
 * token mismatch).
 *
 * <pre>
 * --clients 64 --rate 12 --duration-s 120 --max-requests 100000 --tokens 24 --preset small
 * --pool 256 --source-tokens 4..24 --drain-s 120 --seed 1 --image shiftformer:VERSION --report-dir DIR
 * </pre>
 */
public final class LoadMain {
    static final Map<String, String> SOAK_DEFAULTS = Map.ofEntries(
            Map.entry("clients", "64"), Map.entry("rate", "12"), Map.entry("duration-s", "120"),
            Map.entry("max-requests", "100000"), Map.entry("tokens", "24"), Map.entry("preset", "small"),
            Map.entry("pool", "256"), Map.entry("source-tokens", "4..24"), Map.entry("drain-s", "120"),
            Map.entry("seed", "1"), Map.entry("image", DockerSupport.IMAGE),
            Map.entry("report-dir", System.getProperty("shiftformer.reportDir", "target/soak-report")));

    private LoadMain() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = parse(args, SOAK_DEFAULTS);
        LoadRun.Result r = run(opt, "soak");
        System.exit(r.clean() ? 0 : 1);
    }

    static Map<String, String> parse(String[] args, Map<String, String> defaults) {
        Map<String, String> opt = new LinkedHashMap<>(defaults);
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                System.out.println("usage: ./shiftformer soak " + String.join(" ",
                        defaults.entrySet().stream().map(e -> "[--" + e.getKey() + " " + e.getValue() + "]").toList()));
                System.exit(0);
            }
            if (!a.startsWith("--") || i + 1 >= args.length || !opt.containsKey(a.substring(2))) {
                throw new IllegalArgumentException("unknown or incomplete option '" + a + "'; options: "
                        + defaults.keySet().stream().map(k -> "--" + k).toList());
            }
            opt.put(a.substring(2), args[++i]);
        }
        return opt;
    }

    /** Model, container, local expectations, the run, the report: shared by {@link LoadTest} and the soak. */
    static LoadRun.Result run(Map<String, String> opt, String title) throws Exception {
        LoadRun.Spec spec = new LoadRun.Spec(Integer.parseInt(opt.get("clients")), Double.parseDouble(opt.get("rate")),
                Integer.parseInt(opt.get("max-requests")), Duration.ofSeconds(Long.parseLong(opt.get("duration-s"))),
                Integer.parseInt(opt.get("tokens")), Duration.ofSeconds(Long.parseLong(opt.get("drain-s"))));
        String[] len = opt.get("source-tokens").split("\\.\\.");
        if (len.length != 2) {
            throw new IllegalArgumentException("--source-tokens wants MIN..MAX, e.g. 4..24; got " + opt.get("source-tokens"));
        }
        long seed = Long.parseLong(opt.get("seed"));
        Path reportDir = Path.of(opt.get("report-dir"));
        Files.createDirectories(reportDir);
        long t = System.nanoTime();
        try (TestModel model = TestModel.random(reportDir, opt.get("preset"), seed)) {
            List<int[]> sources = model.sources(Integer.parseInt(opt.get("pool")), Integer.parseInt(len[0]),
                    Integer.parseInt(len[1]), seed + 1);
            List<int[]> expected = model.expected(sources, spec.maxNewTokens());
            String context = String.format("%s: image %s, preset %s (d_model %d, %d+%d layers, vocab %d), backend sim, "
                            + "%d sources of %s tokens; model and local decoding %.1f s",
                    title, opt.get("image"), opt.get("preset"), model.config().dModel(), model.config().encoderLayers(),
                    model.config().decoderLayers(), model.config().vocabSize(), sources.size(), opt.get("source-tokens"),
                    (System.nanoTime() - t) / 1e9);
            System.out.println(context);
            try (ShiftformerContainer server = new ShiftformerContainer(opt.get("image")).withModel(model.file)
                    .withServerProperty("maxQueued", "100000")) {
                long s = System.nanoTime();
                server.start();
                System.out.printf("container %s ready on 127.0.0.1:%d (admin %d) in %.1f s%n",
                        server.getContainerId().substring(0, 12), server.port(), server.adminPort(), (System.nanoTime() - s) / 1e9);
                List<ShiftformerClient> clients = new ArrayList<>();
                try {
                    for (int i = 0; i < spec.clients(); i++) {
                        clients.add(server.client());
                    }
                    warmUp(clients.getFirst(), sources, spec.maxNewTokens());
                    LoadRun.Result r = new LoadRun(spec, sources, expected).run(clients, server::metricsText);
                    Path html = LoadReport.write(reportDir, "shiftformer " + title, context, r);
                    System.out.print(r.summary());
                    System.out.println("report: " + html.toAbsolutePath());
                    return r;
                } finally {
                    for (ShiftformerClient c : clients) {
                        c.close();
                    }
                }
            }
        }
    }

    /** A few requests before the clock starts, so the first arrivals do not measure the server's JIT warm-up alone. */
    private static void warmUp(ShiftformerClient client, List<int[]> sources, int maxNewTokens) {
        List<org.shiftformer.client.TranslationFuture> fs = new ArrayList<>();
        for (int i = 0; i < Math.min(32, sources.size()); i++) {
            fs.add(client.translate(org.shiftformer.client.TranslationRequest.tokens(sources.get(i)).maxNewTokens(maxNewTokens)));
        }
        fs.forEach(f -> f.orTimeout(120, java.util.concurrent.TimeUnit.SECONDS).join());
    }
}
