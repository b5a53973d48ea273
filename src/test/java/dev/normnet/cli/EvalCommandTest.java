package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.data.FashionMnist;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelFile;
import dev.normnet.optim.Sgd;
import dev.normnet.train.Trainer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `normnet eval` on a synthetic data set: its numbers against the trainer's, its files, and its errors. */
class EvalCommandTest {
    static final Path PYTORCH = Path.of("src/test/resources/safetensors/pytorch_lenet-bn.safetensors");

    @TempDir
    static Path tmp;
    static Path data;
    static Path model;

    /** A model trained by the command line on the synthetic set, saved with --save. */
    @BeforeAll
    static void train() throws IOException {
        data = SyntheticData.write(tmp.resolve("data"), 300, 130);
        model = tmp.resolve("m.safetensors");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu", "--threads", "1",
                "--epochs", "2", "--batch", "32", "--lr", "0.5", "--save", model.toString());
        assertEquals(0, r.status(), r.err());
    }

    static void oneLineExitTwo(CliTestSupport.Result r, String what) {
        assertEquals(2, r.status(), what + " -> " + r.err());
        assertEquals(1, r.errLines().length, what + " -> " + r.err());
        assertTrue(r.err().startsWith("normnet: "), what + " -> " + r.err());
    }

    @Test
    void theNumbersAgreeWithTheTrainersAndTheFilesHoldThem() throws IOException {
        Path json = tmp.resolve("eval.json");
        Path png = tmp.resolve("confusion.png");
        CliTestSupport.Result r = CliTestSupport.run("eval", model.toString(), "--data", data.toString(), "--device", "cpu",
                "--threads", "1", "--batch", "50", "--json", json.toString(), "--png", png.toString());
        assertEquals(0, r.status(), r.err());
        String[] lines = r.out().split("\\R");
        assertTrue(lines[0].startsWith("model: lenet-bn (avg pooling, sigmoid, input 28x28), 44,878 parameters, from " + model), lines[0]);
        assertTrue(lines[1].startsWith("device: cpu: 1 thread"), lines[1]);
        assertTrue(lines[2].startsWith("data: fashion-mnist test set from " + data.toAbsolutePath()) && lines[2].endsWith("(130 images)"),
                lines[2]);

        JsonNode doc = JsonFiles.readObject(json);
        assertEquals("lenet-bn", doc.get("model").asText());
        assertEquals(130, doc.get("examples").asInt());
        double acc = doc.get("test_acc").asDouble();
        double loss = doc.get("test_loss").asDouble();
        assertTrue(lines[3].equals(String.format(Locale.ROOT, "test loss %.4f, accuracy %.4f (%d of 130)", loss, acc,
                Math.round(acc * 130))), lines[3]);

        // The trainer's evaluation of the same file on the same data, on the same backend.
        LabeledImages test = FashionMnist.load(data).test();
        try (ModelFile.Loaded loaded = ModelFile.load(model); Backend backend = Backends.cpu(1)) {
            loaded.model().to(backend);
            try (Trainer trainer = Trainer.builder().setModel(loaded.model()).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(50).build()) {
                double[] expected = trainer.evaluateLossAndAccuracy(test);
                assertEquals(expected[1], acc, 0.0, "accuracy");
                assertEquals(expected[0], loss, 1e-6 * expected[0], "loss");
            }
        }

        // The confusion matrix sums to N, its trace is the accuracy, its rows give the per-class accuracies.
        JsonNode confusion = doc.get("confusion");
        assertEquals(10, confusion.size());
        long total = 0;
        long trace = 0;
        int[] labelCounts = new int[10];
        for (int i = 0; i < 130; i++) {
            labelCounts[test.label(i)]++;
        }
        Iterator<Map.Entry<String, JsonNode>> perClass = doc.get("per_class").fields();
        for (int i = 0; i < 10; i++) {
            JsonNode row = confusion.get(i);
            assertEquals(10, row.size());
            long rowSum = 0;
            for (JsonNode v : row) {
                rowSum += v.asLong();
            }
            assertEquals(labelCounts[i], rowSum, "row " + i + " counts the examples of class " + i);
            total += rowSum;
            trace += row.get(i).asLong();
            Map.Entry<String, JsonNode> pc = perClass.next();
            assertEquals(FashionMnist.CLASS_NAMES.get(i), pc.getKey());
            assertEquals((double) row.get(i).asLong() / rowSum, pc.getValue().asDouble(), 1e-12, pc.getKey());
            // The text table says the same.
            String expectedRow = String.format(Locale.ROOT, "%-13s  %8.4f  %7d  %7d", i + " " + FashionMnist.CLASS_NAMES.get(i),
                    pc.getValue().asDouble(), row.get(i).asLong(), rowSum);
            assertTrue(Arrays.asList(lines).contains(expectedRow), "missing per-class line '" + expectedRow + "':\n" + r.out());
        }
        assertEquals(130, total);
        assertEquals(acc, (double) trace / 130, 1e-15);
        assertTrue(r.out().contains("confusion matrix (rows: true class, columns: predicted class)"), r.out());

        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(ConfusionMatrixImage.WIDTH, img.getWidth());
        assertEquals(ConfusionMatrixImage.HEIGHT, img.getHeight());
    }

    @Test
    void aPyTorchStateDictRunsWithItsModelNamed() {
        CliTestSupport.Result r = CliTestSupport.run("eval", PYTORCH.toString(), "--model", "lenet-bn", "--data", data.toString(),
                "--device", "cpu", "--threads", "1", "--limit", "40");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("data: fashion-mnist test set") && r.out().contains("(40 images)"), r.out());
        assertTrue(r.out().matches("(?s).*test loss [0-9.]+, accuracy [0-9.]+ \\(\\d+ of 40\\).*"), r.out());
        assertTrue(r.out().contains("0 T-shirt/top"), "a PyTorch file's classes are the data set's:\n" + r.out());

        CliTestSupport.Result unnamed = CliTestSupport.run("eval", PYTORCH.toString(), "--data", data.toString(), "--device", "cpu");
        oneLineExitTwo(unnamed, "no --model");
        assertTrue(unnamed.err().contains("does not say which model") && unnamed.err().contains("--model"), unnamed.err());
        CliTestSupport.Result wrong = CliTestSupport.run("eval", PYTORCH.toString(), "--model", "mlp-bn", "--data", data.toString(),
                "--device", "cpu");
        oneLineExitTwo(wrong, "wrong --model");
        assertTrue(wrong.err().contains(PYTORCH.toString()), wrong.err());
    }

    @Test
    void flagsThatContradictTheFileAreRefusedBeforeAnyWork() {
        for (String[] flags : new String[][] {{"--model", "mlp-bn"}, {"--pool", "max"}, {"--act", "relu"}, {"--resize", "32"}}) {
            CliTestSupport.Result r = CliTestSupport.run("eval", model.toString(), flags[0], flags[1], "--data", data.toString());
            oneLineExitTwo(r, String.join(" ", flags));
            assertEquals("", r.out());
            assertTrue(r.err().contains(flags[0] + " " + flags[1] + " contradicts the file")
                    && r.err().contains("holds lenet-bn (avg pooling, sigmoid, input 28x28)"), r.err());
        }
        CliTestSupport.Result agree = CliTestSupport.run("eval", model.toString(), "--model", "lenet-bn", "--resize", "28",
                "--data", data.toString(), "--device", "cpu", "--limit", "10");
        assertEquals(0, agree.status(), "flags that agree with the file are fine: " + agree.err());
    }

    @Test
    void corruptTruncatedOrMissingModelFilesAreOneLineExitTwo() throws IOException {
        byte[] whole = Files.readAllBytes(model);
        Path truncated = tmp.resolve("truncated.safetensors");
        Files.write(truncated, Arrays.copyOf(whole, whole.length / 2));
        Path header = tmp.resolve("header.safetensors");
        Files.write(header, Arrays.copyOf(whole, 20));
        Path garbage = tmp.resolve("garbage.safetensors");
        Files.writeString(garbage, "this is not a model file at all, just some text that goes on for a while");
        Path empty = tmp.resolve("empty.safetensors");
        Files.write(empty, new byte[0]);
        byte[] flipped = whole.clone();
        flipped[12] = '!';   // inside the JSON header
        Path corrupt = tmp.resolve("corrupt.safetensors");
        Files.write(corrupt, flipped);
        for (Path f : new Path[] {truncated, header, garbage, empty, corrupt, tmp.resolve("missing.safetensors"), tmp}) {
            CliTestSupport.Result r = CliTestSupport.run("eval", f.toString(), "--data", data.toString(), "--device", "cpu");
            oneLineExitTwo(r, f.toString());
            assertTrue(r.err().contains(f.toString()), "the message names the file: " + r.err());
        }
    }

    @Test
    void badValuesAndOutputPathsAreRefused() {
        for (String[] args : new String[][] {
            {"eval"}, {"eval", model.toString(), "--batch", "0"}, {"eval", model.toString(), "--limit", "0"},
            {"eval", model.toString(), "--dataset", "cifar"}, {"eval", model.toString(), "--device", "tpu"},
            {"eval", model.toString(), "--model", "resnet"}, {"eval", model.toString(), "--resize", "8"},
            {"eval", model.toString(), "--json", tmp.resolve("no/such/dir/x.json").toString()},
            {"eval", model.toString(), "--png", tmp.toString()},
        }) {
            CliTestSupport.Result r = CliTestSupport.run(args);
            oneLineExitTwo(r, String.join(" ", args));
        }
    }
}
