package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which layout {@code --data DIR} holds, and what each layout loads to. */
class DataLayoutTest {
    @TempDir
    Path tmp;

    private DataDiscovery discovery() {
        return new DataDiscovery(Map.of(), tmp.resolve("cwd"), Map.of("fashion-mnist", tmp.resolve("none"),
                "mnist", tmp.resolve("none")), "http://127.0.0.1:1/", null);
    }

    /** The IDX data set of {@link IdxFiles#writeDataset} as it reads, for comparisons. */
    private DatasetSplits idxSplits() {
        Path dir = tmp.resolve("reference");
        IdxFiles.writeDataset(dir, false);
        return FashionMnist.load(dir);
    }

    private static void writeCsv(Path dir, String id, DatasetSplits s) {
        TestImages.writeString(dir.resolve(id + "_train.csv"), TestImages.csv(s.train(), "\n", true));
        TestImages.writeString(dir.resolve(id + "_test.csv"), TestImages.csv(s.test(), "\r\n", false));
    }

    private static void writeImageFolder(Path dir, LabeledImages set, String split, List<String> classes) {
        for (int i = 0; i < set.count(); i++) {
            TestImages.write(dir.resolve(split).resolve(classes.get(set.label(i))).resolve(i + ".png"),
                    TestImages.gray(set.pixels(), i * 784, 28, 28), "png");
        }
    }

