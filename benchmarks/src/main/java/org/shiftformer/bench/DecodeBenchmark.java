package org.shiftformer.bench;

import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Warmup;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;

/**
 * Greedy decoding with a KV cache on the {@code small} preset (d_model 256, 4 heads, d_ff 1024, 3+3
 * layers, vocabulary 1000: the shape of the PyTorch peer in PERF.md): one invocation encodes a batch of
 * 24-token sources and decodes exactly 24 tokens per sequence (an EOS is replaced so every step runs;
 * the workload is {@link GreedyDecodeBenchmark}'s). The {@code tokens} secondary result is decoded tokens
 * per second. {@code backend} is {@code sim-1t} or {@code sim-2t} (the sim backend with setting
 * {@code threads} = 1 or 2; any {@code sim-<n>t} works with {@code -p}) or {@code reference} (the scalar
 * reference backend, single-threaded, run once per batch in the same JMH run as the baseline).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class DecodeBenchmark extends GreedyDecodeBenchmark {
    @Param({"sim-1t", "sim-2t", "reference"})
    public String backend;

    @Override
    protected Backend openBackend() {
        Map<String, String> settings = Map.of();
        String name = backend;
        if (backend.startsWith("sim-") && backend.endsWith("t")) {
            name = "sim";
            settings = Map.of("threads", backend.substring(4, backend.length() - 1));
        }
        return Backends.select(name).open(settings);
    }
}
