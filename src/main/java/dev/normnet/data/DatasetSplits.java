package dev.normnet.data;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;

/**
 * The training and test halves of a data set and the names of its classes: label {@code k} of
 * either half is class {@code classes.get(k)}. There are 1..256 classes, distinct, and every label
 * of both halves names one of them.
 */
public record DatasetSplits(LabeledImages train, LabeledImages test, List<String> classes) {
    public DatasetSplits {
        Objects.requireNonNull(train, "train");
        Objects.requireNonNull(test, "test");
        classes = List.copyOf(classes);
        if (classes.isEmpty() || classes.size() > 256) {
            throw new IllegalArgumentException("a data set has 1..256 classes, got " + classes.size());
        }
        if (new HashSet<>(classes).size() != classes.size()) {
            throw new IllegalArgumentException("class names are not distinct: " + classes);
        }
        int max = Math.max(maxLabel(train), maxLabel(test));
        if (max >= classes.size()) {
            throw new IllegalArgumentException("label " + max + " but only " + classes.size() + " classes");
        }
    }

    /** The two halves with classes named by their label values: "0", "1", ... up to the largest label. */
    public DatasetSplits(LabeledImages train, LabeledImages test) {
        this(train, test, numbered(Math.max(maxLabel(train), maxLabel(test)) + 1));
    }

    private static List<String> numbered(int n) {
        List<String> names = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            names.add(Integer.toString(i));
        }
        return names;
    }

    private static int maxLabel(LabeledImages images) {
        int max = 0;
        for (byte b : images.labels()) {
            max = Math.max(max, b & 0xFF);
        }
        return max;
    }
}
