package org.shiftformer.core.server.security;

import java.io.IOException;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import org.shiftformer.api.ShiftformerException;

/**
 * A value read from files that an operator may replace while the server runs (a tokens file, a TLS
 * certificate rotated by cert-manager): {@link #get()} returns the current value and, at most once per
 * check interval, looks at the files' modification time, size and file key (a rename onto the path, as
 * Kubernetes does for mounted secrets, changes the key) and reads them again when any of them changed.
 *
 * <p>A read that fails keeps the previous value (a half-written or broken file never takes effect and
 * never removes what worked); it is logged and counted ({@link #failedReloads()}), and the files are
 * read again at the next check. The first read happens in the constructor and its failure is thrown.
 *
 * <p>Thread-safe: {@link #get()} is a volatile read plus a clock read between checks; one thread at a
 * time re-reads.
 */
public final class WatchedFile<T> {
    private static final Logger LOG = System.getLogger(WatchedFile.class.getName());

    private final List<Path> files;
    private final Function<List<Path>, T> reader;
    private final long checkIntervalNs;
    private final String what;
    private final LongAdder reloads = new LongAdder();
    private final LongAdder failedReloads = new LongAdder();
    private volatile T value;
    private volatile List<Object> stamp;
    private volatile long nextCheckNs;

    /**
     * Reads the files now.
     *
     * @param what            what the files hold, for the log ("tokens file /etc/shiftformer/tokens")
     * @param files           the files, at least one
     * @param reader          reads them into a value; throws {@link ShiftformerException} naming what is wrong
     * @param checkIntervalMs how often {@link #get()} looks at the files (0: on every call)
     * @throws ShiftformerException what the first read threw
     */
    public WatchedFile(String what, List<Path> files, Function<List<Path>, T> reader, long checkIntervalMs) {
        this.what = Objects.requireNonNull(what, "what");
        this.files = List.copyOf(files);
        if (this.files.isEmpty()) {
            throw new IllegalArgumentException("no files to watch");
        }
        this.reader = Objects.requireNonNull(reader, "reader");
        this.checkIntervalNs = TimeUnit.MILLISECONDS.toNanos(checkIntervalMs);
        this.stamp = stamp();
        this.value = Objects.requireNonNull(reader.apply(this.files), "reader returned null");
        this.nextCheckNs = System.nanoTime() + checkIntervalNs;
    }

    /** The current value, re-read first if the check interval has passed and a file changed. */
    public T get() {
        if (System.nanoTime() - nextCheckNs >= 0) {
            refresh();
        }
        return value;
    }

    /**
     * Looks at the files now and re-reads them if they changed.
     *
     * @return true when a new value was read
     */
    public synchronized boolean refresh() {
        nextCheckNs = System.nanoTime() + checkIntervalNs;
        List<Object> now = stamp();
        if (now.equals(stamp)) {
            return false;
        }
        try {
            T next = Objects.requireNonNull(reader.apply(files), "reader returned null");
            value = next;
            stamp = now;
            reloads.increment();
            LOG.log(Level.INFO, "reloaded " + what);
            return true;
        } catch (RuntimeException e) {
            // Not recorded as seen: the next check reads it again (a writer may not have finished).
            failedReloads.increment();
            LOG.log(Level.WARNING, "cannot reload " + what + ", keeping the previous contents: " + e.getMessage());
            return false;
        }
    }

    /** Successful re-reads since start (the first read not counted). */
    public long reloads() {
        return reloads.sum();
    }

    /** Re-reads that failed and kept the previous value. */
    public long failedReloads() {
        return failedReloads.sum();
    }

    private List<Object> stamp() {
        List<Object> s = new ArrayList<>(files.size() * 3);
        for (Path f : files) {
            try {
                BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
                s.add(a.lastModifiedTime().toMillis());
                s.add(a.size());
                s.add(String.valueOf(a.fileKey()));
            } catch (IOException e) {
                s.add("missing: " + e.getClass().getSimpleName());
            }
        }
        return s;
    }
}
