package dev.normnet.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Builds small IDX files for tests. */
final class IdxFiles {
    private IdxFiles() {
    }

    /** Image file bytes: magic 0x803, count, rows, cols, then pixel i = (i * 7 + seed) mod 256. */
    static byte[] images(int count, int rows, int cols, int seed) {
        ByteBuffer b = ByteBuffer.allocate(16 + count * rows * cols);
        b.putInt(Idx.IMAGES_MAGIC).putInt(count).putInt(rows).putInt(cols);
        for (int i = 0; i < count * rows * cols; i++) {
            b.put((byte) (i * 7 + seed));
        }
        return b.array();
    }

    /** Label file bytes: magic 0x801, count, then label i = i mod classes. */
    static byte[] labels(int count, int classes) {
        ByteBuffer b = ByteBuffer.allocate(8 + count);
        b.putInt(Idx.LABELS_MAGIC).putInt(count);
        for (int i = 0; i < count; i++) {
            b.put((byte) (i % classes));
        }
        return b.array();
    }

    static byte[] gzip(byte[] data) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    static Path write(Path file, byte[] data) {
        try {
            Files.createDirectories(file.getParent());
            return Files.write(file, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes a complete small data set (train 12 images, test 5, 4 x 3 pixels) with torchvision's names. */
    /** A small Fashion-MNIST-shaped data set: 12 training and 5 test images of 28 x 28. */
    static void writeDataset(Path dir, boolean gz) {
        String ext = gz ? ".gz" : "";
        write(dir.resolve("train-images-idx3-ubyte" + ext), maybeGzip(images(12, 28, 28, 1), gz));
        write(dir.resolve("train-labels-idx1-ubyte" + ext), maybeGzip(labels(12, 10), gz));
        write(dir.resolve("t10k-images-idx3-ubyte" + ext), maybeGzip(images(5, 28, 28, 2), gz));
        write(dir.resolve("t10k-labels-idx1-ubyte" + ext), maybeGzip(labels(5, 10), gz));
    }

    private static byte[] maybeGzip(byte[] data, boolean gz) {
        return gz ? gzip(data) : data;
    }
}
