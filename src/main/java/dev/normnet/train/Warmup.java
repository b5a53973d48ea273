package dev.normnet.train;

/**
 * What {@link Trainer#warmUp} did before the first epoch: the throwaway training and evaluation
 * steps it ran and the wall time it took (copying the model and uploading the test set included).
 * {@link #NONE} when it ran nothing (no warm-up asked for, or not enough memory for it).
 *
 * @param trainSteps training steps of the throwaway copy
 * @param evalSteps  evaluation steps of the throwaway copy
 * @param seconds    wall time of the whole warm-up
 */
public record Warmup(int trainSteps, int evalSteps, double seconds) {
    /** No warm-up ran. */
    public static final Warmup NONE = new Warmup(0, 0, 0);

    /** Whether any step ran. */
    public boolean ran() {
        return trainSteps > 0;
    }
}
