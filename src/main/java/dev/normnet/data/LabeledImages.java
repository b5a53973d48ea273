package dev.normnet.data;

import java.util.Objects;

/**
 * A labelled set of single-channel uint8 images, row-major: image {@code i} is
 * {@code pixels[i*height*width .. (i+1)*height*width)} and its class is {@code labels[i]} (0..255).
 */
public record LabeledImages(byte[] pixels, byte[] labels, int count, int height, int width) {
    public LabeledImages {
        Objects.requireNonNull(pixels, "pixels");
        Objects.requireNonNull(labels, "labels");
        if (count < 0 || height < 1 || width < 1) {
            throw new IllegalArgumentException("bad image set geometry: " + count + " x " + height + " x " + width);
        }
        if ((long) count * height * width != pixels.length) {
            throw new IllegalArgumentException("pixel count " + pixels.length + " != " + count + " x " + height + " x " + width);
        }
        if (labels.length != count) {
            throw new IllegalArgumentException(labels.length + " labels for " + count + " images");
        }
    }

    /** Label of image {@code i} as an int in 0..255. */
    public int label(int i) {
        return labels[i] & 0xFF;
    }

    /** The first {@code n} images (a copy), for quick runs with {@code --limit}. */
    public LabeledImages head(int n) {
        if (n >= count) {
            return this;
        }
        int px = height * width;
        return new LabeledImages(java.util.Arrays.copyOf(pixels, n * px), java.util.Arrays.copyOf(labels, n), n, height, width);
    }
}
