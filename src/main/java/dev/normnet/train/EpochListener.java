package dev.normnet.train;

/** Called by {@link Trainer#fit} on the training thread: once per epoch, and optionally per batch. */
@FunctionalInterface
public interface EpochListener {
    /** After each epoch (training and evaluation done). */
    void onEpoch(EpochRecord record);

    /**
     * After queuing batch {@code batch} (1-based) of {@code batches} in {@code epoch} (1-based).
     * On a GPU the work may still be running; nothing is read back. For progress bars.
     */
    default void onBatch(int epoch, int batch, int batches) {
    }

    /** A listener that does nothing. */
    static EpochListener none() {
        return r -> {
        };
    }
}
