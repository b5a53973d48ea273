package dev.normnet.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxTest {
    @TempDir
    Path dir;

    private static void assertPixels(LabeledImages li, int count, int rows, int cols, int seed) {
        assertEquals(count, li.count());
        assertEquals(rows, li.height());
        assertEquals(cols, li.width());
        for (int i = 0; i < count * rows * cols; i++) {
            assertEquals((byte) (i * 7 + seed), li.pixels()[i], "pixel " + i);
        }
        for (int i = 0; i < count; i++) {
            assertEquals(i % 10, li.label(i), "label " + i);
        }
    }

    private static String message(Path images, Path labels) {
        DataException e = assertThrows(DataException.class, () -> Idx.read(images, labels));
        assertFalse(e.getMessage().contains("\n"), "one-line message: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void readsRawFiles() {
        Path img = IdxFiles.write(dir.resolve("img"), IdxFiles.images(6, 5, 4, 3));
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(6, 10));
        assertFalse(Idx.isGzip(img));
        assertPixels(Idx.read(img, lab), 6, 5, 4, 3);
    }

    @Test
    void readsGzipFiles() {
        Path img = IdxFiles.write(dir.resolve("img.gz"), IdxFiles.gzip(IdxFiles.images(6, 5, 4, 3)));
        Path lab = IdxFiles.write(dir.resolve("lab.gz"), IdxFiles.gzip(IdxFiles.labels(6, 10)));
        assertTrue(Idx.isGzip(img));
        assertPixels(Idx.read(img, lab), 6, 5, 4, 3);
    }

    @Test
    void detectsCompressionByContentNotName() {
        // a gzip file without .gz and a raw file named .gz
        Path img = IdxFiles.write(dir.resolve("images-idx3-ubyte"), IdxFiles.gzip(IdxFiles.images(3, 2, 2, 9)));
        Path lab = IdxFiles.write(dir.resolve("labels-idx1-ubyte.gz"), IdxFiles.labels(3, 10));
        assertPixels(Idx.read(img, lab), 3, 2, 2, 9);
    }

    @Test
    void readsZeroImages() {
        Path img = IdxFiles.write(dir.resolve("img"), IdxFiles.images(0, 28, 28, 0));
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(0, 10));
        LabeledImages li = Idx.read(img, lab);
        assertEquals(0, li.count());
        assertEquals(28, li.width());
    }

    @Test
    void wrongMagicNamesTheFile() {
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(3, 10));
        // a label file passed as images
        String m = message(lab, lab);
        assertTrue(m.startsWith(lab + ": wrong magic 0x00000801, expected 0x00000803"), m);
        byte[] bad = IdxFiles.images(3, 2, 2, 0);
        bad[3] = 0x04;
        Path img = IdxFiles.write(dir.resolve("img"), bad);
        m = message(img, lab);
        assertTrue(m.contains(img + ": wrong magic 0x00000804"), m);
        // an image file passed as labels
        Path good = IdxFiles.write(dir.resolve("good"), IdxFiles.images(3, 2, 2, 0));
        m = message(good, good);
        assertTrue(m.startsWith(good + ": wrong magic 0x00000803, expected 0x00000801"), m);
    }

    @Test
    void truncatedHeader() {
        Path img = IdxFiles.write(dir.resolve("img"), Arrays.copyOf(IdxFiles.images(3, 2, 2, 0), 10));
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(3, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(img + ": truncated header: 10 of 16 bytes"), m);
        Path empty = IdxFiles.write(dir.resolve("empty"), new byte[0]);
        m = message(empty, lab);
        assertTrue(m.startsWith(empty + ": truncated header: 0 of 16"), m);
        Path img2 = IdxFiles.write(dir.resolve("img2"), IdxFiles.images(3, 2, 2, 0));
        Path lab2 = IdxFiles.write(dir.resolve("lab2"), Arrays.copyOf(IdxFiles.labels(3, 10), 6));
        m = message(img2, lab2);
        assertTrue(m.startsWith(lab2 + ": truncated header: 6 of 8"), m);
    }

    @Test
    void truncatedData() {
        byte[] full = IdxFiles.images(3, 2, 2, 0);
        Path img = IdxFiles.write(dir.resolve("img"), Arrays.copyOf(full, full.length - 5));
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(3, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(img + ": truncated data: header announces 12 bytes of pixels, the file has 7"), m);
        // the same inside a gzip stream
        Path gz = IdxFiles.write(dir.resolve("img.gz"), IdxFiles.gzip(Arrays.copyOf(full, full.length - 5)));
        m = message(gz, lab);
        assertTrue(m.startsWith(gz + ": truncated data"), m);
        // and labels
        byte[] labels = IdxFiles.labels(3, 10);
        Path lab2 = IdxFiles.write(dir.resolve("lab2"), Arrays.copyOf(labels, labels.length - 1));
        Path img2 = IdxFiles.write(dir.resolve("img2"), full);
        m = message(img2, lab2);
        assertTrue(m.startsWith(lab2 + ": truncated data: header announces 3 bytes of labels, the file has 2"), m);
    }

    @Test
    void truncatedGzipStream() {
        byte[] gz = IdxFiles.gzip(IdxFiles.images(50, 8, 8, 0));
        Path img = IdxFiles.write(dir.resolve("img.gz"), Arrays.copyOf(gz, gz.length / 2));
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(50, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(img + ": truncated gzip data") || m.startsWith(img + ": corrupt gzip data"), m);
    }

    @Test
    void trailingGarbage() {
        byte[] full = IdxFiles.images(3, 2, 2, 0);
        byte[] longer = Arrays.copyOf(full, full.length + 3);
        Path img = IdxFiles.write(dir.resolve("img"), longer);
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(3, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(img + ": trailing garbage: 3 bytes after the 28 bytes that the header announces"), m);
        Path gz = IdxFiles.write(dir.resolve("img.gz"), IdxFiles.gzip(longer));
        m = message(gz, lab);
        assertTrue(m.startsWith(gz + ": trailing garbage: 3 bytes"), m);
        byte[] labels = IdxFiles.labels(3, 10);
        Path lab2 = IdxFiles.write(dir.resolve("lab2"), Arrays.copyOf(labels, labels.length + 1));
        m = message(IdxFiles.write(dir.resolve("img2"), full), lab2);
        assertTrue(m.startsWith(lab2 + ": trailing garbage: 1 bytes"), m);
    }

    @Test
    void countsThatDisagree() {
        Path img = IdxFiles.write(dir.resolve("img"), IdxFiles.images(4, 2, 2, 0));
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(5, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(lab + ": 5 labels, but " + img + " has 4 images"), m);
    }

    @Test
    void labelOutOfRange() {
        byte[] labels = IdxFiles.labels(4, 10);
        labels[8 + 2] = 10;
        Path img = IdxFiles.write(dir.resolve("img"), IdxFiles.images(4, 2, 2, 0));
        Path lab = IdxFiles.write(dir.resolve("lab"), labels);
        String m = message(img, lab);
        assertTrue(m.startsWith(lab + ": label 10 at index 2 is out of range for a data set of 10 classes"), m);
        labels[10] = (byte) 255;
        IdxFiles.write(lab, labels);
        m = message(img, lab);
        assertTrue(m.contains("label 255 at index 2"), m);
        // with more classes allowed the same file reads
        labels[10] = 10;
        IdxFiles.write(lab, labels);
        assertEquals(10, Idx.read(img, lab, 11).label(2));
    }

    @Test
    void badDimensions() {
        byte[] b = IdxFiles.images(1, 2, 2, 0);
        b[11] = 0; // rows = 0
        Path img = IdxFiles.write(dir.resolve("img"), b);
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(1, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(img + ": bad dimensions 1 x 0 x 2"), m);
        byte[] huge = IdxFiles.images(0, 2, 2, 0);
        huge[4] = 0x7f; // count = 0x7f000000
        IdxFiles.write(img, huge);
        m = message(img, lab);
        assertTrue(m.contains("too large"), m);
    }

    @Test
    void missingFile() {
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(1, 10));
        Path nope = dir.resolve("nope");
        String m = message(nope, lab);
        assertEquals(nope + ": no such file", m);
    }

    @Test
    void readsLabelsAlone() {
        Path lab = IdxFiles.write(dir.resolve("lab.gz"), IdxFiles.gzip(IdxFiles.labels(13, 10)));
        byte[] l = Idx.readLabels(lab);
        assertEquals(13, l.length);
        assertArrayEquals(new byte[] {0, 1, 2}, Arrays.copyOf(l, 3));
    }

    @Test
    void dimensionsWhoseProductWrapsAroundAreTooLarge() {
        // 3463364 x 3235368 x 3292516 wraps a 64-bit product to exactly 784,000
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(16 + 784_000);
        b.putInt(Idx.IMAGES_MAGIC).putInt(3463364).putInt(3235368).putInt(3292516);
        Path img = IdxFiles.write(dir.resolve("img"), b.array());
        Path lab = IdxFiles.write(dir.resolve("lab"), IdxFiles.labels(1, 10));
        String m = message(img, lab);
        assertTrue(m.startsWith(img + ": dimensions 3463364 x 3235368 x 3292516 are too large"), m);
    }

    @Test
    void aHeaderAnnouncingMoreThanTheFileHoldsFailsWithoutAllocatingIt() {
        for (boolean gz : new boolean[] {false, true}) {
            byte[] small = IdxFiles.labels(1000, 10);
            small[4] = 0x7f;                                          // count = 0x7f0003e8 labels, about 2 GB
            Path lab = IdxFiles.write(dir.resolve(gz ? "huge.gz" : "huge"), gz ? IdxFiles.gzip(small) : small);
            long used = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
            DataException e = assertThrows(DataException.class, () -> Idx.readLabels(lab));
            assertTrue(e.getMessage().startsWith(lab + ": truncated data: header announces 2130707432 bytes of labels, the file has 1000"),
                    e.getMessage());
            long after = Runtime.getRuntime().totalMemory() - Runtime.getRuntime().freeMemory();
            assertTrue(after - used < 512L << 20, "allocated " + ((after - used) >> 20) + " MiB for a 1 KB file");
        }
    }

    @Test
    void gzipFollowedByJunkIsRefused() throws Exception {
        byte[] gz = IdxFiles.gzip(IdxFiles.labels(13, 10));
        byte[] junk = java.util.Arrays.copyOf(gz, gz.length + 5);
        System.arraycopy(new byte[] {1, 2, 3, 4, 5}, 0, junk, gz.length, 5);
        Path lab = IdxFiles.write(dir.resolve("junk.gz"), junk);
        DataException e = assertThrows(DataException.class, () -> Idx.readLabels(lab));
        assertTrue(e.getMessage().startsWith(lab + ": corrupt gzip data (5 bytes of trailing data"), e.getMessage());
        // two members one after the other are one valid stream (as gzip -c a b > ab.gz writes)
        byte[] raw = IdxFiles.labels(13, 10);
        byte[] first = IdxFiles.gzip(java.util.Arrays.copyOf(raw, 5));
        byte[] second = IdxFiles.gzip(java.util.Arrays.copyOfRange(raw, 5, raw.length));
        byte[] both = java.util.Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        Path two = IdxFiles.write(dir.resolve("two.gz"), both);
        assertArrayEquals(java.util.Arrays.copyOfRange(raw, 8, raw.length), Idx.readLabels(two));
        // a flipped bit in the compressed data or a wrong CRC is corrupt data
        byte[] flipped = gz.clone();
        flipped[flipped.length - 6] ^= 0x10;                           // inside the stored CRC-32
        Path bad = IdxFiles.write(dir.resolve("crc.gz"), flipped);
        DataException c = assertThrows(DataException.class, () -> Idx.readLabels(bad));
        assertTrue(c.getMessage().startsWith(bad + ": corrupt gzip data"), c.getMessage());
    }

    /**
     * Found by IdxFuzzTest (input crash-717734da...): a gzip member header with the FHCRC flag and a
     * CRC-16 that does not match the header was read as if whole (java.util.zip refuses it). Now the
     * header CRC is checked like the member's CRC-32.
     */
    @Test
    void aGzipHeaderWhoseCrc16DoesNotMatchIsRefused() throws Exception {
        byte[] labels = IdxFiles.labels(3, 10);
        byte[] gz = IdxFiles.gzip(labels);
        byte[] header = Arrays.copyOf(gz, 10);
        header[3] |= 2;                                            // FHCRC: a CRC-16 of the header follows it
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(header);
        int crc16 = (int) crc.getValue() & 0xFFFF;
        for (int wrong = 0; wrong < 2; wrong++) {
            int stored = crc16 ^ wrong;
            byte[] file = new byte[gz.length + 2];
            System.arraycopy(header, 0, file, 0, 10);
            file[10] = (byte) stored;
            file[11] = (byte) (stored >>> 8);
            System.arraycopy(gz, 10, file, 12, gz.length - 10);
            Path p = IdxFiles.write(dir.resolve("labels-" + wrong + ".gz"), file);
            if (wrong == 0) {
                assertArrayEquals(Arrays.copyOfRange(labels, 8, 11), Idx.readLabels(p));
            } else {
                DataException e = assertThrows(DataException.class, () -> Idx.readLabels(p));
                assertEquals(p + ": corrupt gzip data (CRC-16 mismatch in a gzip member header)", e.getMessage());
            }
        }
    }
}
