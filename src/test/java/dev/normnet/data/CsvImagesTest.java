package dev.normnet.data;

import dev.normnet.HostileInput;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CsvImagesTest {
    @TempDir
    Path tmp;

    private static final String HEADER4 = "label,pixel1,pixel2,pixel3,pixel4\n";

    private LabeledImages idx() {
        Path images = IdxFiles.write(tmp.resolve("images"), IdxFiles.images(12, 28, 28, 1));
        Path labels = IdxFiles.write(tmp.resolve("labels"), IdxFiles.labels(12, 10));
        return Idx.read(images, labels);
    }

    @Test
    void idxImagesRoundTripThroughCsv() {
        LabeledImages expected = idx();
        String[][] variants = {{"\n", "true"}, {"\n", "false"}, {"\r\n", "true"}, {"\r\n", "false"}};
        for (String[] v : variants) {
            Path file = TestImages.writeString(tmp.resolve("fashion-mnist_train.csv"),
                    TestImages.csv(expected, v[0], Boolean.parseBoolean(v[1])));
            LabeledImages got = CsvImages.read(file, 10);
            assertEquals(12, got.count());
            assertEquals(28, got.height());
            assertEquals(28, got.width());
            assertArrayEquals(expected.pixels(), got.pixels());
            assertArrayEquals(expected.labels(), got.labels());
        }
        // gzip-compressed, recognised by content
        Path gz = IdxFiles.write(tmp.resolve("fashion-mnist_test.csv.gz"),
                IdxFiles.gzip(TestImages.csv(expected, "\n", true).getBytes(StandardCharsets.US_ASCII)));
        assertArrayEquals(expected.pixels(), CsvImages.read(gz, 10).pixels());
    }

    @Test
    void rowsBeyondTheFirstAllocationAndOtherSquareSizes() {
        StringBuilder sb = new StringBuilder(HEADER4);
        for (int i = 0; i < 3000; i++) {
            sb.append(i % 3).append(',').append(i % 256).append(",0,255,").append(7).append('\n');
        }
        LabeledImages got = CsvImages.read(TestImages.writeString(tmp.resolve("a.csv"), sb.toString()), 3);
        assertEquals(3000, got.count());
        assertEquals(2, got.height());
        assertEquals(2, got.width());
        assertEquals(2999 % 3, got.label(2999));
        assertEquals((byte) (2999 % 256), got.pixels()[2999 * 4]);
        assertEquals((byte) 255, got.pixels()[2999 * 4 + 2]);
        // a UTF-8 byte order mark and a header in another case are accepted; column names are not checked
        LabeledImages bom = CsvImages.read(TestImages.writeString(tmp.resolve("b.csv"), "\uFEFFLabel,1x1,1x2,2x1,2x2\n2,1,2,3,4"), 3);
        assertArrayEquals(new byte[] {1, 2, 3, 4}, bom.pixels());
    }

    /** The message of reading a file of the 2 x 2 layout whose third line is {@code bad}. */
    private String badRow(String bad) {
        Path file = TestImages.writeString(tmp.resolve("bad.csv"), HEADER4 + "1,0,0,0,0\n" + bad + "\n2,1,1,1,1\n");
        return assertThrows(DataException.class, () -> CsvImages.read(file, 10)).getMessage();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "1,2,3,4          | 3 pixel values, expected 4",
        "1,2,3,4,5,6      | 5 pixel values, expected 4",
        "1,2,3,4,5,6,7,8  | 7 pixel values, expected 4",
        "1,2,256,4,5      | pixel 2 is 256, outside 0..255",
        "1,2,3,-1,5       | pixel 3 is -1, outside 0..255",
        "1,2,3,4,99999999999999999999999999 | pixel 4 is 999999999999999999999999..., outside 0..255",
        "1,abc,3,4,5      | pixel 1 is 'abc', not an integer",
        "1,2, 3,4,5       | pixel 2 is ' 3', not an integer",
        "1,2,3.0,4,5      | pixel 2 is '3.0', not an integer",
        "1,2,-,4,5        | pixel 2 is '-', not an integer",
        "1,2,,4,5         | pixel 2 is empty",
        "10,2,3,4,5       | label 10 is outside 0..9",
        "-1,2,3,4,5       | label -1 is outside 0..9",
        "x,2,3,4,5        | label is 'x', not an integer",
        ",1,2,3,4         | label is empty",
        "''               | empty line",
    })
    void badRowsNameTheFileAndLine(String row, String what) {
        assertEquals(tmp.resolve("bad.csv") + ":3: " + what, badRow(row));
    }

    @Test
    void crOnlyWhereALineEnds() {
        assertEquals(tmp.resolve("bad.csv") + ":3: pixel 1 is '2\r3', not an integer", badRow("1,2\r3,4,5,6"));
        // \r\n mid-file and a final \r are line ends
        Path ok = TestImages.writeString(tmp.resolve("ok.csv"), "label,a,b,c,d\r\n1,0,0,0,0\r\n2,1,1,1,1\r");
        assertEquals(2, CsvImages.read(ok, 10).count());
    }

    private String message(String content) {
        Path file = TestImages.writeString(tmp.resolve("h.csv"), content);
        return assertThrows(DataException.class, () -> CsvImages.read(file, 10)).getMessage()
                .substring(file.toString().length());
    }

    @Test
    void headersAndEmptyFiles() {
        assertEquals(": empty file (expected a header 'label,pixel1,...,pixelN', then one row per image)", message(""));
        assertEquals(":1: empty header line (expected a header 'label,pixel1,...,pixelN', then one row per image)",
                message("\n1,2,3,4,5\n"));
        assertEquals(": a header but no rows (at least one image is needed)", message("label,p1,p2,p3,p4"));
        assertEquals(": a header but no rows (at least one image is needed)", message(HEADER4));
        assertEquals(":2: empty line", message(HEADER4 + "\n"));
        assertEquals(":1: no header: line 1 is a row of numbers; expected a header 'label,pixel1,...,pixelN'",
                message("1,2,3,4,5\n2,3,4,5,6\n"));
        assertEquals(":1: header starts with 'id'; expected a header 'label,pixel1,...,pixelN'",
                message("id,pixel1,pixel2,pixel3,pixel4\n1,2,3,4,5\n"));
        assertEquals(":1: header names 3 pixel columns; expected a square number (784 for 28 x 28 images) of at most 262144",
                message("label,p1,p2,p3\n1,2,3,4\n"));
        assertEquals(":1: header names 0 pixel columns; expected a square number (784 for 28 x 28 images) of at most 262144",
                message("label\n1\n"));
    }

    /**
     * Found by CsvImagesFuzzTest (seed header-65536-columns.csv): the reader allocated its first
     * 1024 rows from the header alone, 64 MiB for a 131 KB file of 65,536 columns and no row (256 MiB
     * at 512 x 512). Now the first allocation is at most 1 MiB (or one row) and grows with the rows.
     */
    @Test
    void aWideHeaderAllocatesNoRowsTheFileDoesNotHold() throws Exception {
        StringBuilder sb = new StringBuilder("label");
        for (int i = 0; i < 256 * 256; i++) {
            sb.append(",p");
        }
        Path wide = TestImages.writeString(tmp.resolve("wide.csv"), sb.append('\n').toString());
        Path small = TestImages.writeString(tmp.resolve("small.csv"), "label,a\n");
        HostileInput.read(small, DataException.class, 0, () -> CsvImages.read(small, 10));   // loads the classes
        HostileInput.Outcome<LabeledImages> got = HostileInput.read(wide, DataException.class,
                4 * java.nio.file.Files.size(wide), () -> CsvImages.read(wide, 10));
        assertEquals(wide + ": a header but no rows (at least one image is needed)", got.refusal().getMessage());
        sb.append("1");
        for (int i = 0; i < 256 * 256; i++) {
            sb.append(",").append(i % 256);
        }
        Path row = TestImages.writeString(tmp.resolve("row.csv"), sb.toString());
        LabeledImages one = CsvImages.read(row, 10);
        assertEquals(1, one.count());
        assertEquals(256, one.height());
        assertEquals(255, one.pixels()[255] & 0xFF);
    }
}
