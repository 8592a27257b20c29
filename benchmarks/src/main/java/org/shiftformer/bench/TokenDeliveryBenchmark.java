package org.shiftformer.bench;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.ForwardingLoadedModel;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
import org.shiftformer.protocol.MessageWriter;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * Token delivery latency at one stream: from the moment the backend's decoder step returns (a decorator
 * around the served model records it) to the moment a plain blocking socket on 127.0.0.1 has read the
 * token's frame. No client library is involved, so the figure is the server's: the scheduler's
 * bookkeeping, the hand-off to the event loop and the loopback write, including the time the event
 * loop waits for a core while the decoder's threads compute.
 *
 * <pre>
 * ./shiftformer bench TokenDeliveryBenchmark [--requests 200] [--tokens 24] [--backend-option threads=2]
 * </pre>
 */
public final class TokenDeliveryBenchmark {
    /** When each decoder step returned (the served model is driven by one thread at a time). */
    private static final class StepClock extends ForwardingLoadedModel {
        final List<Long> stepEnds = new CopyOnWriteArrayList<>();

        StepClock(LoadedModel delegate) {
            super(delegate);
        }

        @Override
        public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
            StepCost c = super.decodeStep(states, tokens, logits, tap);
            stepEnds.add(System.nanoTime());
            return c;
        }
    }

    private TokenDeliveryBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> opt = new LinkedHashMap<>(Map.of("requests", "200", "tokens", "24", "warmup", "40"));
        Map<String, String> backendOptions = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            String key = args[i].replaceFirst("^--", "");
            if (key.equals("backend-option")) {
                String[] kv = args[i + 1].split("=", 2);
                backendOptions.put(kv[0], kv.length > 1 ? kv[1] : "");
            } else if (opt.containsKey(key)) {
                opt.put(key, args[i + 1]);
            } else {
                throw new IllegalArgumentException("usage: TokenDeliveryBenchmark [--requests N] [--tokens N] [--warmup N]"
                        + " [--backend-option KEY=VALUE]; unknown option " + args[i]);
            }
        }
        int requests = Integer.parseInt(opt.get("requests"));
        int tokens = Integer.parseInt(opt.get("tokens"));
        int warmup = Integer.parseInt(opt.get("warmup"));
        ModelConfig cfg = RandomModels.preset("small", 1000);
        Path file = Files.createTempFile("shiftformer-delivery-bench", ".itm");
        try (Backend backend = Backends.select("sim").open(backendOptions)) {
            RandomArtifacts.write(cfg, 1, file, "TokenDeliveryBenchmark");
            Artifact artifact = ArtifactReader.read(file);
            StepClock clock = new StepClock(new NoEosModel(backend.load(artifact.model())));
            ServerConfig config = ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED)
                    .bindAddress("127.0.0.1").conclude();
            try (ShiftformerServer server = ShiftformerServer.start(config, ServedModel.of(artifact, clock, backend.identity()));
                 Socket socket = new Socket("127.0.0.1", server.localAddress().getPort())) {
                socket.setTcpNoDelay(true);
                DataInputStream in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
                OutputStream out = socket.getOutputStream();
                MessageWriter writer = new MessageWriter();
                send(out, writer, new Message.Hello(0, 1, ProtocolVersion.CURRENT, "TokenDeliveryBenchmark"));
                int[] source = new SplittableRandom(2).ints(10, 3, cfg.vocabSize()).toArray();
                List<Long> delays = new ArrayList<>();
                for (int r = 0; r < warmup + requests; r++) {
                    clock.stepEnds.clear();
                    List<Long> received = new ArrayList<>(tokens);
                    send(out, writer, new Message.TranslateRequest(r + 1, null, source, new Message.Params(1, tokens, 0), 0, true));
                    for (Message m = read(in); !(m instanceof Message.Done); m = read(in)) {
                        if (m instanceof Message.Error e) {
                            throw new IllegalStateException("request " + (r + 1) + " failed: " + e);
                        }
                        if (m instanceof Message.Token) {
                            received.add(System.nanoTime());
                        }
                    }
                    if (r >= warmup) {
                        for (int i = 0; i < received.size(); i++) {
                            delays.add(received.get(i) - clock.stepEnds.get(i));
                        }
                    }
                }
                Collections.sort(delays);
                int n = delays.size();
                System.out.printf("TokenDeliveryBenchmark: backend %s, 1 stream, %d requests x %d tokens after %d warm-up requests%n",
                        backend.identity(), requests, tokens, warmup);
                System.out.printf("decoder step returned -> token frame read by the client, us: p50 %.0f  p90 %.0f  p99 %.0f"
                                + "  max %.0f  (n=%d)%n", delays.get(n / 2) / 1e3, delays.get(n * 9 / 10) / 1e3,
                        delays.get(n * 99 / 100) / 1e3, delays.get(n - 1) / 1e3, n);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Writes one frame (also for {@link FairnessBenchmark}). */
    static void send(OutputStream out, MessageWriter writer, Message m) throws IOException {
        ByteBuffer bb = writer.encode(m);
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        out.write(b);
        out.flush();
    }

    /** Reads one frame (also for {@link FairnessBenchmark}). */
    static Message read(DataInputStream in) throws IOException {
        byte[] prefix = new byte[FrameLayout.LENGTH_BYTES];
        in.readFully(prefix);
        int len = ByteBuffer.wrap(prefix).order(FrameLayout.BYTE_ORDER).getInt();
        if (len < FrameLayout.MIN_PAYLOAD_BYTES || len > FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES) {
            throw new IOException("frame length " + len);
        }
        byte[] frame = new byte[FrameLayout.LENGTH_BYTES + len];
        System.arraycopy(prefix, 0, frame, 0, prefix.length);
        in.readFully(frame, prefix.length, len);
        return MessageReader.read(ByteBuffer.wrap(frame));
    }
}
