package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.normnet.backend.Backends;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.train.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `normnet train` on a small synthetic data set: output, --history, --save, and its errors. */
class TrainCommandTest {

    @Test
    void tinyRunPrintsTheHeaderAndOneLinePerEpochAndWritesAValidHistory(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 300, 100);
        Path history = tmp.resolve("history.json");
        Files.writeString(history, "previous run");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu",
                "--threads", "1", "--limit", "200", "--test-limit", "60", "--epochs", "2", "--batch", "32",
                "--lr", "0.5", "--seed", "3", "--history", history.toString());
        assertEquals(0, r.status(), r.err());
        String[] lines = r.out().split("\\R");
        assertTrue(lines[0].startsWith("device: cpu: 1 thread") && lines[0].contains("(requested"), lines[0]);
        assertTrue(lines[1].startsWith("data: fashion-mnist from " + data.toAbsolutePath()), lines[1]);
        assertTrue(lines[1].contains("200 training, 60 test images"), lines[1]);
        assertTrue(lines[2].startsWith("model: lenet-bn, 44,878 parameters"), lines[2]);
        assertTrue(lines[3].startsWith("epoch"), lines[3]);
        assertTrue(lines[4].matches("\\s+1(\\s+[0-9.]+){5}"), lines[4]);
        assertTrue(lines[5].matches("\\s+2(\\s+[0-9.]+){5}"), lines[5]);
        assertTrue(lines[6].startsWith("done: 2 epochs"), lines[6]);

        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) JsonReader.parse(Files.readString(history));
        assertEquals("cpu", json.get("device"));
        @SuppressWarnings("unchecked")
        Map<String, Object> settings = (Map<String, Object>) json.get("settings");
        assertEquals("lenet-bn", settings.get("model"));
        assertEquals(2.0, settings.get("epochs"));
        assertEquals(32.0, settings.get("batch"));
        assertEquals(0.5, settings.get("lr"));
        assertEquals(200.0, settings.get("limit"));
        assertEquals(1.0, settings.get("threads"));
        assertEquals("sigmoid", settings.get("act"));
        assertEquals(data.toAbsolutePath().normalize().toString(), settings.get("data"));
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> epochs = (List<Map<String, Object>>) json.get("history");
        assertEquals(2, epochs.size());
        for (int e = 0; e < 2; e++) {
            Map<String, Object> rec = epochs.get(e);
            assertEquals(List.of("epoch", "train_loss", "train_acc", "test_acc", "examples_per_sec", "seconds"),
                    List.copyOf(rec.keySet()));
            assertEquals(e + 1.0, rec.get("epoch"));
            double loss = (Double) rec.get("train_loss");
            assertTrue(loss > 0 && loss < 10, "train_loss " + loss);
            for (String k : List.of("train_acc", "test_acc")) {
                double acc = (Double) rec.get(k);
                assertTrue(acc >= 0 && acc <= 1, k + " " + acc);
            }
            assertTrue((Double) rec.get("examples_per_sec") > 0);
            assertTrue((Double) rec.get("seconds") > 0);
        }
        // The printed line and the JSON say the same thing.
        assertTrue(lines[5].contains(String.format(java.util.Locale.ROOT, "%.4f", (Double) epochs.get(1).get("test_acc"))));
    }

    @Test
    void saveWritesACheckpointTheModelLoads(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 64, 20);
        Path save = tmp.resolve("model.ckpt");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu",
                "--model", "mlp-bn", "--epochs", "1", "--batch", "16", "--save", save.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("saved: " + save), r.out());
        try (Sequential model = Models.create("mlp-bn", ModelOptions.defaults()).build(99)) {
            Checkpoint.load(model, save);
            assertEquals(1f, model.state().get("2.num_batches_tracked")[0] / 4f); // 64 / 16 = 4 steps
        }
    }

    @Test
    void aMissingDataDirectoryIsNamed(@TempDir Path tmp) {
        Path missing = tmp.resolve("nowhere");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", missing.toString(), "--device", "cpu");
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: --data " + missing), r.err());
        assertFalse(r.out().contains("epoch"), r.out());
    }

    @Test
    void aCorruptDataFileIsNamed(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 50, 20);
        Path broken = data.resolve(SyntheticData.TRAIN_IMAGES);
        byte[] bytes = Files.readAllBytes(broken);
        Files.write(broken, java.util.Arrays.copyOf(bytes, bytes.length / 2)); // truncated
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu");
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: ") && r.err().contains(SyntheticData.TRAIN_IMAGES), r.err());
    }

    @Test
    void aLastBatchOfOneIsRefusedForBatchNormModels(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 65, 20);
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu",
                "--batch", "16");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("normnet: --batch 16 leaves a last batch of 1"), r.err());
    }

    @Test
    void cudaWithoutAGpuIsAOneLineError(@TempDir Path tmp) throws IOException {
        assumeFalse(Backends.cudaStatus().available(), "this machine has a usable GPU");
        Path data = SyntheticData.write(tmp.resolve("data"), 50, 20);
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cuda");
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: --device cuda: no usable GPU: "
                + Backends.cudaStatus().reason()), r.err());
    }
}
