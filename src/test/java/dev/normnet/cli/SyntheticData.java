package dev.normnet.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** Writes a small Fashion-MNIST-shaped data set (28 x 28, 10 classes) as the four IDX files. */
final class SyntheticData {
    private SyntheticData() {
    }

    static final String TRAIN_IMAGES = "train-images-idx3-ubyte";
    static final String TRAIN_LABELS = "train-labels-idx1-ubyte";
    static final String TEST_IMAGES = "t10k-images-idx3-ubyte";
    static final String TEST_LABELS = "t10k-labels-idx1-ubyte";

    /** {@code train} and {@code test} images whose brightest row band encodes the label. */
    static Path write(Path dir, int train, int test) throws IOException {
        Files.createDirectories(dir);
        SplittableRandom random = new SplittableRandom(7);
        writeSplit(dir.resolve(TRAIN_IMAGES), dir.resolve(TRAIN_LABELS), train, random);
        writeSplit(dir.resolve(TEST_IMAGES), dir.resolve(TEST_LABELS), test, random);
        return dir;
    }

    private static void writeSplit(Path images, Path labels, int count, SplittableRandom random) throws IOException {
        ByteBuffer img = ByteBuffer.allocate(16 + count * 28 * 28);
        img.putInt(0x803).putInt(count).putInt(28).putInt(28);
        ByteBuffer lab = ByteBuffer.allocate(8 + count);
        lab.putInt(0x801).putInt(count);
        for (int n = 0; n < count; n++) {
            int label = random.nextInt(10);
            lab.put((byte) label);
            for (int y = 0; y < 28; y++) {
                boolean band = y / 3 == label;
                for (int x = 0; x < 28; x++) {
                    img.put((byte) (band ? 200 + random.nextInt(56) : random.nextInt(60)));
                }
            }
        }
        Files.write(images, img.array());
        Files.write(labels, lab.array());
    }
}
