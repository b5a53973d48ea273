package dev.normnet.data;

import java.util.Objects;

/** The training and test halves of a data set. */
public record DatasetSplits(LabeledImages train, LabeledImages test) {
    public DatasetSplits {
        Objects.requireNonNull(train, "train");
        Objects.requireNonNull(test, "test");
    }
}
