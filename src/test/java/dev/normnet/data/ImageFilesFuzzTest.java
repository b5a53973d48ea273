package dev.normnet.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.normnet.HostileInput;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the picture readers ({@link ImageFiles}, {@link ImageFolder}) with Jazzer; the committed
 * inputs (small PNG and JPEG files, good and bad) are in
 * {@code src/test/resources/dev/normnet/data/ImageFilesFuzzTestInputs/image/}.
 *
 * <p>Each input is a file read as a 28 x 28 grey picture. Either it reads, or a
 * {@link DataException} names it. When it reads: 784 values, and an image folder holding it as its
 * one training and one test picture gives the same values. Allocation is bounded by 10,000 bytes per
 * byte of the file (plus {@link HostileInput#SLACK}): deflate inflates at most 1032-fold and a
 * 1-bit PNG holds 8 pixels a byte, and a JPEG needs at least one bit per 8 x 8 block.
 */
class ImageFilesFuzzTest {
    private static final HostileInput SCRATCH = new HostileInput("image");

    static {
        HostileInput.warmUp(new ImageFilesFuzzTest()::image, ImageFilesFuzzTest::seeds);
    }

    @FuzzTest(maxDuration = "10s")
    void image(byte[] input) throws Exception {
        Path file = SCRATCH.write("picture.png", input);
        HostileInput.Outcome<byte[]> got = HostileInput.read(file, DataException.class, 10_000L * input.length,
                () -> ImageFiles.readGray(file, 28, false));
        if (!got.ok()) {
            return;
        }
        HostileInput.check(got.value().length == 28 * 28, got.value().length + " values for a 28 x 28 picture");
        Path dir = SCRATCH.dir().resolve("folder");
        SCRATCH.write("folder/train/a/x.png", input);
        SCRATCH.write("folder/test/a/x.png", input);
        DatasetSplits splits = ImageFolder.load(dir, 28);
        HostileInput.check(Arrays.equals(splits.train().pixels(), got.value())
                && Arrays.equals(splits.test().pixels(), got.value()), "the image folder read the picture differently");
    }

    @Test
    void committedSeedsAreTheGeneratedOnes() throws IOException {
        HostileInput.checkSeeds(ImageFilesFuzzTest.class, "image", seeds());
    }

    /** Seed inputs: small PNGs of each colour type and depth, small JPEGs, and broken ones. */
    static Map<String, byte[]> seeds() throws IOException {
        Map<String, byte[]> m = new LinkedHashMap<>();
        int[] types = {BufferedImage.TYPE_BYTE_GRAY, BufferedImage.TYPE_USHORT_GRAY, BufferedImage.TYPE_BYTE_BINARY,
                BufferedImage.TYPE_INT_RGB, BufferedImage.TYPE_INT_ARGB, BufferedImage.TYPE_BYTE_INDEXED};
        String[] names = {"gray8", "gray16", "gray1", "rgb", "rgba", "palette"};
        for (int t = 0; t < types.length; t++) {
            BufferedImage img = new BufferedImage(5, 3, types[t]);
            for (int y = 0; y < 3; y++) {
                for (int x = 0; x < 5; x++) {
                    img.setRGB(x, y, (x * 50) << 16 | (y * 80) << 8 | (x * y * 20) | (x == 0 ? 0x40000000 : 0xFF000000));
                }
            }
            m.put(names[t] + "-5x3.png", encode(img, "png"));
            if (t == 0 || t == 3) {
                m.put(names[t] + "-5x3.jpg", encode(img, "jpeg"));
            }
        }
        byte[] png = m.get("gray8-5x3.png");
        m.put("png-truncated", Arrays.copyOf(png, png.length / 2));
        byte[] huge = png.clone();
        ByteBuffer.wrap(huge).putInt(16, 8192).putInt(20, 8192);   // IHDR width and height, the pixels left as they are
        m.put("png-claims-8192x8192", huge);
        byte[] wide = png.clone();
        ByteBuffer.wrap(wide).putInt(16, 1 << 30);
        m.put("png-claims-2^30-wide", wide);
        byte[] jpg = m.get("gray8-5x3.jpg");
        m.put("jpg-truncated", Arrays.copyOf(jpg, jpg.length - 20));
        m.put("empty", new byte[0]);
        m.put("text", "not a picture\n".getBytes(StandardCharsets.US_ASCII));
        return m;
    }

    private static byte[] encode(BufferedImage image, String format) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        if (!ImageIO.write(image, format, bos)) {
            throw new IllegalStateException("no " + format + " writer for " + image);
        }
        return bos.toByteArray();
    }
}
