package dev.normnet.data;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.ZipException;

/**
 * Reader for the IDX files of MNIST-like data sets: an unsigned-byte image file (magic
 * {@code 0x00000803}, then count, rows and columns as big-endian int32, then count*rows*cols pixels)
 * and its label file (magic {@code 0x00000801}, then count, then one byte per image).
 * <p>
 * A file may be raw or gzip-compressed; compression is recognised by the gzip magic bytes
 * {@code 1f 8b}, not by the file name; bytes after the last gzip member are refused as trailing
 * data, as they are after a raw file's body. Pixels and labels are read with bulk reads straight into
 * their final arrays. Every inconsistency (wrong magic, truncated header or data, trailing bytes,
 * image and label counts that disagree, a label outside the data set's classes) is a
 * {@link DataException} whose message names the file.
 */
public final class Idx {
    /** Magic number of an IDX file of unsigned bytes with three dimensions (images). */
    public static final int IMAGES_MAGIC = 0x00000803;
    /** Magic number of an IDX file of unsigned bytes with one dimension (labels). */
    public static final int LABELS_MAGIC = 0x00000801;
    /** Number of classes of MNIST and Fashion-MNIST. */
    public static final int DEFAULT_CLASSES = 10;

    private static final int IMAGES_HEADER = 16;
    private static final int LABELS_HEADER = 8;
    private static final int BUFFER = 1 << 16;
    /** The first allocation for a file's body; it grows (doubling) only as the data arrives. */
    private static final int CHUNK = 1 << 20;

    private Idx() {
    }

    /** Reads an image file and its label file; labels must lie in 0..9 (10 classes). */
    public static LabeledImages read(Path images, Path labels) {
        return read(images, labels, DEFAULT_CLASSES);
    }

    /** Reads an image file and its label file; labels must lie in 0..classes-1. */
    public static LabeledImages read(Path images, Path labels, int classes) {
        if (classes < 1 || classes > 256) {
            throw new IllegalArgumentException("classes must be in 1..256, got " + classes);
        }
        Images img = readImages(images);
        byte[] lab = readLabels(labels);
        if (lab.length != img.count) {
            throw new DataException(labels + ": " + lab.length + " labels, but " + images + " has "
                    + img.count + " images (the image and label files do not belong together)");
        }
        for (int i = 0; i < lab.length; i++) {
            int v = lab[i] & 0xFF;
            if (v >= classes) {
                throw new DataException(labels + ": label " + v + " at index " + i
                        + " is out of range for a data set of " + classes + " classes (0.." + (classes - 1) + ")");
            }
        }
        return new LabeledImages(img.pixels, lab, img.count, img.rows, img.cols);
    }

    /** The pixels of an image file and its geometry. */
    public record Images(byte[] pixels, int count, int rows, int cols) {
    }

    /** Reads an IDX image file (raw or gzip). */
    public static Images readImages(Path file) {
        try (InputStream in = open(file)) {
            byte[] header = new byte[IMAGES_HEADER];
            int got = in.readNBytes(header, 0, IMAGES_HEADER);
            if (got >= 4) {
                checkMagic(file, intAt(header, 0), IMAGES_MAGIC, "images");
            }
            if (got < IMAGES_HEADER) {
                throw new DataException(file + ": truncated header: " + got + " of " + IMAGES_HEADER
                        + " bytes (magic, count, rows, cols)");
            }
            int count = intAt(header, 4);
            int rows = intAt(header, 8);
            int cols = intAt(header, 12);
            if (count < 0 || rows < 1 || cols < 1) {
                throw new DataException(file + ": bad dimensions " + count + " x " + rows + " x " + cols);
            }
            long n;
            try {
                n = Math.multiplyExact(Math.multiplyExact((long) count, rows), cols);
            } catch (ArithmeticException e) {
                n = Long.MAX_VALUE;                             // the product does not even fit 64 bits
            }
            if (n > Integer.MAX_VALUE - 16) {
                throw new DataException(file + ": dimensions " + count + " x " + rows + " x " + cols + " are too large ("
                        + (n == Long.MAX_VALUE ? "more than 2^63" : Long.toString(n)) + " bytes)");
            }
            byte[] pixels = readBody(file, in, (int) n, "pixels", IMAGES_HEADER);
            return new Images(pixels, count, rows, cols);
        } catch (IOException e) {
            throw ioFailure(file, e);
        }
    }

