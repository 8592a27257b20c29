package org.shiftformer.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import io.netty.util.ResourceLeakDetectorFactory;
import java.util.ArrayList;
import java.util.List;

/**
 * Netty's leak detector at its strictest (as with {@code -Dio.netty.leakDetectionLevel=paranoid}, which
 * {@code mvn -Pparanoid} also sets), with every report recorded so that a test fails on it instead of a
 * log line nobody reads.
 *
 * <p>The factory must be installed before Netty creates its {@code ByteBuf} leak detector, i.e. before
 * the first buffer of the JVM is allocated: every protocol and server test class calls {@link #install()}
 * in its static initializer, and {@code MessageCodecTest} proves with a deliberate leak that reports arrive.
 */
public final class LeakCheck {
    private static final List<String> LEAKS = new ArrayList<>();

    static {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ResourceLeakDetectorFactory.setResourceLeakDetectorFactory(new ResourceLeakDetectorFactory() {
            @Override
            @SuppressWarnings("deprecation")
            public <T> ResourceLeakDetector<T> newResourceLeakDetector(Class<T> resource, int samplingInterval,
                                                                       long maxActive) {
                return new Recording<>(resource, samplingInterval);
            }
        });
    }

    private LeakCheck() {
    }

    /** Installs the recording detector (idempotent; the work is in the static initializer). */
    public static void install() {
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
    }

    /**
     * Collects garbage and lets the detector look at it, then returns (and forgets) every leak reported
     * so far.
     */
    public static List<String> collect() {
        for (int i = 0; i < 5; i++) {
            System.gc();
            // Leaks are reported when the detector is next asked to track a buffer of the same allocator.
            ByteBuf probe = ByteBufAllocator.DEFAULT.buffer(1);
            probe.release();
        }
        synchronized (LEAKS) {
            List<String> out = new ArrayList<>(LEAKS);
            LEAKS.clear();
            return out;
        }
    }

    /** Fails if any buffer leaked since the last call. */
    public static void assertNoLeaks() {
        List<String> leaks = collect();
        assertEquals(List.of(), leaks, "Netty reported leaked buffers");
    }

    private static final class Recording<T> extends ResourceLeakDetector<T> {
        @SuppressWarnings("deprecation")
        Recording(Class<T> resource, int samplingInterval) {
            super(resource, samplingInterval);
        }

        @Override
        protected boolean needReport() {
            return true;
        }

        @Override
        protected void reportTracedLeak(String resourceType, String records) {
            synchronized (LEAKS) {
                LEAKS.add(resourceType + " leaked:" + records);
            }
        }

        @Override
        protected void reportUntracedLeak(String resourceType) {
            synchronized (LEAKS) {
                LEAKS.add(resourceType + " leaked (untraced)");
            }
        }
    }
}
