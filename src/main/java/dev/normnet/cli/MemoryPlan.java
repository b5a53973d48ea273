package dev.normnet.cli;

import dev.normnet.backend.Backend;
import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Device;
import java.util.Locale;

/** Checks, before any buffer is allocated, that a model's plan fits where it will run. */
final class MemoryPlan {
    private MemoryPlan() {
    }

    /**
     * Refuses a training run whose plan (activations and their gradients for {@code batch}, see
     * {@link Sequential#planValues}) plus the resident images and the model's state cannot fit in
     * what {@code backend} has left ({@link Backend#availableBytes}; nothing is checked when it
     * cannot tell).
     *
     * @param flags the options that set the size, for the message ("--batch 2048 --resize 1000")
     * @throws UsageException with both figures
     */
    static void checkTraining(Sequential model, int batch, long imageBytes, Backend backend, String flags) {
        long values;
        try {
            values = model.planValues(batch, true);
        } catch (IllegalArgumentException e) {
            throw new UsageException(flags + ": " + e.getMessage(), e);
        }
        long needed = 4 * values + imageBytes + 4 * 4 * model.parameterCount();   // params, grads, two optimizer buffers
        long available = backend.availableBytes();
        if (available >= 0 && needed > available) {
            String where = backend.device() == Device.CPU
                    ? "the JVM may use " + gib(available) + " (give it more with NORMNET_JAVA_OPTS=-Xmx<size>, or"
                    : "the GPU has " + gib(available) + " free (";
            throw new UsageException(String.format(Locale.ROOT, "%s: training needs %s (%s of activations and their gradients); "
                    + "%s use a smaller --batch or --resize)", flags, gib(needed), gib(4 * values), where));
        }
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }
}