    /** Reads an IDX label file (raw or gzip). */
    public static byte[] readLabels(Path file) {
        try (InputStream in = open(file)) {
            byte[] header = new byte[LABELS_HEADER];
            int got = in.readNBytes(header, 0, LABELS_HEADER);
            if (got >= 4) {
                checkMagic(file, intAt(header, 0), LABELS_MAGIC, "labels");
            }
            if (got < LABELS_HEADER) {
                throw new DataException(file + ": truncated header: " + got + " of " + LABELS_HEADER
                        + " bytes (magic, count)");
            }
            int count = intAt(header, 4);
            if (count < 0) {
                throw new DataException(file + ": bad label count " + count);
            }
            return readBody(file, in, count, "labels", LABELS_HEADER);
        } catch (IOException e) {
            throw ioFailure(file, e);
        }
    }

    /** True when the file starts with the gzip magic bytes {@code 1f 8b}. */
    public static boolean isGzip(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return in.read() == 0x1f && in.read() == 0x8b;
        } catch (IOException e) {
            throw ioFailure(file, e);
        }
    }

    /** Opens a file for reading, transparently decompressing it when it starts with the gzip magic. */
    static InputStream open(Path file) throws IOException {
        PushbackInputStream in = new PushbackInputStream(Files.newInputStream(file), 2);
        byte[] magic = new byte[2];
        int got = in.readNBytes(magic, 0, 2);
        if (got > 0) {
            in.unread(magic, 0, got);
        }
        if (got == 2 && (magic[0] & 0xFF) == 0x1f && (magic[1] & 0xFF) == 0x8b) {
            return new StrictGzipInputStream(in, file);
        }
        return in;
    }

    /**
     * Reads the n bytes the header announces, never allocating more than the file has delivered
     * (plus one chunk): a small file whose header announces gigabytes fails as truncated without
     * first allocating them.
     */
    private static byte[] readBody(Path file, InputStream in, int n, String what, int headerBytes) throws IOException {
        byte[] data = new byte[Math.min(n, CHUNK)];
        int got = 0;
        while (got < n) {
            if (got == data.length) {
                data = java.util.Arrays.copyOf(data, (int) Math.min(n, 2L * data.length));
            }
            int r = in.read(data, got, data.length - got);
            if (r < 0) {
                break;
            }
            got += r;
        }
        if (got < n) {
            throw new DataException(file + ": truncated data: header announces " + n + " bytes of " + what
                    + ", the file has " + got);
        }
        long extra = skipToEnd(in);
        if (extra > 0) {
            throw new DataException(file + ": trailing garbage: " + extra + " bytes after the "
                    + (headerBytes + (long) n) + " bytes that the header announces");
        }
        return data;
    }

    private static long skipToEnd(InputStream in) throws IOException {
        byte[] buf = new byte[8192];
        long total = 0;
        int r;
        while ((r = in.read(buf)) > 0) {
            total += r;
        }
        return total;
    }

    private static void checkMagic(Path file, int magic, int expected, String kind) {
        if (magic == expected) {
            return;
        }
        String hint = "";
        if (magic == LABELS_MAGIC) {
            hint = " (this is a label file)";
        } else if (magic == IMAGES_MAGIC) {
            hint = " (this is an image file)";
        }
        throw new DataException(String.format("%s: wrong magic 0x%08x, expected 0x%08x for IDX %s%s",
                file, magic, expected, kind, hint));
    }

    private static int intAt(byte[] b, int off) {
        return ((b[off] & 0xFF) << 24) | ((b[off + 1] & 0xFF) << 16) | ((b[off + 2] & 0xFF) << 8) | (b[off + 3] & 0xFF);
    }

    private static DataException ioFailure(Path file, IOException e) {
        if (e instanceof NoSuchFileException) {
            return new DataException(file + ": no such file", e);
        }
        if (e instanceof ZipException) {
            return new DataException(file + ": corrupt gzip data (" + e.getMessage() + ")", e);
        }
        if (e instanceof EOFException) {
            return new DataException(file + ": truncated gzip data (" + e.getMessage() + ")", e);
        }
        return new DataException(file + ": cannot read (" + e + ")", e);
    }
}
