package dev.normnet.train;

/**
 * What one epoch of {@link Trainer#fit} measured.
 *
 * @param epoch          1 for the first epoch
 * @param trainLoss      mean cross-entropy over the epoch's training examples (training mode,
 *                       the parameters as they were at each batch, as d2l reports it)
 * @param trainAcc       fraction of training examples classified correctly, same convention
 * @param testAcc        accuracy on the test set in eval mode after the epoch; NaN without a test set
 * @param examplesPerSec training examples per second of the training phase (evaluation excluded)
 * @param seconds        wall time of the whole epoch, training and evaluation
 */
public record EpochRecord(int epoch, double trainLoss, double trainAcc, double testAcc, double examplesPerSec,
                          double seconds) {
}
