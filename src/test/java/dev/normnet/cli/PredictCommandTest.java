package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.backend.Backends;
import dev.normnet.data.Idx;
import dev.normnet.data.ImageFiles;
import dev.normnet.predict.Prediction;
import dev.normnet.predict.Predictor;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `normnet predict` on PNG, IDX (raw and gzip) and CSV inputs of the committed model file: the
 * printed classes are the predictor's, the JSON parses, bad inputs are one line naming the file.
 */
class PredictCommandTest {
    static final Path MODEL = Path.of("src/test/resources/safetensors/normnet_lenet-bn.safetensors");
    static final int PX = 28 * 28;

    @TempDir
    static Path tmp;
    static byte[] pixels;        // five 28 x 28 images
    static Path png;             // image 0
    static Path bigPng;          // image 1 at 56 x 56, dark on light
    static Path idx;             // all five
    static Path idxGz;
    static Path csv;             // images 2, 3, 4

    @BeforeAll
    static void writeInputs() throws IOException {
        pixels = new byte[5 * PX];
        SplittableRandom rng = new SplittableRandom(11);
        for (int i = 0; i < pixels.length; i++) {
            int y = (i % PX) / 28;
            pixels[i] = (byte) ((y / 3 == i / PX ? 180 : 0) + rng.nextInt(70));
        }
        png = tmp.resolve("one.png");
        ImageIO.write(gray(pixels, 0, 28, 1, false), "png", png.toFile());
        bigPng = tmp.resolve("big.png");
        ImageIO.write(gray(pixels, PX, 28, 2, true), "png", bigPng.toFile());
        idx = tmp.resolve("images-idx3-ubyte");
        Files.write(idx, idxBytes(pixels, 5));
        idxGz = tmp.resolve("images-idx3-ubyte.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(idxGz))) {
            out.write(idxBytes(pixels, 5));
        }
        csv = tmp.resolve("rows.csv");
        Files.writeString(csv, csvText(Arrays.copyOfRange(pixels, 2 * PX, 5 * PX), 3, "7"));
    }

    /** A grey picture of image {@code off}, each pixel a scale x scale block, inverted when asked. */
    static BufferedImage gray(byte[] px, int off, int side, int scale, boolean invert) {
        BufferedImage img = new BufferedImage(side * scale, side * scale, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < side * scale; y++) {
            for (int x = 0; x < side * scale; x++) {
                int v = px[off + (y / scale) * side + x / scale] & 0xFF;
                img.getRaster().setSample(x, y, 0, invert ? 255 - v : v);
            }
        }
        return img;
    }

    static byte[] idxBytes(byte[] px, int count) {
        ByteBuffer b = ByteBuffer.allocate(16 + count * PX);
        b.putInt(Idx.IMAGES_MAGIC).putInt(count).putInt(28).putInt(28).put(px, 0, count * PX);
        return b.array();
    }

    static String csvText(byte[] px, int count, String label) {
        StringBuilder sb = new StringBuilder("label");
        for (int p = 1; p <= PX; p++) {
            sb.append(",pixel").append(p);
        }
        for (int i = 0; i < count; i++) {
            sb.append('\n').append(label);
            for (int p = 0; p < PX; p++) {
                sb.append(',').append(px[i * PX + p] & 0xFF);
            }
        }
        return sb.append('\n').toString();
    }

    static void oneLineExitTwo(CliTestSupport.Result r, String what, String... mentions) {
        EvalCommandTest.oneLineExitTwo(r, what);
        for (String m : mentions) {
            assertTrue(r.err().contains(m), what + ": the message names " + m + ": " + r.err());
        }
    }

    @Test
    void printsThePredictorsClassesForEveryImageOfEveryInput() throws IOException {
        CliTestSupport.Result r = CliTestSupport.run("predict", MODEL.toString(), png.toString(), idx.toString(), csv.toString(),
                "--device", "cpu", "--threads", "1", "--top", "4");
        assertEquals(0, r.status(), r.err());
        List<String> lines = Arrays.asList(r.out().split("\\R"));
        assertEquals("model: lenet-bn (avg pooling, sigmoid, input 28x28), from " + MODEL, lines.get(0));
        assertTrue(lines.get(1).startsWith("device: cpu: 1 thread"), lines.get(1));
        List<String> expected = new ArrayList<>();
        try (Predictor p = Predictor.builder().setModelFile(MODEL).optBackend(Backends.cpu(1)).build()) {
            expected.add(PredictCommand.line(png.toString(), p.predict(ImageFiles.readGray(png, 28, false), 4)));
            List<List<Prediction>> all = p.predictBatch(pixels, 5, 28, 28, 4);
            for (int i = 0; i < 5; i++) {
                expected.add(PredictCommand.line(idx + "#" + i, all.get(i)));
            }
            for (int i = 0; i < 3; i++) {
                expected.add(PredictCommand.line(csv + "#" + i, all.get(i + 2)));
            }
            assertTrue(Arrays.equals(Arrays.copyOf(pixels, PX), ImageFiles.readGray(png, 28, false)), "the PNG holds image 0");
        }
        assertEquals(expected, lines.subList(2, lines.size()));
        assertTrue(lines.get(2).matches(".*one\\.png: [a-j] 0\\.\\d{4}, [a-j] 0\\.\\d{4}, [a-j] 0\\.\\d{4}, [a-j] 0\\.\\d{4}"), lines.get(2));
    }

