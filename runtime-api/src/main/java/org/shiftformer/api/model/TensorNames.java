package org.shiftformer.api.model;

/**
 * The artifact's naming scheme, in one place. Tensors: {@code embed.weight}, {@code pos.table},
 * {@code enc.{i}.ln1.gamma}, {@code enc.{i}.attn.q.weight}, ... Activation exponents (one integer per
 * requantization point): {@code enc.embed.out}, {@code enc.{i}.attn.q.out}, ... See SPEC.md section 2.
 */
public final class TensorNames {
    public static final String EMBED = "embed.weight";
    public static final String POSITIONS = "pos.table";
    public static final String ENC_EMBED_OUT = "enc.embed.out";
    public static final String DEC_EMBED_OUT = "dec.embed.out";
    public static final String ENC_FINAL = "enc.final";
    public static final String DEC_FINAL = "dec.final";

    private TensorNames() {
    }

    public static String enc(int layer, String part) {
        return "enc." + layer + "." + part;
    }

    public static String dec(int layer, String part) {
        return "dec." + layer + "." + part;
    }

    public static String weight(String prefix) {
        return prefix + ".weight";
    }

    public static String bias(String prefix) {
        return prefix + ".bias";
    }

    public static String gamma(String prefix) {
        return prefix + ".gamma";
    }

    public static String beta(String prefix) {
        return prefix + ".beta";
    }

    public static String out(String prefix) {
        return prefix + ".out";
    }
}
