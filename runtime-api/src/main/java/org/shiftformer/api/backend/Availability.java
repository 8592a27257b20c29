package org.shiftformer.api.backend;

import java.util.Objects;

/**
 * Whether a backend can run on this machine.
 *
 * @param available true when {@link BackendProvider#open} can succeed
 * @param reason    why it is unavailable (what is missing and where it was looked for); empty when available
 */
public record Availability(boolean available, String reason) {
    public Availability {
        Objects.requireNonNull(reason, "reason");
    }

    public static Availability yes() {
        return new Availability(true, "");
    }

    public static Availability no(String reason) {
        return new Availability(false, reason);
    }
}
