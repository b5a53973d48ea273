package dev.normnet.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Reader for image sets in the CSV layout of Kaggle's copies of Fashion-MNIST and MNIST
 * ({@code fashion-mnist_train.csv}, {@code mnist_test.csv}, ...): one header line whose first field
 * is {@code label}, followed by N pixel columns (Kaggle names them {@code pixel1..pixel784}; their
 * names are not checked), then one line per image: the label, then the N pixels row-major.
 * <p>
 * Rules, each checked as the file streams by (nothing is allocated from a count the file claims, and
 * the arrays grow with the rows that arrive: a header alone allocates at most 1 MiB, or one row):
 * <ul>
 * <li>N is a perfect square (784 gives 28 x 28 images), at most {@value #MAX_PIXELS};</li>
 * <li>every row has exactly 1 + N fields, each a decimal integer (digits, optionally a leading
 * minus sign, no spaces); pixels lie in 0..255, labels in 0..classes-1;</li>
 * <li>lines end with {@code \n} or {@code \r\n}; the last line may lack its line end; an empty line
 * is an error wherever it is;</li>
 * <li>there is at least one row, and at most as many as fit one array of pixels (and at most
 * {@value #MAX_ROWS}).</li>
 * </ul>
 * A gzip-compressed file is read transparently (recognised by its magic bytes). Every error is a
 * {@link DataException} of the form {@code FILE:LINE: what is wrong}, with LINE counted from 1
 * (the header is line 1).
 */
public final class CsvImages {
    /** Largest number of pixel columns accepted (512 x 512). */
    public static final int MAX_PIXELS = 512 * 512;
    /** Largest number of rows accepted. */
    public static final int MAX_ROWS = 10_000_000;

    private static final int MAX_ARRAY = Integer.MAX_VALUE - 16;
    private static final int MAX_HEADER = 16 * MAX_PIXELS;
    private static final int FIRST_ROWS = 1024;
    /** The most bytes of pixels allocated before any row has arrived; arrays grow (doubling) as rows do. */
    private static final int FIRST_PIXELS = 1 << 20;

    private CsvImages() {
    }

    /** Reads the file; labels must lie in 0..classes-1. */
    public static LabeledImages read(Path file, int classes) {
        if (classes < 1 || classes > 256) {
            throw new IllegalArgumentException("classes must be in 1..256, got " + classes);
        }
        try (InputStream in = Idx.open(file)) {
            return new Parser(file, in, classes).parse();
        } catch (IOException e) {
            throw new DataException(file + ": cannot read (" + e + ")", e);
        }
    }

    /** A byte-at-a-time reader over a buffer, with one byte of look-ahead. */
    private static final class Parser {
        private final Path file;
        private final InputStream in;
        private final int classes;
        private final byte[] buf = new byte[1 << 16];
        private int pos;
        private int len;
        private int line = 1;
        /** The text of the field just read (its first bytes), for messages. */
        private final byte[] text = new byte[24];
        private int textLen;
        /** The value of the field just read. */
        private int value;

        Parser(Path file, InputStream in, int classes) {
            this.file = file;
            this.in = in;
            this.classes = classes;
        }

        private int peek() throws IOException {
            if (pos == len) {
                len = Math.max(in.read(buf), 0);
                pos = 0;
                if (len == 0) {
                    return -1;
                }
            }
            return buf[pos] & 0xFF;
        }

        private int next() throws IOException {
            int c = peek();
            if (c >= 0) {
                pos++;
            }
            return c;
        }

        /** True at a line end ({@code \n}, or {@code \r} before {@code \n} or the end of the file). */
        private boolean atLineEnd(int c) throws IOException {
            return c == '\n' || (c == '\r' && (peek() == '\n' || peek() < 0));
        }

        private DataException error(String what) {
            return new DataException(file + ":" + line + ": " + what);
        }

        LabeledImages parse() throws IOException {
            int n = header();
            int side = (int) Math.round(Math.sqrt(n));
            int maxRows = Math.min(MAX_ROWS, MAX_ARRAY / n);
            int firstRows = Math.max(1, Math.min(Math.min(FIRST_ROWS, maxRows), FIRST_PIXELS / n));
            byte[] pixels = new byte[firstRows * n];
            byte[] labels = new byte[firstRows];
            int count = 0;
            while (peek() >= 0) {
                line++;
                if (count == maxRows) {
                    throw error("more than " + maxRows + " rows, the limit for images of " + n + " pixels");
                }
                if (count == labels.length) {
                    int grown = (int) Math.min(maxRows, 2L * labels.length);
                    labels = Arrays.copyOf(labels, grown);
                    pixels = Arrays.copyOf(pixels, grown * n);
                }
                row(n, labels, count, pixels, count * n);
                count++;
            }
            if (count == 0) {
                throw new DataException(file + ": a header but no rows (at least one image is needed)");
            }
            if (count < labels.length) {
                labels = Arrays.copyOf(labels, count);
                pixels = Arrays.copyOf(pixels, count * n);
            }
            return new LabeledImages(pixels, labels, count, side, side);
        }

        /** Reads the header line and returns the number of pixel columns. */
        private int header() throws IOException {
            StringBuilder sb = new StringBuilder();
            int c;
            while ((c = next()) >= 0 && !atLineEnd(c)) {
                if (sb.length() == MAX_HEADER) {
                    throw error("header longer than " + MAX_HEADER + " characters");
                }
                sb.append((char) c);
            }
            if (c == '\r') {
                next();
            }
            String h = sb.toString();
            if (h.startsWith("\u00ef\u00bb\u00bf")) {                   // a UTF-8 byte order mark, read as Latin-1
                h = h.substring(3);
            }
            if (h.isEmpty()) {
                throw new DataException(file + (c < 0 ? ": empty file" : ":1: empty header line")
                        + " (expected a header 'label,pixel1,...,pixelN', then one row per image)");
            }
            String[] fields = h.split(",", -1);
            String first = fields[0].trim();
            if (!first.equalsIgnoreCase("label")) {
                boolean data = first.matches("-?[0-9]+");
                throw error((data ? "no header: line 1 is a row of numbers" : "header starts with '" + shorten(first) + "'")
                        + "; expected a header 'label,pixel1,...,pixelN'");
            }
            int n = fields.length - 1;
            int side = (int) Math.round(Math.sqrt(n));
            if (n < 1 || n > MAX_PIXELS || side * side != n) {
                throw error("header names " + n + " pixel columns; expected a square number (784 for 28 x 28 images)"
                        + " of at most " + MAX_PIXELS);
            }
            return n;
        }

        /** Reads one row of 1 + n fields into labels[index] and pixels[offset ..]. */
        private void row(int n, byte[] labels, int index, byte[] pixels, int offset) throws IOException {
            for (int f = 0; f <= n; f++) {
                int end = field(f);
                if (f == 0) {
                    if (value >= classes) {
                        throw error("label " + textString() + " is outside 0.." + (classes - 1));
                    }
                    labels[index] = (byte) value;
                } else {
                    if (value > 255) {
                        throw error("pixel " + f + " is " + textString() + ", outside 0..255");
                    }
                    pixels[offset + f - 1] = (byte) value;
                }
                if (end != ',' && f < n) {
                    throw error(f + " pixel values, expected " + n);
                }
                if (end == ',' && f == n) {
                    throw error(countRest(n + 1) + " pixel values, expected " + n);
                }
            }
        }

        /**
         * Reads field number {@code f} (0 is the label) and its delimiter, and returns the delimiter:
         * {@code ','}, {@code '\n'} (for {@code \n} and {@code \r\n}) or -1 at the end of the file. The
         * field's value goes to {@link #value}: a negative or overlong number reads as
         * {@link Integer#MAX_VALUE}, out of range for pixels and labels alike.
         */
        private int field(int f) throws IOException {
            textLen = 0;
            long v = 0;
            boolean negative = false;
            boolean digits = false;
            boolean valid = true;
            int c;
            while ((c = next()) >= 0 && c != ',' && c != '\n') {
                if (c == '\r' && (peek() == '\n' || peek() < 0)) {
                    c = next() < 0 ? -1 : '\n';
                    break;
                }
                if (textLen < text.length) {
                    text[textLen] = (byte) c;
                }
                textLen++;
                if (c >= '0' && c <= '9') {
                    digits = true;
                    v = Math.min(v * 10 + (c - '0'), Integer.MAX_VALUE);
                } else if (c == '-' && textLen == 1) {
                    negative = true;
                } else {
                    valid = false;
                }
            }
            if (textLen == 0) {
                throw error(f == 0 && c != ',' ? "empty line" : (f == 0 ? "label" : "pixel " + f) + " is empty");
            }
            if (!valid || !digits) {
                throw error((f == 0 ? "label" : "pixel " + f) + " is '" + textString() + "', not an integer");
            }
            value = negative ? Integer.MAX_VALUE : (int) v;
            return c;
        }

        /** Counts the fields of a line from field number {@code done} on, consuming them. */
        private int countRest(int done) throws IOException {
            int count = done;
            int c;
            while ((c = next()) >= 0 && !atLineEnd(c)) {
                if (c == ',') {
                    count++;
                }
            }
            return count;
        }

        private String textString() {
            String s = new String(text, 0, Math.min(textLen, text.length), StandardCharsets.ISO_8859_1);
            return textLen > text.length ? s + "..." : s;
        }

        private static String shorten(String s) {
            return s.length() > 24 ? s.substring(0, 24) + "..." : s;
        }
    }
}
