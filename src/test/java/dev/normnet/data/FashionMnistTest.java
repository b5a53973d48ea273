package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistTest {
    static final Path DEBIAN = Path.of("/usr/share/datasets/fashion-mnist");

    static boolean debianPresent() {
        return FashionMnist.DATASET.firstMissing(DEBIAN) == null;
    }

    @TempDir
    Path dir;

    @Test
    void loadsTorchvisionNamesRawAndGzip() {
        IdxFiles.writeDataset(dir.resolve("raw"), false);
        IdxFiles.writeDataset(dir.resolve("gz"), true);
        for (String sub : new String[] {"raw", "gz"}) {
            DatasetSplits s = FashionMnist.load(dir.resolve(sub));
            assertEquals(12, s.train().count());
            assertEquals(5, s.test().count());
            assertEquals(28, s.train().height());
            assertEquals(28, s.train().width());
            assertEquals((byte) 1, s.train().pixels()[0]);
            assertEquals((byte) 2, s.test().pixels()[0]);
            assertEquals(4, s.test().label(4));
        }
        DatasetSplits m = Mnist.load(dir.resolve("gz"));
        assertEquals(12, m.train().count());
    }

    @Test
    void missingFileNamesDirAndFile() {
        IdxFiles.writeDataset(dir, true);
        Path gone = dir.resolve("t10k-labels-idx1-ubyte.gz");
        try {
            Files.delete(gone);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        DataException e = assertThrows(DataException.class, () -> FashionMnist.load(dir));
        assertTrue(e.getMessage().startsWith(dir + ": missing t10k-labels-idx1-ubyte[.gz]"), e.getMessage());
        DataException e2 = assertThrows(DataException.class, () -> FashionMnist.load(dir.resolve("nope")));
        assertTrue(e2.getMessage().startsWith(dir.resolve("nope") + ": no such directory"), e2.getMessage());
    }

    @Test
    void classNames() {
        assertEquals(10, FashionMnist.CLASS_NAMES.size());
        assertEquals("T-shirt/top", FashionMnist.className(0));
        assertEquals("Trouser", FashionMnist.className(1));
        assertEquals("Ankle boot", FashionMnist.className(9));
        assertEquals("7", Mnist.CLASS_NAMES.get(7));
    }

    @Test
    void realFashionMnistFromDebian() {
        assumeTrue(debianPresent(), "Fashion-MNIST not installed at " + DEBIAN + " (apt-get install dataset-fashion-mnist)");
        long t0 = System.nanoTime();
        DatasetSplits s = FashionMnist.load(DEBIAN);
        double seconds = (System.nanoTime() - t0) / 1e9;
        System.out.printf("read Fashion-MNIST (70000 images, gzip) from %s in %.2f s%n", DEBIAN, seconds);
        assertEquals(60000, s.train().count());
        assertEquals(10000, s.test().count());
        for (LabeledImages li : new LabeledImages[] {s.train(), s.test()}) {
            assertEquals(28, li.height());
            assertEquals(28, li.width());
        }
        int[] train = histogram(s.train());
        int[] test = histogram(s.test());
        for (int c = 0; c < 10; c++) {
            assertEquals(6000, train[c], "train images of class " + c);
            assertEquals(1000, test[c], "test images of class " + c);
        }
        // first training image is class 9 (Ankle boot), as every Fashion-MNIST reader shows
        assertEquals(9, s.train().label(0));
        assertTrue(seconds < 10, "reading took " + seconds + " s");
    }

    @Test
    void pinnedContentDigestsMatchDebianFiles() throws Exception {
        assumeTrue(debianPresent(), "Fashion-MNIST not installed at " + DEBIAN);
        for (IdxDataset.RemoteFile f : FashionMnist.DATASET.files()) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Idx.open(DEBIAN.resolve(f.name()))) {
                byte[] buf = new byte[1 << 16];
                int r;
                while ((r = in.read(buf)) > 0) {
                    sha.update(buf, 0, r);
                }
            }
            assertEquals(f.contentSha256(), HexFormat.of().formatHex(sha.digest()), f.name());
        }
    }

    private static int[] histogram(LabeledImages li) {
        int[] h = new int[10];
        for (int i = 0; i < li.count(); i++) {
            h[li.label(i)]++;
        }
        return h;
    }

    @Test
    void emptySplitsAndImagesOfTheWrongSizeAreRefusedNamingTheFile() {
        Path empty = dir.resolve("empty");
        IdxFiles.writeDataset(empty, false);
        IdxFiles.write(empty.resolve("t10k-images-idx3-ubyte"), IdxFiles.images(0, 28, 28, 0));
        IdxFiles.write(empty.resolve("t10k-labels-idx1-ubyte"), IdxFiles.labels(0, 10));
        DataException e = assertThrows(DataException.class, () -> FashionMnist.load(empty));
        assertEquals(empty.resolve("t10k-images-idx3-ubyte") + ": no images (every split of fashion-mnist needs at least one)",
                e.getMessage());
        for (int[] size : new int[][] {{7, 7}, {1, 784}, {32, 32}}) {
            Path odd = dir.resolve("odd" + size[0] + "x" + size[1]);
            IdxFiles.writeDataset(odd, true);
            IdxFiles.write(odd.resolve("train-images-idx3-ubyte.gz"), IdxFiles.gzip(IdxFiles.images(12, size[0], size[1], 1)));
            DataException o = assertThrows(DataException.class, () -> FashionMnist.load(odd));
            assertEquals(odd.resolve("train-images-idx3-ubyte.gz") + ": images of " + size[0] + " x " + size[1]
                    + " pixels, but fashion-mnist images are 28 x 28", o.getMessage());
        }
    }
}
