package org.shiftformer.api.backend;

/**
 * Who computed a result: carried on every response so that any request can be replayed.
 *
 * @param backend provider name
 * @param device  device or bitstream identity ({@code cpu} for the CPU backends)
 * @param version implementation version
 */
public record BackendIdentity(String backend, String device, String version) {
    @Override
    public String toString() {
        return backend + "/" + device + "/" + version;
    }
}
