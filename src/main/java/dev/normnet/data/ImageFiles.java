package dev.normnet.data;

import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.FileImageInputStream;
import javax.imageio.stream.ImageInputStream;

/**
 * Reads single PNG and JPEG files as square single-channel uint8 images, the input the models
 * were trained on. The conversion, step by step:
 * <ol>
 * <li>decode with {@code javax.imageio} (only its PNG and JPEG readers; the format is recognised
 * by content, not by file name). Width and height are read from the header first and checked
 * against {@value #MAX_SIDE} per side and {@value #MAX_PIXELS} pixels in all before the pixels are
 * decoded, and against the file's size: a PNG's rows inflate at most 1032-fold and a JPEG codes
 * every 8 x 8 block in at least one bit, so a header claiming more than the file can hold is refused
 * before the picture is allocated;</li>
 * <li>bring every sample to 8 bits: a sample {@code v} of {@code b} bits becomes
 * {@code round(v * 255 / (2^b - 1))} (a 16-bit sample: {@code round(v / 257)}; PIL instead keeps
 * the high byte of 16-bit colour and clips 16-bit grey at 255). Palette images take the palette's
 * colours; grey images their grey level;</li>
 * <li>grey level of a colour pixel by ITU-R 601 luma as PIL's {@code convert("L")} computes it:
 * {@code L = (R*19595 + G*38470 + B*7471 + 32768) >> 16}, which is
 * {@code R*299/1000 + G*587/1000 + B*114/1000} rounded to the nearest integer in 16-bit fixed
 * point. Embedded colour profiles are ignored, as PIL does;</li>
 * <li>transparency: a pixel of alpha {@code A} is composited on a background {@code B},
 * {@code round((L*A + B*(255 - A)) / 255)}. B is black (0), or white (255) when the picture is to
 * be inverted, so that transparent areas always end up as 0, the background of the training images
 * (PIL's {@code convert("L")} drops the alpha channel instead);</li>
 * <li>resize to {@code side x side} with {@link Resize#resample} (area averaging where an axis
 * shrinks, bilinear where it grows; a picture that is not square is stretched), rounded to uint8;</li>
 * <li>with {@code invert}, {@code v -> 255 - v}: for dark-on-light pictures, since Fashion-MNIST and
 * MNIST are light-on-dark.</li>
 * </ol>
 * A CMYK or YCCK JPEG is refused with a message saying so; only grey and RGB pictures are read.
 * A file that ends before its last pixel is an error; checksums are not verified, so a PNG cut
 * after its pixel data (in its final checksums or end chunk) is read.
 * Every failure is a {@link DataException} whose message names the file.
 */
public final class ImageFiles {
    /** Largest width or height accepted, checked from the header before decoding. */
    public static final int MAX_SIDE = 16384;
    /** Largest width * height accepted (8192 x 8192), checked from the header before decoding. */
    public static final long MAX_PIXELS = 1L << 26;

    private ImageFiles() {
    }

