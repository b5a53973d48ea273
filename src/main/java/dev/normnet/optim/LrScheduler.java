package dev.normnet.optim;

/** A learning-rate schedule over epochs, applied by the trainer before each epoch. */
@FunctionalInterface
public interface LrScheduler {
    /** The learning rate for {@code epoch} (0 for the first), given the optimizer's base rate. */
    float learningRate(float baseLr, int epoch);
}
