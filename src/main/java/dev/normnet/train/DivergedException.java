package dev.normnet.train;

/**
 * Training stopped because the loss or a parameter went non-finite (NaN or infinite). The model then
 * holds non-finite values and should not be saved; {@link #history()} holds the epochs completed
 * before, all finite.
 */
public final class DivergedException extends RuntimeException {
    private final int epoch;
    private final int step;
    private final History history;

    /**
     * @param epoch   the epoch (from 1) in which it happened
     * @param step    the step of that epoch (from 1) after which the loss was non-finite, or 0 when
     *                only the epoch is known (on a GPU, checked once per epoch)
     * @param detail  what was found, and where first
     * @param history the epochs completed before
     */
    public DivergedException(int epoch, int step, String detail, History history) {
        super("training diverged in epoch " + epoch + (step > 0 ? " at step " + step : " (checked at its end)") + ": " + detail);
        this.epoch = epoch;
        this.step = step;
        this.history = history;
    }

    public int epoch() {
        return epoch;
    }

    /** The step of {@link #epoch()} (from 1), or 0 when only the epoch is known. */
    public int step() {
        return step;
    }

    public History history() {
        return history;
    }
}
