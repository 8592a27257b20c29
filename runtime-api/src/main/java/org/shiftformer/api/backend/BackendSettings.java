package org.shiftformer.api.backend;

import java.util.Map;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Reading the integer values of the settings a backend is opened with ({@link BackendProvider#open}), with
 * one wording for every backend's errors: {@code setting KEY='VALUE' is not an integer in [MIN, MAX]} and
 * {@code setting KEY=VALUE is outside [MIN, MAX]}, both {@link ErrorCode#INVALID_ARGUMENT}.
 */
public final class BackendSettings {
    private BackendSettings() {
    }

    /** The integer setting {@code key}, {@code dflt} when absent, checked to lie in {@code [min, max]}. */
    public static long integer(Map<String, String> settings, String key, long dflt, long min, long max) {
        String v = settings.get(key);
        return v == null ? dflt : integer(key, v, min, max);
    }

    /** {@code value} (the setting {@code key}) as an integer in {@code [min, max]}. */
    public static long integer(String key, String value, long min, long max) {
        long x;
        try {
            x = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "setting " + key + "='" + value + "' is not an integer in [" + min + ", " + max + "]", e);
        }
        return inRange(key, x, min, max);
    }

    /** {@code v}, the value of setting {@code key}, if it lies in {@code [min, max]}. */
    public static long inRange(String key, long v, long min, long max) {
        if (v < min || v > max) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "setting " + key + "=" + v + " is outside [" + min + ", " + max + "]");
        }
        return v;
    }
}
