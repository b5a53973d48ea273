package dev.normnet.nn;

import java.util.Arrays;
import java.util.Locale;

/** How Conv2d and Linear weights are initialized. */
public enum Init {
    /**
     * PyTorch's default: weights from kaiming_uniform(a = sqrt(5)), that is uniform(-b, b) with
     * b = 1 / sqrt(fan_in); biases uniform(-1 / sqrt(fan_in), 1 / sqrt(fan_in)).
     */
    DEFAULT,
    /**
     * Xavier (Glorot) uniform weights: uniform(-b, b) with b = sqrt(6 / (fan_in + fan_out));
     * biases keep PyTorch's default, as {@code nn.init.xavier_uniform_(m.weight)} leaves them.
     */
    XAVIER;

    /** Lower-case name: {@code default}, {@code xavier}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses {@code default} or {@code xavier}; anything else is an error listing the valid names. */
    public static Init parse(String name) {
        for (Init i : values()) {
            if (i.id().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("unknown init '" + name + "'; valid: "
                + String.join(", ", Arrays.stream(values()).map(Init::id).toList()));
    }
}
