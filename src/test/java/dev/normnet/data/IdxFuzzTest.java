package dev.normnet.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.normnet.HostileInput;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the IDX reader ({@link Idx}, {@link StrictGzipInputStream}, {@link IdxDataset}) with
 * Jazzer. {@code mvn verify} runs the committed inputs in
 * {@code src/test/resources/dev/normnet/data/IdxFuzzTestInputs/idx/}; {@code JAZZER_FUZZ=1} fuzzes
 * (see README, "Hostile input").
 *
 * <p>An input is a file's bytes as they are, or, when its first byte is {@code 'g'}, the rest of it
 * gzip-compressed (so that mutations reach the IDX parser behind a valid gzip layer; a raw input that
 * starts with {@code 1f 8b} exercises the gzip parser itself). Each file is read as an image file and
 * as a label file. Either it reads, or a {@link DataException} names it. When it reads, its geometry
 * accounts for every byte (16 + count x rows x cols for images, 8 + count for labels), and as a
 * split of Fashion-MNIST it loads exactly when it holds at least one 28 x 28 image. The reader may
 * allocate at most four times the decompressed content (plus
 * {@link HostileInput#SLACK}).
 */
class IdxFuzzTest {
    private static final HostileInput SCRATCH = new HostileInput("idx");

    static {
        HostileInput.warmUp(new IdxFuzzTest()::idx, IdxFuzzTest::seeds);
    }

    @FuzzTest(maxDuration = "10s")
    void idx(byte[] input) throws Exception {
        boolean wrap = input.length > 0 && input[0] == 'g';
        byte[] bytes = wrap ? IdxFiles.gzip(Arrays.copyOfRange(input, 1, input.length)) : input;
        long content = wrap ? input.length - 1 : contentLength(bytes);
        Path file = SCRATCH.write("input-idx3-ubyte", bytes);
        long bound = 4 * Math.max(content, bytes.length);

        HostileInput.Outcome<Idx.Images> images = HostileInput.read(file, DataException.class, bound,
                () -> Idx.readImages(file));
        if (images.ok()) {
            Idx.Images img = images.value();
            HostileInput.check((long) img.count() * img.rows() * img.cols() == img.pixels().length,
                    "count x rows x cols != pixels for " + img.count() + " x " + img.rows() + " x " + img.cols());
            HostileInput.check(16L + img.pixels().length == content,
                    "header + pixels = " + (16L + img.pixels().length) + " bytes, the content has " + content);
            asSplit(file, img);
        }
        HostileInput.Outcome<byte[]> labels = HostileInput.read(file, DataException.class, bound,
                () -> Idx.readLabels(file));
        if (labels.ok()) {
            HostileInput.check(8L + labels.value().length == content,
                    "header + labels = " + (8L + labels.value().length) + " bytes, the content has " + content);
        }
        HostileInput.check(!(images.ok() && labels.ok()), "one file read both as images and as labels");
    }

    @Test
    void committedSeedsAreTheGeneratedOnes() throws IOException {
        HostileInput.checkSeeds(IdxFuzzTest.class, "idx", seeds());
    }

    /** Seed inputs: small valid files, raw and gzip, and the hostile headers found by hand before. */
    static Map<String, byte[]> seeds() {
        Map<String, byte[]> m = new LinkedHashMap<>();
        byte[] images = IdxFiles.images(3, 4, 5, 1);
        byte[] labels = IdxFiles.labels(3, 10);
        m.put("images-3x4x5", images);
        m.put("labels-3", labels);
        m.put("images-2x28x28", IdxFiles.images(2, 28, 28, 3));
        m.put("images-3x4x5.gz", IdxFiles.gzip(images));
        m.put("labels-3.gz", IdxFiles.gzip(labels));
        m.put("g-images-3x4x5", concat(new byte[] {'g'}, images));
        m.put("g-labels-3", concat(new byte[] {'g'}, labels));
        m.put("images-0x28x28", IdxFiles.images(0, 28, 28, 0));
        m.put("images-7x7", IdxFiles.images(1, 7, 7, 0));
        m.put("images-wrapping-64-bits", header(Idx.IMAGES_MAGIC, 3463364, 3235368, 3292516));
        m.put("images-negative-product", header(Idx.IMAGES_MAGIC, 65536, 65536, 65536));
        m.put("labels-2147483647", header(Idx.LABELS_MAGIC, Integer.MAX_VALUE));
        m.put("labels-2147483000", header(Idx.LABELS_MAGIC, 2_147_483_000));
        m.put("images-truncated-header", Arrays.copyOf(images, 11));
        m.put("images-truncated-data", Arrays.copyOf(images, images.length - 1));
        m.put("images-trailing-byte", Arrays.copyOf(images, images.length + 1));
        m.put("images.gz-trailing-junk", concat(IdxFiles.gzip(images), new byte[] {'j', 'u', 'n', 'k'}));
        m.put("images.gz-two-members", concat(IdxFiles.gzip(Arrays.copyOf(images, 10)),
                IdxFiles.gzip(Arrays.copyOfRange(images, 10, images.length))));
        byte[] gz = IdxFiles.gzip(images);
        gz[gz.length - 6] ^= 1;                                    // a CRC-32 that does not match
        m.put("images.gz-bad-crc", gz);
        m.put("images.gz-truncated", Arrays.copyOf(IdxFiles.gzip(images), 20));
        return m;
    }

    private static byte[] header(int... ints) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 * ints.length);
        for (int v : ints) {
            b.putInt(v);
        }
        return b.array();
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** Loads the file as both splits of Fashion-MNIST (labels made to match): only 28 x 28 and count > 0 load. */
    private static void asSplit(Path images, Idx.Images img) throws Exception {
        byte[] labels = IdxFiles.labels(img.count(), 10);
        Path dir = SCRATCH.dir().resolve("split");
        IdxFiles.write(dir.resolve("train-images-idx3-ubyte"), java.nio.file.Files.readAllBytes(images));
        IdxFiles.write(dir.resolve("t10k-images-idx3-ubyte"), java.nio.file.Files.readAllBytes(images));
        IdxFiles.write(dir.resolve("train-labels-idx1-ubyte"), labels);
        IdxFiles.write(dir.resolve("t10k-labels-idx1-ubyte"), labels);
        Path trainImages = dir.resolve("train-images-idx3-ubyte");
        boolean fits = img.count() > 0 && img.rows() == 28 && img.cols() == 28;
        HostileInput.Outcome<DatasetSplits> split = HostileInput.read(trainImages, DataException.class,
                4L * images.toFile().length() * 2 + 4 * (long) img.pixels().length,
                () -> FashionMnist.DATASET.load(dir));
        HostileInput.check(split.ok() == fits, "a split of " + img.count() + " x " + img.rows() + " x " + img.cols()
                + (split.ok() ? " loaded" : " was refused: " + split.refusal().getMessage()));
    }

    /** The length of the file's content: its size, or for a gzip file the bytes it inflates to before any error. */
    private static long contentLength(byte[] bytes) {
        if (bytes.length < 2 || (bytes[0] & 0xFF) != 0x1f || (bytes[1] & 0xFF) != 0x8b) {
            return bytes.length;
        }
        long n = 0;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(bytes))) {
            byte[] buf = new byte[1 << 16];
            int r;
            while ((r = in.read(buf)) > 0) {
                n += r;
            }
        } catch (IOException e) {
            // the content ends where the gzip data stops making sense
        }
        return n;
    }
}
