package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderTest {
    @TempDir
    Path tmp;

    private static final List<String> DIGITS = List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");

    private LabeledImages idx(int count, int seed) {
        Path images = IdxFiles.write(tmp.resolve("idx/images" + seed), IdxFiles.images(count, 28, 28, seed));
        Path labels = IdxFiles.write(tmp.resolve("idx/labels" + seed), IdxFiles.labels(count, 10));
        return Idx.read(images, labels);
    }

    /** Writes image i of {@code set} as {@code split/<label>/<i, five digits>.png}. */
    private static void writeSplit(Path split, LabeledImages set) {
        for (int i = 0; i < set.count(); i++) {
            TestImages.write(split.resolve(Integer.toString(set.label(i))).resolve(String.format("%05d.png", i)),
                    TestImages.gray(set.pixels(), i * 784, 28, 28), "png");
        }
    }

    /** The images of {@code set} in an image folder's order: by label, then by index. */
    private static LabeledImages byLabel(LabeledImages set) {
        List<Integer> order = new ArrayList<>();
        for (int c = 0; c < 10; c++) {
            for (int i = 0; i < set.count(); i++) {
                if (set.label(i) == c) {
                    order.add(i);
                }
            }
        }
        byte[] px = new byte[set.pixels().length];
        byte[] lab = new byte[set.count()];
        for (int k = 0; k < order.size(); k++) {
            System.arraycopy(set.pixels(), order.get(k) * 784, px, k * 784, 784);
            lab[k] = set.labels()[order.get(k)];
        }
        return new LabeledImages(px, lab, set.count(), 28, 28);
    }

    @Test
    void idxImagesRoundTripThroughPngFolders() {
        LabeledImages train = idx(23, 1);
        LabeledImages test = idx(10, 2);
        writeSplit(tmp.resolve("d/train"), train);
        writeSplit(tmp.resolve("d/test"), test);
        assertTrue(ImageFolder.isLayout(tmp.resolve("d")));
        DatasetSplits s = ImageFolder.load(tmp.resolve("d"), 28);
        assertEquals(DIGITS, s.classes());
        assertArrayEquals(byLabel(train).pixels(), s.train().pixels());
        assertArrayEquals(byLabel(train).labels(), s.train().labels());
        assertArrayEquals(byLabel(test).pixels(), s.test().pixels());
        assertArrayEquals(byLabel(test).labels(), s.test().labels());

        // the same pictures at another side: each is resized on its own
        DatasetSplits half = ImageFolder.load(tmp.resolve("d"), 14);
        assertEquals(14, half.train().height());
        byte[] first = Arrays.copyOf(byLabel(train).pixels(), 784);
        assertArrayEquals(Resize.resample(first, 28, 28, 14, 14), Arrays.copyOf(half.train().pixels(), 196));
    }

    private static void picture(Path file, int level) {
        byte[] px = new byte[4 * 4];
        Arrays.fill(px, (byte) level);
        TestImages.write(file, TestImages.gray(px, 0, 4, 4), file.toString().endsWith(".png") ? "png" : "jpeg");
    }

    @Test
    void classesOrderAndWhatIsSkipped() throws IOException {
        Path d = tmp.resolve("d");
        // classes in code-point order: upper case before lower case, "b" before "b2"
        picture(d.resolve("train/cat/b.png"), 1);
        picture(d.resolve("train/cat/a.PNG"), 2);
        picture(d.resolve("train/cat/sub/a.png"), 3);
        picture(d.resolve("train/cat/a b/z.png"), 4);
        picture(d.resolve("train/Zebra/x.jpg"), 100);
        picture(d.resolve("train/b2/x.jpeg"), 150);
        picture(d.resolve("train/b/x.png"), 5);
        // skipped: other extensions, hidden files and folders, files beside the class folders
        TestImages.writeString(d.resolve("train/cat/notes.txt"), "not a picture");
        TestImages.writeString(d.resolve("train/cat/.hidden.png"), "not a picture either");
        picture(d.resolve("train/cat/.cache/c.png"), 9);
        picture(d.resolve("train/.git/c.png"), 9);
        TestImages.writeString(d.resolve("train/README.png"), "a file, not a class folder");
        // test holds a subset of the classes and keeps train's labels
        picture(d.resolve("test/cat/t.png"), 7);
        picture(d.resolve("test/b2/t.png"), 8);

        DatasetSplits s = ImageFolder.load(d, 4);
        assertEquals(List.of("Zebra", "b", "b2", "cat"), s.classes());
        int[] levels = new int[s.train().count()];
        for (int i = 0; i < levels.length; i++) {
            levels[i] = s.train().pixels()[i * 16] & 0xFF;
        }
        assertTrue(Math.abs(levels[0] - 100) <= 1 && levels[1] == 5 && Math.abs(levels[2] - 150) <= 1,
                Arrays.toString(levels));
        // cat: the files of cat/ (a.PNG, b.png), then of "cat/a b", then of cat/sub
        assertArrayEquals(new int[] {2, 1, 4, 3}, Arrays.copyOfRange(levels, 3, 7), Arrays.toString(levels));
        assertArrayEquals(new byte[] {0, 1, 2, 3, 3, 3, 3}, s.train().labels());
        assertArrayEquals(new byte[] {2, 3}, s.test().labels());
        assertEquals(7, s.test().pixels()[16]);
    }

    private String failure(Path dir) {
        return assertThrows(DataException.class, () -> ImageFolder.load(dir, 28)).getMessage();
    }

    @Test
    void badFoldersFailNamingThePath() throws IOException {
        Path d = tmp.resolve("d");
        picture(d.resolve("train/a/x.png"), 1);
        assertFalse(ImageFolder.isLayout(d));
        assertEquals(d.resolve("test") + ": no such directory (an image folder holds train/CLASS/*.png and"
                + " test/CLASS/*.png, or .jpg, .jpeg)", failure(d));
        Files.createDirectories(d.resolve("test"));
        assertEquals(d.resolve("test") + ": no class folders (expected test/CLASS/*.png, .jpg or .jpeg, one folder"
                + " per class)", failure(d));
        picture(d.resolve("test/b/x.png"), 1);
        assertEquals(d.resolve("test/b") + ": class 'b' has no folder in " + d.resolve("train")
                + " (the classes are the folders of train: a)", failure(d));
        picture(d.resolve("train/b/x.png"), 1);
        Files.createDirectories(d.resolve("train/c"));
        TestImages.writeString(d.resolve("train/c/x.gif"), "GIF89a");
        assertEquals(d.resolve("train/c") + ": no .png, .jpg or .jpeg files (every class folder needs at least one)",
                failure(d));
        Path broken = TestImages.writeString(d.resolve("train/c/y.png"), "not a PNG");
        assertEquals(broken + ": not a PNG or JPEG image (unrecognised content)", failure(d));
        Files.write(broken, new byte[0]);
        assertEquals(broken + ": not a PNG or JPEG image (the file is empty)", failure(d));
        picture(broken, 3);
        assertEquals(List.of("a", "b", "c"), ImageFolder.load(d, 28).classes());
    }

    @Test
    void codePointOrderIsPythons() {
        // U+FF21 (fullwidth A) sorts before U+1F600 (an emoji, a surrogate pair in UTF-16) by code point,
        // after it by UTF-16 unit
        String fullwidth = "\uFF21";
        String emoji = new String(Character.toChars(0x1F600));
        assertTrue(fullwidth.compareTo(emoji) > 0);
        assertTrue(ImageFolder.compareCodePoints(fullwidth, emoji) < 0);
        assertTrue(ImageFolder.compareCodePoints("b", "b2") < 0);
        assertTrue(ImageFolder.compareCodePoints("B", "a") < 0);
        assertEquals(0, ImageFolder.compareCodePoints("x", "x"));
    }
}
