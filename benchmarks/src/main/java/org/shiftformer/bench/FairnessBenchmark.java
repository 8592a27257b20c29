package org.shiftformer.bench;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageWriter;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * "A slow client slows only itself" (PROTOCOL.md section 7), measured: N connections that send as many
 * requests as the server lets one connection have in flight (maxInFlight, 256 by default), whose outputs run
 * to the model's maximum (EOS masked, 1023 tokens), and then never read; meanwhile one well-behaved client
 * sends requests one at a time on its own connection. Its time to first token (send to first Token frame
 * read) is compared with the same client on an idle server, in the same run, each scenario on a fresh
 * server with default settings (except that the stall and queue-wait timeouts are lifted, so that the
 * stalled connections hold what they hold for the whole measurement).
 *
 * <pre>
 * ./shiftformer bench FairnessBenchmark [--connections 1,8,64] [--requests 200] [--tokens 8] [--warmup 200]
 * </pre>
 */
public final class FairnessBenchmark {
    private FairnessBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("connections", "1,8,64", "requests", "200", "tokens", "8",
                "warmup", "200"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            String key = args[i].replaceFirst("^--", "");
            if (!opt.containsKey(key)) {
                throw new IllegalArgumentException("usage: FairnessBenchmark [--connections 1,8,64] [--requests N]"
                        + " [--tokens N] [--warmup N]; unknown option " + args[i]);
            }
            opt.put(key, args[i + 1]);
        }
        int requests = Integer.parseInt(opt.get("requests"));
        int tokens = Integer.parseInt(opt.get("tokens"));
        int warmup = Integer.parseInt(opt.get("warmup"));
        // The model: the tiny preset with 1024 positions, so a stalled stream could run 1023 tokens.
        ModelConfig cfg = new ModelConfig(64, 2, 256, 2, 2, 1000, 1024, 2, 0, 1, 2);
        Path file = Files.createTempFile("shiftformer-fairness-bench", ".itm");
        try (Backend backend = Backends.select("sim").open(Map.of())) {
            RandomArtifacts.write(cfg, 1, file, "FairnessBenchmark");
            Artifact artifact = ArtifactReader.read(file);
            int[] source = new SplittableRandom(2).ints(10, 3, cfg.vocabSize()).toArray();
            List<String> rows = new ArrayList<>();
            double idleP99 = 0;
            List<Integer> scenarios = new ArrayList<>(List.of(0));
            for (String n : opt.get("connections").split(",")) {
                scenarios.add(Integer.parseInt(n.trim()));
            }
            for (int stalled : scenarios) {
                ServerConfig config = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED)
                        .bindAddress("127.0.0.1").stallTimeoutMs(3_600_000).maxQueueWaitMs(3_600_000).conclude();
                try (ShiftformerServer server = ShiftformerServer.start(config,
                        ServedModel.of(artifact, new NoEosModel(backend.load(artifact.model())), backend.identity()))) {
                    List<Socket> nonReaders = new ArrayList<>();
                    try {
                        for (int k = 0; k < stalled; k++) {
                            nonReaders.add(nonReader(server, config.maxInFlight(), source));
                        }
                        awaitStall(server, stalled);
                        long[] ttft = measure(server, source, tokens, warmup, requests);
                        double p50 = ttft[ttft.length / 2] / 1e6;
                        double p99 = ttft[ttft.length * 99 / 100] / 1e6;
                        if (stalled == 0) {
                            idleP99 = p99;
                        }
                        rows.add(String.format("| %s | %.2f | %.2f | %.2f | %s | %d | %d |", stalled == 0 ? "idle"
                                        : Integer.toString(stalled), p50, p99, p99 / idleP99,
                                stalled == 0 ? "" : (server.stats().accepted() - warmup - requests) + " / "
                                        + server.stats().rejected(),
                                server.scheduler().activeSequences(), server.stats().parked()));
                        System.out.println(rows.get(rows.size() - 1));
                    } finally {
                        for (Socket s : nonReaders) {
                            s.close();
                        }
                    }
                }
            }
            System.out.printf("FairnessBenchmark: backend %s, %d requests x %d tokens per scenario after %d warm-up,"
                    + " stalled connections send %d requests of up to %d tokens each%n", backend.identity(), requests,
                    tokens, warmup, ServerConfig.MAX_IN_FLIGHT_DEFAULT, cfg.maxPositions() - 1);
            System.out.println("| connections not reading | TTFT p50 ms | TTFT p99 ms | p99 / idle p99 "
                    + "| their requests accepted / refused | streams live | parked |");
            System.out.println("|---|---|---|---|---|---|---|");
            rows.forEach(System.out::println);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** A connection that says Hello, sends {@code n} requests of the model's maximum length and never reads. */
    private static Socket nonReader(ShiftformerServer server, int n, int[] source) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(4096);
        s.connect(server.localAddress(), 5_000);
        s.setSoTimeout(30_000);
        MessageWriter writer = new MessageWriter();
        OutputStream out = s.getOutputStream();
        send(out, writer, new Message.Hello(0, 1, ProtocolVersion.CURRENT, "FairnessBenchmark: never reads"));
        if (!(read(new DataInputStream(s.getInputStream())) instanceof Message.Welcome)) {
            throw new IllegalStateException("no Welcome");
        }
        for (int id = 1; id <= n; id++) {
            send(out, writer, new Message.TranslateRequest(id, null, source, new Message.Params(1, 0, 0), 0, true));
        }
        return s;
    }

    /** Waits until no decoder step has run for a second: the non-readers' streams are all held by backpressure. */
    private static void awaitStall(ShiftformerServer server, int stalled) throws InterruptedException {
        if (stalled == 0) {
            return;
        }
        long end = System.nanoTime() + 300_000_000_000L;
        long steps = -1;
        while (System.nanoTime() - end < 0) {
            Thread.sleep(1_000);
            long now = server.stats().steps();
            if (now == steps) {
                return;
            }
            steps = now;
        }
        throw new IllegalStateException("the connections that do not read never stalled: " + server.stats());
    }

    /** Times to first token of the well-behaved client's requests after its warm-up, sorted, in ns. */
    private static long[] measure(ShiftformerServer server, int[] source, int tokens, int warmup, int requests)
            throws IOException {
        try (Socket socket = new Socket("127.0.0.1", server.localAddress().getPort())) {
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(60_000); // a starved client fails the run instead of hanging it
            DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            OutputStream out = socket.getOutputStream();
            MessageWriter writer = new MessageWriter();
            send(out, writer, new Message.Hello(0, 1, ProtocolVersion.CURRENT, "FairnessBenchmark: reads"));
            read(in);
            List<Long> ttft = new ArrayList<>();
            for (int r = 0; r < warmup + requests; r++) {
                long t0 = System.nanoTime();
                send(out, writer, new Message.TranslateRequest(r + 1, null, source, new Message.Params(1, tokens, 0), 0, true));
                long first = 0;
                for (Message m = read(in); !(m instanceof Message.Done); m = read(in)) {
                    if (m instanceof Message.Error e) {
                        throw new IllegalStateException("request " + (r + 1) + " failed: " + e);
                    }
                    if (first == 0 && m instanceof Message.Token) {
                        first = System.nanoTime();
                    }
                }
                if (r >= warmup) {
                    ttft.add(first - t0);
                }
            }
            Collections.sort(ttft);
            return ttft.stream().mapToLong(Long::longValue).toArray();
        }
    }

    private static void send(OutputStream out, MessageWriter writer, Message m) throws IOException {
        TokenDeliveryBenchmark.send(out, writer, m);
    }

    private static Message read(DataInputStream in) throws IOException {
        return TokenDeliveryBenchmark.read(in);
    }
}
