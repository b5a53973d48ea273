package dev.normnet.backend.cpu;

import dev.normnet.backend.ResidentImages;

/**
 * A labelled uint8 image set held on the Java heap for {@link CpuBackend#gatherBatch}: image
 * {@code i} is {@code pixels[i*height*width .. (i+1)*height*width)}, its class {@code labels[i] & 0xFF}.
 * The arrays are shared, not copied.
 */
public final class CpuResidentImages implements ResidentImages {
    private final byte[] pixels;
    private final byte[] labels;
    private final int count;
    private final int height;
    private final int width;

    public CpuResidentImages(byte[] pixels, byte[] labels, int count, int height, int width) {
        if (pixels == null || labels == null) {
            throw new IllegalArgumentException("uploadImages: pixels and labels must not be null");
        }
        if (count < 0 || height < 1 || width < 1) {
            throw new IllegalArgumentException("uploadImages: bad geometry " + count + " x " + height + " x " + width);
        }
        if ((long) count * height * width != pixels.length) {
            throw new IllegalArgumentException("uploadImages: " + pixels.length + " pixels for "
                    + count + " images of " + height + " x " + width);
        }
        if (labels.length != count) {
            throw new IllegalArgumentException("uploadImages: " + labels.length + " labels for " + count + " images");
        }
        this.pixels = pixels;
        this.labels = labels;
        this.count = count;
        this.height = height;
        this.width = width;
    }

    /** All pixels, row-major, {@code count * height * width} bytes. */
    public byte[] pixels() {
        return pixels;
    }

    /** All labels, one byte per image. */
    public byte[] labels() {
        return labels;
    }

    @Override
    public int count() {
        return count;
    }

    @Override
    public int height() {
        return height;
    }

    @Override
    public int width() {
        return width;
    }

    /** Heap memory is reclaimed by the garbage collector; nothing to free. */
    @Override
    public void close() {
    }
}
