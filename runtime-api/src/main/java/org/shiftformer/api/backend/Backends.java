package org.shiftformer.api.backend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Discovery and selection of backends. An explicit name selects that provider (an unknown name fails
 * with the installed names; an unavailable one fails with its reason). Without a name, the available
 * provider with the highest {@link BackendProvider#rank()} is chosen, ties by name.
 */
public final class Backends {
    private Backends() {
    }

    /** Every installed provider, highest rank first. */
    public static List<BackendProvider> installed() {
        List<BackendProvider> all = new ArrayList<>();
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            all.add(p);
        }
        all.sort(Comparator.comparingInt(BackendProvider::rank).reversed().thenComparing(BackendProvider::name));
        return all;
    }

    /**
     * The provider named {@code name}, or the best available one when {@code name} is null or empty.
     *
     * @throws ShiftformerException {@code UNKNOWN_BACKEND} or {@code BACKEND_UNAVAILABLE}, naming the cause
     */
    public static BackendProvider select(String name) {
        List<BackendProvider> all = installed();
        if (name == null || name.isEmpty()) {
            StringBuilder reasons = new StringBuilder();
            for (BackendProvider p : all) {
                Availability a = p.availability();
                if (a.available()) {
                    return p;
                }
                reasons.append("; ").append(p.name()).append(": ").append(a.reason());
            }
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, "no available backend" + reasons);
        }
        for (BackendProvider p : all) {
            if (p.name().equals(name)) {
                Availability a = p.availability();
                if (!a.available()) {
                    throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE,
                            "backend '" + name + "' is unavailable: " + a.reason());
                }
                return p;
            }
        }
        throw new ShiftformerException(ErrorCode.UNKNOWN_BACKEND, "unknown backend '" + name + "'; installed: "
                + all.stream().map(BackendProvider::name).collect(Collectors.joining(", ")));
    }
}