    /**
     * True when the file name ends with {@code .png}, {@code .jpg} or {@code .jpeg}, in any case: the
     * files an image folder is made of.
     */
    public static boolean isImage(Path file) {
        Path name = file.getFileName();
        if (name == null) {
            return false;
        }
        String n = name.toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    /**
     * Reads a PNG or JPEG file as {@code side x side} uint8 grey levels, row-major, converted as the
     * class comment describes; {@code invert} maps each final value v to {@code 255 - v}.
     *
     * @throws DataException when the file is missing, not a PNG or JPEG, corrupt, too large, or in a
     *                       colour space other than grey or RGB
     */
    public static byte[] readGray(Path file, int side, boolean invert) {
        if (side < 1 || side > MAX_SIDE) {
            throw new IllegalArgumentException("side must be in 1.." + MAX_SIDE + ", got " + side);
        }
        Decoded d = decode(file, invert ? 255 : 0);
        byte[] out = Resize.resample(d.gray, d.height, d.width, side, side);
        if (invert) {
            for (int i = 0; i < out.length; i++) {
                out[i] = (byte) (255 - (out[i] & 0xFF));
            }
        }
        return out;
    }

    /** PIL's ITU-R 601 luma of an 8-bit RGB colour: {@code (R*19595 + G*38470 + B*7471 + 32768) >> 16}. */
    public static int luma(int r, int g, int b) {
        return (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16;
    }

    /** A decoded picture as grey levels at its own size. */
    record Decoded(byte[] gray, int height, int width) {
    }

    /** Decodes a PNG or JPEG to grey levels at its own size, transparent pixels composited on {@code background}. */
    static Decoded decode(Path file, int background) {
        if (!Files.isRegularFile(file)) {
            throw new DataException(file + (Files.exists(file) ? ": not a regular file" : ": no such file"));
        }
        try (ImageInputStream in = new FileImageInputStream(file.toFile())) {
            ImageReader reader = pngOrJpegReader(in);
            if (reader == null) {
                long size = Files.size(file);
                throw new DataException(file + ": not a PNG or JPEG image"
                        + (size == 0 ? " (the file is empty)" : " (unrecognised content)"));
            }
            try {
                reader.setInput(in, true, true);
                int width = reader.getWidth(0);
                int height = reader.getHeight(0);
                if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE
                        || (long) width * height > MAX_PIXELS) {
                    throw new DataException(file + ": " + width + " x " + height + " pixels; images may have at most "
                            + MAX_SIDE + " pixels per side and " + MAX_PIXELS + " in all");
                }
                checkFileCanHold(file, reader, width, height);
                BufferedImage image = reader.read(0);
                return new Decoded(toGray(file, image, background), image.getHeight(), image.getWidth());
            } finally {
                reader.dispose();
            }
        } catch (IIOException e) {
            String msg = String.valueOf(e.getMessage());
            if (msg.contains("Unsupported Image Type")) {
                throw new DataException(file + ": an image type that cannot be decoded here (such as a CMYK or YCCK"
                        + " JPEG); only grey and RGB pictures are read, convert it to RGB first", e);
            }
            throw new DataException(file + ": cannot decode (" + msg + causeText(e) + ")", e);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read (" + e + ")", e);
        } catch (DataException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new DataException(file + ": cannot decode (" + e + ")", e);
        }
    }

    /** The most a deflate stream (a PNG's pixels) inflates: 1032 bytes for every byte it takes. */
    static final long DEFLATE_RATIO = 1032;
    /** The most pixels a JPEG holds per byte: its scans code every 8 x 8 block in at least one bit. */
    static final long JPEG_PIXELS_PER_BYTE = 8 * 64;

    /**
     * Refuses a header whose size the file cannot hold, before the decoder allocates the picture: a
     * PNG's rows ({@code height x (1 + ceil(width x bits per pixel / 8))} bytes) at most
     * {@value #DEFLATE_RATIO} times the file's size, a JPEG's pixels at most
     * {@value #JPEG_PIXELS_PER_BYTE} times. A file cut short or a header that lies fails here
     * instead of after allocating what it claims.
     */
    private static void checkFileCanHold(Path file, ImageReader reader, int width, int height) throws IOException {
        long size = Files.size(file);
        boolean png = reader.getFormatName().equalsIgnoreCase("png");
        long need;
        if (png) {
            javax.imageio.ImageTypeSpecifier raw = reader.getRawImageType(0);
            int bits = raw == null ? 1 : Math.max(1, raw.getColorModel().getPixelSize());
            long rowBytes = 1 + ((long) width * bits + 7) / 8;
            need = (height * rowBytes + DEFLATE_RATIO - 1) / DEFLATE_RATIO;
        } else {
            need = ((long) width * height + JPEG_PIXELS_PER_BYTE - 1) / JPEG_PIXELS_PER_BYTE;
        }
        if (size < need) {
            throw new DataException(file + ": " + width + " x " + height + " pixels cannot be held in " + size
                    + " bytes (a " + (png ? "PNG" : "JPEG") + " of that size needs at least " + need
                    + "); the file is cut short or its header is wrong");
        }
    }

    /** ": " and the message of the exception's cause (often what is really wrong), or "" without a cause. */
    private static String causeText(Throwable e) {
        Throwable c = e.getCause();
        if (c == null) {
            return "";
        }
        return ": " + (c.getMessage() != null ? c.getMessage() : c.toString());
    }

    /** The first PNG or JPEG reader that recognises the stream's content, or null. */
    private static ImageReader pngOrJpegReader(ImageInputStream in) {
        Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
        while (readers.hasNext()) {
            ImageReader r = readers.next();
            try {
                String format = r.getFormatName().toLowerCase(Locale.ROOT);
                if (format.equals("png") || format.equals("jpeg")) {
                    return r;
                }
            } catch (IOException e) {
                // a reader that cannot name its format is not one of the two
            }
            r.dispose();
        }
        return null;
    }

    /** Grey levels of a decoded image, row-major, with transparency composited on {@code background}. */
    private static byte[] toGray(Path file, BufferedImage image, int background) {
        int w = image.getWidth();
        int h = image.getHeight();
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        byte[] out = new byte[w * h];
        int[] row = new int[w];
        if (cm instanceof IndexColorModel icm) {
            int[] lut = new int[1 << icm.getPixelSize()];
            for (int i = 0; i < icm.getMapSize(); i++) {
                lut[i] = over(luma(icm.getRed(i), icm.getGreen(i), icm.getBlue(i)), icm.getAlpha(i), background);
            }
            for (int y = 0; y < h; y++) {
                raster.getSamples(0, y, w, 1, 0, row);
                for (int x = 0; x < w; x++) {
                    out[y * w + x] = (byte) lut[row[x]];
                }
            }
            return out;
        }
        int colors = cm.getNumColorComponents();
        int space = cm.getColorSpace().getType();
        boolean gray = space == ColorSpace.TYPE_GRAY && colors == 1;
        if (space == ColorSpace.TYPE_CMYK) {
            throw new DataException(file + ": a CMYK image; only grey and RGB pictures are read, convert it to RGB first");
        }
        if (!gray && !(space == ColorSpace.TYPE_RGB && colors == 3)) {
            throw new DataException(file + ": a colour space of " + colors + " components (type " + space
                    + "); only grey and RGB pictures are read");
        }
        int bands = cm.getNumComponents();
        int[][] samples = new int[bands][w];
        for (int y = 0; y < h; y++) {
            for (int b = 0; b < bands; b++) {
                raster.getSamples(0, y, w, 1, b, samples[b]);
                to8Bits(samples[b], cm.getComponentSize(b));
            }
            for (int x = 0; x < w; x++) {
                int l = gray ? samples[0][x] : luma(samples[0][x], samples[1][x], samples[2][x]);
                int a = cm.hasAlpha() ? samples[colors][x] : 255;
                out[y * w + x] = (byte) over(l, a, background);
            }
        }
        return out;
    }

    /** Scales samples of {@code bits} bits to 8 bits, rounding: {@code round(v * 255 / (2^bits - 1))}. */
    private static void to8Bits(int[] v, int bits) {
        if (bits == 8) {
            return;
        }
        long max = (1L << bits) - 1;
        for (int i = 0; i < v.length; i++) {
            v[i] = (int) ((2 * 255 * (v[i] & max) + max) / (2 * max));
        }
    }

    /** Grey level l of alpha a composited on background bg: {@code round((l*a + bg*(255 - a)) / 255)}. */
    private static int over(int l, int a, int bg) {
        return (l * a + bg * (255 - a) + 127) / 255;
    }
}
