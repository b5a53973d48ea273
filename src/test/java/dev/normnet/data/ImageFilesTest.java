package dev.normnet.data;

import dev.normnet.HostileInput;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.awt.image.WritableRaster;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.zip.CRC32;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFilesTest {
    @TempDir
    Path tmp;

    private static final int[][] COLORS = {
        {0, 0, 0}, {255, 255, 255}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {12, 34, 56},
        {200, 100, 50}, {1, 2, 3}, {128, 128, 128}, {250, 5, 128}, {17, 240, 33}, {99, 98, 97},
    };

    @Test
    void lumaIsPilsRoundedItuR601() {
        assertEquals(76, ImageFiles.luma(255, 0, 0));
        assertEquals(150, ImageFiles.luma(0, 255, 0));
        assertEquals(29, ImageFiles.luma(0, 0, 255));
        assertEquals(255, ImageFiles.luma(255, 255, 255));
        assertEquals(30, ImageFiles.luma(12, 34, 56));
        // R*299/1000 + G*587/1000 + B*114/1000 rounded, wherever the exact value is not within 0.01 of a half
        for (int r = 0; r < 256; r += 3) {
            for (int g = 0; g < 256; g += 5) {
                for (int b = 0; b < 256; b += 7) {
                    int milli = r * 299 + g * 587 + b * 114;
                    if (Math.abs(milli % 1000 - 500) > 10) {
                        assertEquals((milli + 500) / 1000, ImageFiles.luma(r, g, b), r + "," + g + "," + b);
                    }
                }
            }
        }
        for (int v = 0; v < 256; v++) {
            assertEquals(v, ImageFiles.luma(v, v, v));
        }
    }

    @Test
    void rgbPngIsConvertedByLuma() {
        BufferedImage img = new BufferedImage(COLORS.length, 1, BufferedImage.TYPE_INT_RGB);
        byte[] expected = new byte[COLORS.length];
        for (int i = 0; i < COLORS.length; i++) {
            int[] c = COLORS[i];
            img.setRGB(i, 0, (c[0] << 16) | (c[1] << 8) | c[2]);
            expected[i] = (byte) ImageFiles.luma(c[0], c[1], c[2]);
        }
        Path file = TestImages.write(tmp.resolve("rgb.png"), img, "png");
        assertArrayEquals(expected, ImageFiles.decode(file, 0).gray());
    }

    @Test
    void greyPngKeepsItsLevels() {
        byte[] px = new byte[256];
        for (int i = 0; i < 256; i++) {
            px[i] = (byte) i;
        }
        Path file = TestImages.write(tmp.resolve("g.png"), TestImages.gray(px, 0, 16, 16), "png");
        assertArrayEquals(px, ImageFiles.readGray(file, 16, false));
    }

    @Test
    void sixteenBitGreyIsScaledAndRounded() {
        int[] levels = {0, 128, 129, 257, 32896, 65406, 65535};
        BufferedImage img = new BufferedImage(levels.length, 1, BufferedImage.TYPE_USHORT_GRAY);
        byte[] expected = new byte[levels.length];
        for (int i = 0; i < levels.length; i++) {
            img.getRaster().setSample(i, 0, 0, levels[i]);
            expected[i] = (byte) Math.round(levels[i] / 257.0);
        }
        Path file = TestImages.write(tmp.resolve("g16.png"), img, "png");
        assertArrayEquals(expected, ImageFiles.decode(file, 0).gray());
        assertArrayEquals(new byte[] {0, 0, 1, 1, (byte) 128, (byte) 254, (byte) 255}, expected);
    }

    @Test
    void paletteTakesThePalettesColoursAndAlpha() {
        byte[] r = {(byte) 255, 0, 12, (byte) 200};
        byte[] g = {0, (byte) 255, 34, (byte) 200};
        byte[] b = {0, 0, 56, (byte) 200};
        byte[] a = {(byte) 255, (byte) 255, (byte) 255, 0};
        IndexColorModel cm = new IndexColorModel(8, 4, r, g, b, a);
        BufferedImage img = new BufferedImage(4, 1, BufferedImage.TYPE_BYTE_INDEXED, cm);
        for (int i = 0; i < 4; i++) {
            img.getRaster().setSample(i, 0, 0, i);
        }
        Path file = TestImages.write(tmp.resolve("p.png"), img, "png");
        assertArrayEquals(new byte[] {76, (byte) 150, 30, 0}, ImageFiles.decode(file, 0).gray());
        assertArrayEquals(new byte[] {76, (byte) 150, 30, (byte) 255}, ImageFiles.decode(file, 255).gray());
    }

    @Test
    void alphaIsCompositedOnBlackOrOnWhiteWhenInverting() {
        BufferedImage img = new BufferedImage(4, 1, BufferedImage.TYPE_INT_ARGB);
        int[] alpha = {255, 0, 128, 1};
        for (int i = 0; i < 4; i++) {
            img.setRGB(i, 0, (alpha[i] << 24) | (200 << 16) | (100 << 8) | 50);
        }
        Path file = TestImages.write(tmp.resolve("a.png"), img, "png");
        int l = ImageFiles.luma(200, 100, 50);
        assertEquals(124, l);
        // on black: round(l * a / 255)
        byte[] black = ImageFiles.decode(file, 0).gray();
        assertArrayEquals(new byte[] {124, 0, (byte) Math.round(124 * 128 / 255.0), 0}, black);
        // inverted: composited on white, then 255 - v, so transparent pixels are 0 again; 1 x 4
        // stretched to 4 x 4 repeats the row
        byte[] inverted = ImageFiles.readGray(file, 4, true);
        int half = 255 - Math.round((124 * 128 + 255 * 127) / 255f);
        assertArrayEquals(new byte[] {(byte) (255 - 124), 0, (byte) half, 1}, Arrays.copyOf(inverted, 4));
        assertArrayEquals(Arrays.copyOf(inverted, 4), Arrays.copyOfRange(inverted, 12, 16));
    }

    @Test
    void invertIs255MinusV() {
        SplittableRandom rnd = new SplittableRandom(3);
        byte[] px = new byte[37 * 23];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) rnd.nextInt(256);
        }
        Path file = TestImages.write(tmp.resolve("r.png"), TestImages.gray(px, 0, 37, 23), "png");
        for (int side : new int[] {5, 28, 50}) {
            byte[] plain = ImageFiles.readGray(file, side, false);
            byte[] inv = ImageFiles.readGray(file, side, true);
            assertEquals(side * side, plain.length);
            for (int i = 0; i < plain.length; i++) {
                assertEquals(255 - (plain[i] & 0xFF), inv[i] & 0xFF);
            }
        }
    }

    @Test
    void jpegGreyAndColour() {
        byte[] px = new byte[16 * 16];
        Arrays.fill(px, (byte) 100);
        Path grey = TestImages.write(tmp.resolve("g.jpg"), TestImages.gray(px, 0, 16, 16), "jpeg");
        for (byte v : ImageFiles.readGray(grey, 8, false)) {
            assertTrue(Math.abs((v & 0xFF) - 100) <= 1, "grey JPEG level " + (v & 0xFF));
        }
        BufferedImage rgb = new BufferedImage(16, 16, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                rgb.setRGB(x, y, (200 << 16) | (100 << 8) | 50);
            }
        }
        Path colour = TestImages.write(tmp.resolve("c.JPEG"), rgb, "jpeg");
        for (byte v : ImageFiles.readGray(colour, 28, false)) {
            assertTrue(Math.abs((v & 0xFF) - 124) <= 2, "colour JPEG level " + (v & 0xFF));
        }
    }

    @Test
    void cmykJpegIsRefusedClearly() throws IOException {
        WritableRaster raster = Raster.createInterleavedRaster(DataBuffer.TYPE_BYTE, 8, 8, 4, null);
        Path file = tmp.resolve("cmyk.jpg");
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        try (ImageOutputStream out = ImageIO.createImageOutputStream(file.toFile())) {
            writer.setOutput(out);
            writer.write(null, new IIOImage(raster, null, null), null);
        } finally {
            writer.dispose();
        }
        DataException e = assertThrows(DataException.class, () -> ImageFiles.readGray(file, 28, false));
        assertTrue(e.getMessage().startsWith(file + ": a CMYK image"), e.getMessage());
    }

    @Test
    void areaDownscaleOfAConstantIsConstant() {
        byte[] px = new byte[100 * 60];
        Arrays.fill(px, (byte) 57);
        Path file = TestImages.write(tmp.resolve("c.png"), TestImages.gray(px, 0, 100, 60), "png");
        byte[] out = ImageFiles.readGray(file, 28, false);
        for (byte v : out) {
            assertEquals(57, v);
        }
        for (int[] size : new int[][] {{97, 13}, {28, 29}, {1000, 3}, {3, 1000}}) {
            byte[] c = new byte[size[0] * size[1]];
            Arrays.fill(c, (byte) 201);
            for (byte v : Resize.resample(c, size[0], size[1], 28, 28)) {
                assertEquals((byte) 201, v);
            }
        }
    }

    @Test
    void isImageByExtension() {
        assertTrue(ImageFiles.isImage(Path.of("a/b.png")));
        assertTrue(ImageFiles.isImage(Path.of("b.PNG")));
        assertTrue(ImageFiles.isImage(Path.of("b.jpg")));
        assertTrue(ImageFiles.isImage(Path.of("b.JpEg")));
        assertFalse(ImageFiles.isImage(Path.of("b.gif")));
        assertFalse(ImageFiles.isImage(Path.of("png")));
        assertFalse(ImageFiles.isImage(Path.of("b.png.txt")));
        assertFalse(ImageFiles.isImage(Path.of("/")));
    }

    private String failure(Path file) {
        DataException e = assertThrows(DataException.class, () -> ImageFiles.readGray(file, 28, false));
        assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        return e.getMessage().substring(file.toString().length() + 2);
    }

    @Test
    void brokenFilesFailNamingTheFile() throws IOException {
        assertEquals("no such file", failure(tmp.resolve("absent.png")));
        assertEquals("not a regular file", failure(Files.createDirectories(tmp.resolve("dir.png"))));
        assertEquals("not a PNG or JPEG image (the file is empty)", failure(Files.createFile(tmp.resolve("empty.png"))));
        assertEquals("not a PNG or JPEG image (unrecognised content)",
                failure(TestImages.writeString(tmp.resolve("text.png"), "hello, world\n")));
        BufferedImage gif = new BufferedImage(4, 4, BufferedImage.TYPE_BYTE_INDEXED);
        assertEquals("not a PNG or JPEG image (unrecognised content)",
                failure(TestImages.write(tmp.resolve("g.png"), gif, "gif")));

        SplittableRandom rnd = new SplittableRandom(7);
        byte[] px = new byte[64 * 64];
        for (int i = 0; i < px.length; i++) {
            px[i] = (byte) rnd.nextInt(256);
        }
        byte[] png = TestImages.png(TestImages.gray(px, 0, 64, 64));
        // cut in the signature, the header, the metadata, and twice in the pixel data (a cut in the last
        // 20 bytes leaves every pixel, losing only checksums and the end chunk, and is not noticed)
        for (int cut : new int[] {8, 20, 40, png.length / 2, png.length - 30}) {
            Path truncated = IdxFiles.write(tmp.resolve("cut" + cut + ".png"), Arrays.copyOf(png, cut));
            String what = failure(truncated);
            assertTrue(what.startsWith("cannot decode") || what.startsWith("not a PNG"), what);
        }
    }

    /** A PNG whose header declares {@code w x h} grey pixels, followed by no data at all. */
    private static byte[] pngHeaderOnly(int w, int h) {
        ByteBuffer ihdr = ByteBuffer.allocate(17);
        ihdr.put("IHDR".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putInt(w).putInt(h)
                .put((byte) 8).put((byte) 0).put((byte) 0).put((byte) 0).put((byte) 0);
        CRC32 crc = new CRC32();
        crc.update(ihdr.array());
        ByteBuffer b = ByteBuffer.allocate(8 + 4 + 17 + 4);
        b.put(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        b.putInt(13).put(ihdr.array()).putInt((int) crc.getValue());
        return b.array();
    }

    @Test
    void hugeDeclaredSizeIsRefusedBeforeDecoding() {
        Path huge = IdxFiles.write(tmp.resolve("huge.png"), pngHeaderOnly(100_000, 100_000));
        long t0 = System.nanoTime();
        assertEquals("100000 x 100000 pixels; images may have at most 16384 pixels per side and 67108864 in all",
                failure(huge));
        assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
        Path wide = IdxFiles.write(tmp.resolve("wide.png"), pngHeaderOnly(16384, 8192));
        assertEquals("16384 x 8192 pixels; images may have at most 16384 pixels per side and 67108864 in all",
                failure(wide));
        // within the limits, the missing data is what fails
        assertTrue(failure(IdxFiles.write(tmp.resolve("small.png"), pngHeaderOnly(100, 100))).startsWith("cannot decode"));
    }

    /**
     * Found by ImageFilesFuzzTest (seed png-claims-8192x8192): a 5 x 3 PNG whose header was edited to
     * say 8192 x 8192 made the decoder allocate 67 MB (and 512 MB for 16-bit RGBA) before it found
     * the pixel data missing. Now a header that claims more than its file can hold (a PNG's rows
     * inflate at most 1032-fold, a JPEG codes each 8 x 8 block in at least a bit) is refused first.
     */
    @Test
    void aHeaderClaimingMorePixelsThanTheFileHoldsIsRefusedBeforeDecoding() throws Exception {
        byte[] png = TestImages.png(new BufferedImage(5, 3, BufferedImage.TYPE_BYTE_GRAY));
        Path ok = Files.write(tmp.resolve("ok.png"), png);
        ImageFiles.readGray(ok, 28, false);                                     // loads the classes
        byte[] huge = png.clone();
        ByteBuffer.wrap(huge).putInt(16, 8192).putInt(20, 8192);              // IHDR width, height
        Path file = Files.write(tmp.resolve("huge.png"), huge);
        HostileInput.Outcome<byte[]> got = HostileInput.read(file, DataException.class, 0,
                () -> ImageFiles.readGray(file, 28, false));
        assertTrue(got.refusal().getMessage().startsWith(file + ": 8192 x 8192 pixels cannot be held in " + huge.length
                + " bytes"), got.refusal().getMessage());
        BufferedImage big = new BufferedImage(2000, 1000, BufferedImage.TYPE_BYTE_GRAY);   // all black: compresses ~1000-fold
        Path black = Files.write(tmp.resolve("black.png"), TestImages.png(big));
        assertTrue(Files.size(black) < 2000L * 1000 / 200, Files.size(black) + " bytes");
        assertEquals(28 * 28, ImageFiles.readGray(black, 28, false).length);  // a real file of that ratio still reads
    }
}
