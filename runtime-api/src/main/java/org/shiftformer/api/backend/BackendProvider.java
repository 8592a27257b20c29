package org.shiftformer.api.backend;

import java.util.Map;

/**
 * A backend implementation, discovered with {@link java.util.ServiceLoader}
 * ({@code META-INF/services/org.shiftformer.api.backend.BackendProvider}). Providers are cheap to
 * construct and to ask: native libraries and devices are touched only by {@link #availability()}
 * (which may probe) and {@link #open}. Selection rules are in {@link Backends}.
 */
public interface BackendProvider {
    /**
     * The version of this SPI (this interface and every type it reaches in {@code org.shiftformer.api}).
     * It changes when a change would break a provider compiled against the previous one; the runtime
     * installs only providers whose {@link #spiVersion()} it speaks ({@link Backends#SUPPORTED_SPI_VERSIONS}).
     */
    int SPI_VERSION = 1;

    /**
     * The SPI version this provider was built against. Implement it as {@code return SPI_VERSION;}: the
     * compiler copies the constant into the provider's class, so a provider keeps declaring the version it
     * was compiled with when it runs on a newer runtime.
     */
    int spiVersion();

    /** Stable short name users select with, e.g. {@code sim}, {@code fpga}, {@code reference}. */
    String name();

    /** Preference when no name is given: the available provider with the highest rank wins. */
    int rank();

    /** Whether this backend can run here, and if not, why (never throws). */
    Availability availability();

    /** What this backend can do. */
    Capabilities capabilities();

    /**
     * Opens the backend.
     *
     * @param settings backend-specific settings (e.g. device index, clock); unknown keys are an error
     * @throws org.shiftformer.api.ShiftformerException {@code BACKEND_UNAVAILABLE} with the reason when
     *         it cannot run here, {@code INVALID_ARGUMENT} naming a bad setting
     */
    Backend open(Map<String, String> settings);
}
