package dev.normnet.train;

import com.fasterxml.jackson.annotation.JsonProperty;

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
 *
 * <p>In JSON (a history file's {@code "history"} entries): {@code {"epoch": 1, "train_loss": ...,
 * "train_acc": ..., "test_acc": ..., "examples_per_sec": ..., "seconds": ...}}, every key required;
 * a NaN is written as {@code null} and read back as NaN.
 */
public record EpochRecord(@JsonProperty(value = "epoch", required = true) int epoch,
                          @JsonProperty(value = "train_loss", required = true) double trainLoss,
                          @JsonProperty(value = "train_acc", required = true) double trainAcc,
                          @JsonProperty(value = "test_acc", required = true) double testAcc,
                          @JsonProperty(value = "examples_per_sec", required = true) double examplesPerSec,
                          @JsonProperty(value = "seconds", required = true) double seconds) {
}
