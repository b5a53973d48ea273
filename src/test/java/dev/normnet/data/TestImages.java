package dev.normnet.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Writes small picture and CSV files for tests. */
final class TestImages {
    private TestImages() {
    }

    /** A grey image (TYPE_BYTE_GRAY) holding {@code px} (h x w, row-major). */
    static BufferedImage gray(byte[] px, int off, int h, int w) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.getRaster().setSample(x, y, 0, px[off + y * w + x] & 0xFF);
            }
        }
        return img;
    }

    /** Writes {@code image} in {@code format} ("png" or "jpeg"), creating the folders above. */
    static Path write(Path file, BufferedImage image, String format) {
        try {
            Files.createDirectories(file.getParent());
            if (!ImageIO.write(image, format, file.toFile())) {
                throw new IllegalStateException("no " + format + " writer for " + image);
            }
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The PNG bytes of an image. */
    static byte[] png(BufferedImage image) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try {
            ImageIO.write(image, "png", bos);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    /**
     * The Kaggle CSV text of an image set: header {@code label,pixel1,...,pixelN}, then one row per
     * image, lines ended by {@code eol}, the last one too when {@code finalEol}.
     */
    static String csv(LabeledImages images, String eol, boolean finalEol) {
        int n = images.height() * images.width();
        StringBuilder sb = new StringBuilder("label");
        for (int p = 1; p <= n; p++) {
            sb.append(",pixel").append(p);
        }
        for (int i = 0; i < images.count(); i++) {
            sb.append(eol).append(images.label(i));
            for (int p = 0; p < n; p++) {
                sb.append(',').append(images.pixels()[i * n + p] & 0xFF);
            }
        }
        if (finalEol) {
            sb.append(eol);
        }
        return sb.toString();
    }

    static Path writeString(Path file, String text) {
        return IdxFiles.write(file, text.getBytes(StandardCharsets.UTF_8));
    }
}