    @Test
    void explicitDirIsIdxElseCsvElseImageFolder() {
        DatasetSplits ref = idxSplits();
        Path dir = tmp.resolve("data");
        IdxFiles.writeDataset(dir, true);
        writeCsv(dir, "fashion-mnist", ref);
        writeImageFolder(dir, ref.train(), "train", List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"));
        writeImageFolder(dir, ref.test(), "test", List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"));
        DataDiscovery d = discovery();
        DataSource idx = d.locateSource("fashion-mnist", dir);
        assertEquals(DataSource.Layout.IDX, idx.layout());
        assertEquals(dir, idx.dir());
        assertEquals("fashion-mnist", idx.dataset().id());
        try {
            for (String f : FashionMnist.DATASET.baseNames()) {
                Files.delete(dir.resolve(f + ".gz"));
            }
            assertEquals(DataSource.Layout.CSV, d.locateSource("fashion-mnist", dir).layout());
            // mnist looks for its own CSV names
            assertEquals(DataSource.Layout.IMAGE_FOLDER, d.locateSource("mnist", dir).layout());
            Files.delete(dir.resolve("fashion-mnist_test.csv"));
            DataSource folder = d.locateSource("fashion-mnist", dir);
            assertEquals(DataSource.Layout.IMAGE_FOLDER, folder.layout());
            assertEquals(dir, d.locate("fashion-mnist", dir));
            assertEquals("image folder", folder.layout().toString());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void eachLayoutLoadsTheSameImages() {
        DatasetSplits ref = idxSplits();
        Path idx = tmp.resolve("idx");
        IdxFiles.writeDataset(idx, false);
        Path csv = tmp.resolve("csv");
        writeCsv(csv, "fashion-mnist", ref);
        Path mnistCsv = tmp.resolve("mnist-csv");
        writeCsv(mnistCsv, "mnist", ref);
        Path folder = tmp.resolve("folder");
        List<String> names = List.of("c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9");
        writeImageFolder(folder, ref.train(), "train", names);
        writeImageFolder(folder, ref.test(), "test", names);

        DataDiscovery d = discovery();
        DatasetSplits fromIdx = d.locateSource("fashion-mnist", idx).load(28);
        assertEquals(FashionMnist.CLASS_NAMES, fromIdx.classes());
        DatasetSplits fromCsv = d.locateSource("fashion-mnist", csv).load(28);
        assertEquals(FashionMnist.CLASS_NAMES, fromCsv.classes());
        assertEquals(Mnist.CLASS_NAMES, d.locateSource("mnist", mnistCsv).load(28).classes());
        DatasetSplits fromFolder = d.locateSource("fashion-mnist", folder).load(28);
        assertEquals(names, fromFolder.classes());
        for (DatasetSplits s : List.of(fromIdx, fromCsv)) {
            assertArrayEquals(ref.train().pixels(), s.train().pixels());
            assertArrayEquals(ref.train().labels(), s.train().labels());
            assertArrayEquals(ref.test().pixels(), s.test().pixels());
            assertArrayEquals(ref.test().labels(), s.test().labels());
        }
        // the folder holds the same pictures in class order; each one is found there pixel for pixel
        assertEquals(ref.train().count(), fromFolder.train().count());
        for (int i = 0; i < ref.train().count(); i++) {
            assertTrue(contains(fromFolder.train(), ref.train(), i), "train image " + i);
        }
        for (int i = 0; i < ref.test().count(); i++) {
            assertTrue(contains(fromFolder.test(), ref.test(), i), "test image " + i);
        }
    }

    /** True when image i of {@code ref} is in {@code set} with the same label. */
    private static boolean contains(LabeledImages set, LabeledImages ref, int i) {
        int px = 784;
        for (int k = 0; k < set.count(); k++) {
            if (set.label(k) == ref.label(i) && java.util.Arrays.equals(set.pixels(), k * px, (k + 1) * px,
                    ref.pixels(), i * px, (i + 1) * px)) {
                return true;
            }
        }
        return false;
    }

    @Test
    void noLayoutNamesTheDirectoryAndAllThree() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("empty"));
        DataException e = assertThrows(DataException.class, () -> discovery().locateSource("fashion-mnist", dir));
        assertEquals("--data " + dir + ": no fashion-mnist data in any of the three layouts:"
                + " IDX files (missing train-images-idx3-ubyte[.gz]; needs train-images-idx3-ubyte,"
                + " train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or .gz),"
                + " CSV files (missing fashion-mnist_train.csv[.gz]; needs fashion-mnist_train.csv and"
                + " fashion-mnist_test.csv), or an image folder (no train directory; needs train/CLASS/*.png and"
                + " test/CLASS/*.png, or .jpg, .jpeg)", e.getMessage());
        Files.createDirectories(dir.resolve("train/a"));
        TestImages.writeString(dir.resolve("mnist_train.csv"), "label,p\n1,2\n");
        String m = assertThrows(DataException.class, () -> discovery().locateSource("mnist", dir)).getMessage();
        assertTrue(m.contains("CSV files (missing mnist_test.csv[.gz]; needs mnist_train.csv and mnist_test.csv)"), m);
        assertTrue(m.contains("an image folder (no test directory;"), m);
    }

    @Test
    void csvImagesOfAnotherSizeAreRefused() {
        Path dir = tmp.resolve("small");
        String csv = "label,a,b,c,d\n1,2,3,4,5\n";
        TestImages.writeString(dir.resolve("fashion-mnist_train.csv"), csv);
        TestImages.writeString(dir.resolve("fashion-mnist_test.csv"), csv);
        DataSource source = discovery().locateSource("fashion-mnist", dir);
        DataException e = assertThrows(DataException.class, () -> source.load(28));
        assertEquals(dir.resolve("fashion-mnist_train.csv") + ": images of 2 x 2 pixels, but fashion-mnist images"
                + " are 28 x 28", e.getMessage());
    }

    @Test
    void splitsCarryCheckedClassNames() {
        LabeledImages one = new LabeledImages(new byte[4], new byte[] {3}, 1, 2, 2);
        assertEquals(List.of("0", "1", "2", "3"), new DatasetSplits(one, one).classes());
        assertThrows(IllegalArgumentException.class, () -> new DatasetSplits(one, one, List.of("a", "b", "c")));
        assertThrows(IllegalArgumentException.class, () -> new DatasetSplits(one, one, List.of("a", "b", "a", "d")));
        assertThrows(IllegalArgumentException.class, () -> new DatasetSplits(one, one, List.of()));
        assertEquals(List.of("a", "b", "c", "d"), new DatasetSplits(one, one, List.of("a", "b", "c", "d")).classes());
    }
}
