package dev.normnet.nn;

import java.util.List;

/**
 * Options of the model presets ({@link Models#create}).
 *
 * @param pool       {@code avg} or {@code max} (LeNet presets)
 * @param activation {@code sigmoid} or {@code relu}, or null for the preset's own (sigmoid for
 *                   the LeNets, ReLU for the MLPs)
 * @param resize     input side: images are resized to resize x resize (28 keeps Fashion-MNIST as
 *                   is; 32 and 224 are the sizes two re-tellings of the d2l chapter use)
 * @param init       {@code default} (PyTorch's) or {@code xavier}
 */
public record ModelOptions(String pool, String activation, int resize, String init) {
    public static final List<String> POOLS = List.of("avg", "max");
    public static final List<String> ACTIVATIONS = List.of("sigmoid", "relu");

    public ModelOptions {
        if (!POOLS.contains(pool)) {
            throw new IllegalArgumentException("unknown pool '" + pool + "'; valid: " + String.join(", ", POOLS));
        }
        if (activation != null && !ACTIVATIONS.contains(activation)) {
            throw new IllegalArgumentException("unknown activation '" + activation + "'; valid: " + String.join(", ", ACTIVATIONS));
        }
        if (resize < 1) {
            throw new IllegalArgumentException("resize must be >= 1, got " + resize);
        }
        Init.parse(init);
    }

    /** avg pooling, the preset's activation, 28 x 28 input, PyTorch's default init. */
    public static ModelOptions defaults() {
        return new ModelOptions("avg", null, 28, "default");
    }

    public ModelOptions withPool(String value) {
        return new ModelOptions(value, activation, resize, init);
    }

    public ModelOptions withActivation(String value) {
        return new ModelOptions(pool, value, resize, init);
    }

    public ModelOptions withResize(int value) {
        return new ModelOptions(pool, activation, value, init);
    }

    public ModelOptions withInit(String value) {
        return new ModelOptions(pool, activation, resize, value);
    }

    public Init initMethod() {
        return Init.parse(init);
    }
}
