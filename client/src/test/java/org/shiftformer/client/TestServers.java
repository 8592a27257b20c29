package org.shiftformer.client;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;

/**
 * Fixtures: a small random model on the {@code reference} backend, served by a real
 * {@link ShiftformerServer} on 127.0.0.1, and local decoding of the same model to compare with.
 */
final class TestServers {
    /** d_model 32, 2 heads, d_ff 64, 2+2 layers, vocabulary 300, 64 positions. */
    static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 64, 2, 0, 1, 2);

    final Artifact artifact;
    final Backend backend;
    final ByteBpeTokenizer tokenizer;

    TestServers(Path dir) {
        Path f = dir.resolve("client-test.itm");
        RandomArtifacts.write(CFG, 5, f, "ShiftformerClientTest");
        artifact = ArtifactReader.read(f);
        backend = Backends.select("reference").open(Map.of());
        tokenizer = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
    }

    static ServerConfig.Builder config() {
        return ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1").drainTimeoutMs(2_000);
    }

    ShiftformerServer start(ServerConfig config, LoadedModel model) {
        return ShiftformerServer.start(config, ServedModel.of(artifact, model, backend.identity()));
    }

    ShiftformerServer start() {
        return start(config().conclude(), reference());
    }

    LoadedModel reference() {
        return backend.load(artifact.model());
    }

    static ShiftformerClient connect(ShiftformerServer server) {
        return connect(server, ClientOptions.defaults());
    }

    static ShiftformerClient connect(ShiftformerServer server, ClientOptions options) {
        InetSocketAddress a = server.localAddress();
        return ShiftformerClient.connect(a.getHostString(), a.getPort(), options);
    }

    /** What local decoding of {@code model} gives for {@code sourceIds} (without EOS) and the resolved params. */
    static DecodeResult local(LoadedModel model, int[] sourceIds, DecodeParams params) {
        int[] source = Arrays.copyOf(sourceIds, sourceIds.length + 1);
        source[sourceIds.length] = CFG.eosId();
        return Decoding.decode(model, List.of(source), params, TokenListener.NONE).get(0);
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out after 30 s waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    /**
     * A TCP relay on 127.0.0.1 in front of a server, so that a test can cut the connection abruptly
     * ({@link #cut()}), as a crashed server or a broken network would, without the server's goodbye.
     */
    static final class Relay implements AutoCloseable {
        private final ServerSocket listener;
        private final InetSocketAddress target;
        private final List<Socket> sockets = new CopyOnWriteArrayList<>();

        Relay(InetSocketAddress target) throws IOException {
            this(target, 0);
        }

        /** A relay on {@code port} (0: any free one), e.g. the port of a relay that was closed: a replica restarted. */
        Relay(InetSocketAddress target, int port) throws IOException {
            this.target = target;
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 50);
            this.listener = s;
            Thread acceptor = new Thread(this::accept, "relay-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        int port() {
            return listener.getLocalPort();
        }

        private void accept() {
            try {
                while (true) {
                    Socket in = listener.accept();
                    Socket out = new Socket(target.getAddress(), target.getPort());
                    sockets.add(in);
                    sockets.add(out);
                    pump(in, out);
                    pump(out, in);
                }
            } catch (IOException e) {
                // the listener was closed: the relay is done
            }
        }

        private static void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[8192];
                try (InputStream i = from.getInputStream(); OutputStream o = to.getOutputStream()) {
                    int n;
                    while ((n = i.read(buf)) >= 0) {
                        o.write(buf, 0, n);
                    }
                } catch (IOException e) {
                    // one side is gone: the other is closed by the try-with-resources
                }
            }, "relay-pump");
            t.setDaemon(true);
            t.start();
        }

        /** Closes every relayed connection at once (both directions). */
        void cut() throws IOException {
            for (Socket s : sockets) {
                s.close();
            }
        }

        @Override
        public void close() throws IOException {
            listener.close();
            cut();
        }
    }
}
