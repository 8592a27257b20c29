package org.shiftformer.core.server;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;

/**
 * What the server does when the requested backend is unknown, unavailable or fails to open
 * (ARCHITECTURE.md, "Fallback": explicit, never silent). {@code none} fails start-up, naming the backend, why, and what is
 * available; {@code next} takes the next available backend by rank; a list names the backends to try, in
 * order. A fallback is logged by the caller, reported in ModelInfo (its backend identity is the one that
 * computes), in {@code /health/ready} and in the {@code shiftformer.model.info} metric tags.
 *
 * @param spec     the policy as written: {@code none}, {@code next}, or a comma-separated list of names
 * @param backends for a list, the names to try in order; empty for {@code none} and {@code next}
 */
public record FallbackPolicy(String spec, List<String> backends) {
    /** Fail start-up when the requested backend cannot run. */
    public static final FallbackPolicy NONE = new FallbackPolicy("none", List.of());
    /** Fall back to the next available backend by rank. */
    public static final FallbackPolicy NEXT = new FallbackPolicy("next", List.of());

    public FallbackPolicy {
        backends = List.copyOf(backends);
    }

    /**
     * Parses {@code none}, {@code next} or a comma-separated list of backend names.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for an empty or malformed value
     */
    public static FallbackPolicy parse(String spec) {
        String s = spec == null ? "" : spec.trim();
        if (s.equals("none")) {
            return NONE;
        }
        if (s.equals("next")) {
            return NEXT;
        }
        List<String> names = new ArrayList<>();
        for (String part : s.split(",", -1)) {
            String name = part.trim();
            if (name.isEmpty() || name.equals("none") || name.equals("next")) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "fallback policy '" + spec
                        + "' must be none, next, or a comma-separated list of backend names");
            }
            names.add(name);
        }
        return new FallbackPolicy(String.join(",", names), names);
    }

    /** True for {@code none}. */
    public boolean failClosed() {
        return this == NONE || spec.equals("none");
    }

    /**
     * The backend chosen and opened.
     *
     * @param provider  its provider
     * @param backend   the opened backend (the caller closes it)
     * @param requested the name that was asked for
     * @param fallback  null when {@code requested} runs; else why it does not and what replaced it
     */
    public record Choice(BackendProvider provider, Backend backend, String requested, String fallback) {
        /** True when a fallback backend was opened instead of the requested one. */
        public boolean isFallback() {
            return fallback != null;
        }
    }

    /** {@link #open(String, Map, List)} over the installed backends ({@link Backends#installed()}). */
    public Choice open(String requested, Map<String, String> settings) {
        return open(requested, settings, Backends.installed());
    }

    /**
     * Opens {@code requested} with {@code settings}, or, when it is unknown, unavailable or fails to open
     * with {@link ErrorCode#BACKEND_UNAVAILABLE}, what this policy allows (fallbacks are opened without
     * settings: those belong to the requested backend).
     *
     * @param installed the installed providers, highest rank first
     * @throws ShiftformerException {@link ErrorCode#UNKNOWN_BACKEND} or {@link ErrorCode#BACKEND_UNAVAILABLE}
     *         naming the backend, the reason, and the backends that are available; {@link ErrorCode#UNKNOWN_BACKEND}
     *         too when this policy's list names a backend that is not installed, even if {@code requested} runs
     */
    public Choice open(String requested, Map<String, String> settings, List<BackendProvider> installed) {
        // a name in the list that no installed backend has is a typo found now, not when the fallback is needed
        List<String> unknown = backends.stream().filter(n -> installed.stream().noneMatch(p -> p.name().equals(n)))
                .toList();
        if (!unknown.isEmpty()) {
            throw new ShiftformerException(ErrorCode.UNKNOWN_BACKEND, "fallback policy '" + spec + "' names "
                    + (unknown.size() == 1 ? "a backend that is" : "backends that are") + " not installed: "
                    + String.join(", ", unknown) + "; installed: " + installed.stream().map(BackendProvider::name)
                    .collect(Collectors.joining(", ")));
        }
        BackendProvider asked = null;
        for (BackendProvider p : installed) {
            if (p.name().equals(requested)) {
                asked = p;
            }
        }
        String why;
        ErrorCode code;
        if (asked == null) {
            why = "backend '" + requested + "' is not installed";
            code = ErrorCode.UNKNOWN_BACKEND;
        } else {
            Availability a = asked.availability();
            if (a.available()) {
                try {
                    return new Choice(asked, asked.open(settings), requested, null);
                } catch (ShiftformerException e) {
                    if (e.code() != ErrorCode.BACKEND_UNAVAILABLE) {
                        throw e;
                    }
                    why = "backend '" + requested + "' failed to open: " + e.getMessage();
                }
            } else {
                why = "backend '" + requested + "' is unavailable: " + a.reason();
            }
            code = ErrorCode.BACKEND_UNAVAILABLE;
        }
        if (failClosed()) {
            throw new ShiftformerException(code, why + "; available: " + available(installed)
                    + " (fallback policy none: choose one of those, or allow a fallback with next)");
        }
        return fallback(requested, why, installed);
    }

    /**
     * Opens a backend to replace {@code failed}, which cannot run ({@code why}): the first of this policy's
     * candidates other than {@code failed} that is available and opens (without settings). Used at start-up
     * and when a backend fails while serving (the server then moves its live streams to the replacement).
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_UNAVAILABLE} naming every candidate tried and why,
     *         also for the policy {@code none}
     */
    public Choice fallback(String failed, String why, List<BackendProvider> installed) {
        if (failClosed()) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, why + "; no fallback (fallback policy none)");
        }
        List<String> tried = new ArrayList<>();
        for (BackendProvider p : candidates(installed)) {
            if (p.name().equals(failed)) {
                continue;
            }
            Availability a = p.availability();
            if (!a.available()) {
                tried.add(p.name() + ": " + a.reason());
                continue;
            }
            try {
                Backend b = p.open(Map.of());
                return new Choice(p, b, failed, why + "; fell back to '" + p.name() + "' (fallback policy " + spec + ")");
            } catch (ShiftformerException e) {
                if (e.code() != ErrorCode.BACKEND_UNAVAILABLE) {
                    throw e;
                }
                tried.add(p.name() + ": " + e.getMessage());
            }
        }
        throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, why + "; no fallback under policy " + spec
                + " can run" + (tried.isEmpty() ? "" : " (" + String.join("; ", tried) + ")") + "; available: "
                + available(installed));
    }

    private List<BackendProvider> candidates(List<BackendProvider> installed) {
        if (backends.isEmpty()) {
            return installed;
        }
        List<BackendProvider> out = new ArrayList<>();
        for (String name : backends) {
            BackendProvider found = null;
            for (BackendProvider p : installed) {
                if (p.name().equals(name)) {
                    found = p;
                }
            }
            if (found == null) {
                throw new ShiftformerException(ErrorCode.UNKNOWN_BACKEND, "fallback backend '" + name
                        + "' is not installed; installed: " + installed.stream().map(BackendProvider::name)
                        .collect(Collectors.joining(", ")));
            }
            out.add(found);
        }
        return out;
    }

    private static String available(List<BackendProvider> installed) {
        String s = installed.stream().filter(p -> p.availability().available()).map(BackendProvider::name)
                .collect(Collectors.joining(", "));
        return s.isEmpty() ? "none" : s;
    }

    @Override
    public String toString() {
        return spec;
    }
}