    @Test
    void jsonIsOneDocumentWithEveryPrediction() throws IOException {
        CliTestSupport.Result r = CliTestSupport.run("predict", MODEL.toString(), png.toString(), idxGz.toString(), csv.toString(),
                "--json", "--device", "cpu", "--top", "10");
        assertEquals(0, r.status(), r.err());
        JsonNode doc = JsonFiles.MAPPER.readTree(r.out());
        assertEquals("lenet-bn", doc.get("model").asText());
        assertEquals(10, doc.get("top").asInt());
        JsonNode predictions = doc.get("predictions");
        assertEquals(1 + 5 + 3, predictions.size());
        assertEquals(png.toString(), predictions.get(0).get("input").asText());
        assertTrue(predictions.get(0).get("image") == null, "a picture has no image index");
        assertEquals(idxGz + "#4", predictions.get(5).get("input").asText());
        assertEquals(4, predictions.get(5).get("image").asInt());
        assertEquals(csv.toString(), predictions.get(8).get("file").asText());
        for (JsonNode p : predictions) {
            JsonNode top = p.get("top");
            assertEquals(10, top.size());
            double sum = 0;
            double last = 1;
            for (JsonNode c : top) {
                double prob = c.get("probability").asDouble();
                assertTrue(prob <= last, "most probable first");
                last = prob;
                sum += prob;
                assertEquals(String.valueOf((char) ('a' + c.get("index").asInt())), c.get("name").asText());
            }
            assertEquals(1.0, sum, 1e-9);
        }
        // The gzip file and the CSV rows give the same answers as the raw images they hold.
        assertEquals(predictions.get(3).get("top"), predictions.get(6).get("top"));
    }

    @Test
    void aPictureOfAnotherSizeIsResizedAndInvertedOnRequest() {
        CliTestSupport.Result r = CliTestSupport.run("predict", MODEL.toString(), bigPng.toString(), "--invert", "--device", "cpu");
        assertEquals(0, r.status(), r.err());
        CliTestSupport.Result idxRun = CliTestSupport.run("predict", MODEL.toString(), idx.toString(), "--device", "cpu");
        String fromIdx = idxRun.out().split("\\R")[3];   // image 1
        String fromPng = r.out().split("\\R")[2];
        // 2 x 2 blocks averaged back to 28 x 28 give image 1 exactly.
        assertEquals(fromIdx.substring(fromIdx.indexOf(": ")), fromPng.substring(fromPng.indexOf(": ")));
    }

    @Test
    void badInputsAreOneLineNamingTheFile() throws IOException {
        Path text = tmp.resolve("notes.txt");
        Files.writeString(text, "nothing to see here");
        Path labels = tmp.resolve("labels-idx1-ubyte");
        Files.write(labels, ByteBuffer.allocate(10).putInt(Idx.LABELS_MAGIC).putInt(2).array());
        Path truncatedPng = tmp.resolve("cut.png");
        byte[] whole = Files.readAllBytes(png);
        Files.write(truncatedPng, Arrays.copyOf(whole, 40));
        Path truncatedIdx = tmp.resolve("cut-idx3-ubyte");
        Files.write(truncatedIdx, Arrays.copyOf(idxBytes(pixels, 5), 16 + 3 * PX));
        Path badCsv = tmp.resolve("bad.csv");
        Files.writeString(badCsv, csvText(pixels, 2, "1").replaceFirst("\n1,(\\d+),", "\n1,300,"));
        Path missing = tmp.resolve("missing.png");
        String[][] cases = {
            {text.toString(), text.toString()},
            {labels.toString(), labels.toString(), "label file"},
            {truncatedPng.toString(), truncatedPng.toString()},
            {truncatedIdx.toString(), truncatedIdx.toString(), "truncated"},
            {badCsv.toString(), badCsv + ":2:", "300"},
            {missing.toString(), missing.toString()},
            {tmp.toString(), tmp.toString(), "directory"},
        };
        for (String[] c : cases) {
            CliTestSupport.Result r = CliTestSupport.run("predict", MODEL.toString(), png.toString(), c[0], "--device", "cpu");
            oneLineExitTwo(r, c[0], Arrays.copyOfRange(c, 1, c.length));
            assertEquals("", r.out(), "inputs are checked before anything is printed");
        }
    }

    @Test
    void moreThanTheCapOrABadTopIsRefused() throws IOException {
        int n = PredictCommand.MAX_IMAGES + 1;
        Path many = tmp.resolve("many-idx3-ubyte");
        ByteBuffer b = ByteBuffer.allocate(16 + n * PX);
        b.putInt(Idx.IMAGES_MAGIC).putInt(n).putInt(28).putInt(28);
        Files.write(many, b.array());
        oneLineExitTwo(CliTestSupport.run("predict", MODEL.toString(), many.toString(), "--device", "cpu"), "too many",
                many.toString(), "10001 images", "at most 10000");
        oneLineExitTwo(CliTestSupport.run("predict", MODEL.toString(), png.toString(), "--top", "11", "--device", "cpu"), "--top 11",
                "--top 11", "10 classes");
        oneLineExitTwo(CliTestSupport.run("predict", MODEL.toString(), png.toString(), "--top", "0"), "--top 0", "--top");
        oneLineExitTwo(CliTestSupport.run("predict", MODEL.toString()), "no input", "INPUT");
        oneLineExitTwo(CliTestSupport.run("predict", MODEL.toString(), png.toString(), "--model", "mlp"), "contradiction",
                "--model mlp contradicts the file");
        Path pytorch = Path.of("src/test/resources/safetensors/pytorch_lenet-bn.safetensors");
        oneLineExitTwo(CliTestSupport.run("predict", pytorch.toString(), png.toString()), "unnamed", "--model");
        CliTestSupport.Result named = CliTestSupport.run("predict", pytorch.toString(), png.toString(), "--model", "lenet-bn",
                "--device", "cpu", "--top", "1");
        assertEquals(0, named.status(), named.err());
        assertTrue(named.out().split("\\R")[2].matches(".*one\\.png: \\d 0\\.\\d{4}"), "class numbers: " + named.out());
    }
}
