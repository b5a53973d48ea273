package dev.normnet.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.normnet.HostileInput;
import java.nio.file.Path;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the CSV reader ({@link CsvImages}) with Jazzer; the committed inputs are in
 * {@code src/test/resources/dev/normnet/data/CsvImagesFuzzTestInputs/csv/}.
 *
 * <p>Each input is a file, read with 10 classes. Either it reads, or a {@link DataException} names
 * it. When it reads: count x side x side pixels, square images, labels in 0..9, and the same images
 * written back as CSV read back equal. The reader may allocate at most eight times the file's size
 * (plus {@link HostileInput#SLACK}): every pixel takes at least two bytes of the file.
 */
class CsvImagesFuzzTest {
    private static final HostileInput SCRATCH = new HostileInput("csv");

    static {
        HostileInput.warmUp(new CsvImagesFuzzTest()::csv, CsvImagesFuzzTest::seeds);
    }

    @FuzzTest(maxDuration = "10s")
    void csv(byte[] input) throws Exception {
        Path file = SCRATCH.write("images.csv", input);
        HostileInput.Outcome<LabeledImages> got = HostileInput.read(file, DataException.class, 8L * input.length,
                () -> CsvImages.read(file, 10));
        if (!got.ok()) {
            return;
        }
        LabeledImages images = got.value();
        HostileInput.check(images.count() >= 1, "an image set of no images");
        HostileInput.check(images.height() == images.width(), "images of " + images.height() + " x " + images.width());
        HostileInput.check((long) images.count() * images.height() * images.width() == images.pixels().length,
                "count x side x side != pixels");
        for (int i = 0; i < images.count(); i++) {
            HostileInput.check(images.label(i) < 10, "label " + images.label(i));
        }
        Path again = SCRATCH.write("again.csv", TestImages.csv(images, "\n", true).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        LabeledImages back = CsvImages.read(again, 10);
        HostileInput.check(Arrays.equals(back.pixels(), images.pixels()) && Arrays.equals(back.labels(), images.labels()),
                "the images written back as CSV read back different");
    }

    @Test
    void committedSeedsAreTheGeneratedOnes() throws IOException {
        HostileInput.checkSeeds(CsvImagesFuzzTest.class, "csv", seeds());
    }

    /** Seed inputs: small valid files in each line-end style, and each kind of bad row and header. */
    static Map<String, byte[]> seeds() {
        Map<String, byte[]> m = new LinkedHashMap<>();
        LabeledImages two = new LabeledImages(new byte[] {0, 1, (byte) 254, (byte) 255, 9, 8, 7, 6}, new byte[] {3, 9}, 2, 2, 2);
        m.put("two-2x2.csv", ascii(TestImages.csv(two, "\n", true)));
        m.put("two-2x2-crlf.csv", ascii(TestImages.csv(two, "\r\n", false)));
        m.put("two-2x2.csv.gz", IdxFiles.gzip(ascii(TestImages.csv(two, "\n", true))));
        m.put("bom.csv", "\uFEFFlabel,a,b,c,d\n1,2,3,4,5".getBytes(StandardCharsets.UTF_8));
        m.put("one-1x1.csv", ascii("label,p\n0,0"));
        m.put("pixel-256.csv", ascii("label,a,b,c,d\n1,2,3,256,5\n"));
        m.put("pixel-negative.csv", ascii("label,a,b,c,d\n1,2,-3,4,5\n"));
        m.put("label-10.csv", ascii("label,a,b,c,d\n10,2,3,4,5\n"));
        m.put("pixel-huge.csv", ascii("label,a,b,c,d\n1,2,99999999999999999999999,4,5\n"));
        m.put("too-many-fields.csv", ascii("label,a,b,c,d\n1,2,3,4,5,6\n"));
        m.put("too-few-fields.csv", ascii("label,a,b,c,d\n1,2,3\n"));
        m.put("empty-line.csv", ascii("label,a,b,c,d\n\n1,2,3,4,5\n"));
        m.put("lone-cr.csv", ascii("label,a,b,c,d\n1,2,3\r,4,5\n"));
        m.put("not-square.csv", ascii("label,a,b,c\n1,2,3,4\n"));
        m.put("no-header.csv", ascii("1,2,3,4,5\n"));
        m.put("header-only.csv", ascii("label,a,b,c,d\n"));
        m.put("empty.csv", new byte[0]);
        StringBuilder wide = new StringBuilder("label");
        for (int i = 0; i < 256 * 256; i++) {
            wide.append(",p");
        }
        m.put("header-65536-columns.csv", ascii(wide.append("\n").toString()));
        return m;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }
}
