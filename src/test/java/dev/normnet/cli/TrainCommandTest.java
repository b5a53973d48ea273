package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.normnet.backend.Backends;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.io.ModelFile;
import dev.normnet.train.EpochRecord;
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
        // The fast CPU path warms up first: 200 images in batches of 32 cap it at one epoch's 7 steps, then 16 evaluation steps.
        assertTrue(lines[3].matches("warm-up: [0-9]+\\.[0-9] s \\(23 steps\\)"), lines[3]);
        assertTrue(lines[4].startsWith("epoch"), lines[4]);
        assertTrue(lines[5].matches("\\s+1(\\s+[0-9.]+){5}"), lines[5]);
        assertTrue(lines[6].matches("\\s+2(\\s+[0-9.]+){5}"), lines[6]);
        assertTrue(lines[7].startsWith("done: 2 epochs"), lines[7]);

        HistoryFile json = JsonFiles.read(history, HistoryFile.class);
        assertEquals("cpu", json.device());
        assertTrue(json.deviceDescription().startsWith("cpu: 1 thread"), json.deviceDescription());
        Map<String, Object> settings = json.settings();
        assertEquals("lenet-bn", settings.get("model"));
        assertEquals(2, settings.get("epochs"));
        assertEquals(32, settings.get("batch"));
        assertEquals(0.5, settings.get("lr"));
        assertEquals(200, settings.get("limit"));
        assertEquals(1, settings.get("threads"));
        assertEquals("sigmoid", settings.get("act"));
        assertEquals(false, settings.get("no_graph"));
        assertEquals(false, settings.get("no_warmup"));
        assertEquals(null, settings.get("save"));
        assertEquals(history.toString(), settings.get("history"));
        assertEquals(data.toAbsolutePath().normalize().toString(), settings.get("data"));
        assertEquals(List.of("model", "data", "dataset", "epochs", "batch", "lr", "optimizer", "momentum", "weight_decay",
                "step_size", "gamma", "device", "seed", "limit", "test_limit", "resize", "pool", "act", "init", "history",
                "no_graph", "no_warmup", "save", "checkpoint_dir", "resume", "threads", "watch", "train_examples", "test_examples", "parameters"), List.copyOf(settings.keySet()));
        List<EpochRecord> epochs = json.history();
        assertEquals(2, epochs.size());
        for (int e = 0; e < 2; e++) {
            EpochRecord rec = epochs.get(e);
            assertEquals(e + 1, rec.epoch());
            assertTrue(rec.trainLoss() > 0 && rec.trainLoss() < 10, "train_loss " + rec.trainLoss());
            assertTrue(rec.trainAcc() >= 0 && rec.trainAcc() <= 1, "train_acc " + rec.trainAcc());
            assertTrue(rec.testAcc() >= 0 && rec.testAcc() <= 1, "test_acc " + rec.testAcc());
            assertTrue(rec.examplesPerSec() > 0);
            assertTrue(rec.seconds() > 0);
        }
        // The printed line and the JSON say the same thing.
        assertEquals(EpochPrinter.line(epochs.get(1)), lines[6]);
        assertTrue(lines[2].contains("sgd lr 0.5, batch 32, 2 epochs"), lines[2]);
        // No progress output into a redirected log: the epoch lines follow the header directly.
        assertFalse(r.out().contains("\r"), r.out());
    }

    @Test
    void noWarmupPrintsNoWarmUpLineAndTrainsTheSameBits(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 100, 40);
        CliTestSupport.Result[] runs = new CliTestSupport.Result[2];
        for (int i = 0; i < 2; i++) {
            String name = i == 0 ? "warm" : "cold";
            List<String> args = new java.util.ArrayList<>(List.of("train", "--data", data.toString(), "--device", "cpu",
                    "--threads", "2", "--epochs", "2", "--batch", "16", "--lr", "0.5", "--history",
                    tmp.resolve(name + ".json").toString(), "--save", tmp.resolve(name + ".safetensors").toString()));
            if (i == 1) {
                args.add("--no-warmup");
            }
            runs[i] = CliTestSupport.run(args.toArray(new String[0]));
            assertEquals(0, runs[i].status(), runs[i].err());
        }
        assertTrue(runs[0].out().contains("\nwarm-up: "), runs[0].out());
        assertFalse(runs[1].out().contains("warm-up"), runs[1].out());
        assertArrayEquals(Files.readAllBytes(tmp.resolve("warm.safetensors")), Files.readAllBytes(tmp.resolve("cold.safetensors")));
        List<EpochRecord> warm = JsonFiles.read(tmp.resolve("warm.json"), HistoryFile.class).history();
        List<EpochRecord> cold = JsonFiles.read(tmp.resolve("cold.json"), HistoryFile.class).history();
        assertEquals(2, warm.size());
        for (int e = 0; e < 2; e++) {
            assertEquals(cold.get(e).trainLoss(), warm.get(e).trainLoss());
            assertEquals(cold.get(e).trainAcc(), warm.get(e).trainAcc());
            assertEquals(cold.get(e).testAcc(), warm.get(e).testAcc());
        }
        assertEquals(true, JsonFiles.read(tmp.resolve("cold.json"), HistoryFile.class).settings().get("no_warmup"));
    }

    @Test
    void saveWritesAModelFileThatRebuildsItsModel(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 64, 20);
        Path save = tmp.resolve("model.safetensors");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu",
                "--model", "mlp-bn", "--epochs", "1", "--batch", "16", "--save", save.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("saved: " + save), r.out());
        try (ModelFile.Loaded loaded = ModelFile.load(save)) {
            assertEquals("mlp-bn", loaded.spec().model());
            assertEquals("relu", loaded.spec().options().activation());
            assertEquals(10, loaded.spec().classes().size());
            assertEquals(4f, loaded.model().state().get("2.num_batches_tracked")[0]); // 64 / 16 = 4 steps
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

    @Test
    void valuesFloat32CannotHoldAreUsageErrors(@TempDir Path tmp) {
        for (String[] flags : new String[][] {{"--lr", "1e-50"}, {"--weight-decay", "1e-46"}, {"--step-size", "1", "--gamma", "1e-50"}}) {
            String[] args = java.util.stream.Stream.concat(java.util.stream.Stream.of("train", "--data", tmp.toString(), "--device", "cpu"),
                    java.util.Arrays.stream(flags)).toArray(String[]::new);
            CliTestSupport.Result r = CliTestSupport.run(args);
            assertEquals(2, r.status(), r.err());
            String flag = flags[flags.length - 2];
            assertTrue(r.err().startsWith("normnet: " + flag + " ") && r.err().contains("is too small for float32"), r.err());
        }
    }

    @Test
    void threadsAreCappedPerCoreWithAMessage(@TempDir Path tmp) {
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", tmp.resolve("none").toString(), "--device", "cpu",
                "--threads", "4096");
        int cap = Check.THREADS_PER_CORE * Runtime.getRuntime().availableProcessors();
        assertTrue(r.err().contains("normnet: --threads 4096 is more than 8 per core on this machine's "
                + Runtime.getRuntime().availableProcessors() + " cores; using " + cap), r.err());
        assertEquals(2, CliTestSupport.run("train", "--threads", "100000").status());
    }

    @Test
    void aPlanThatCannotFitIsRefusedBeforeAnythingIsAllocated(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 64, 20);
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu",
                "--resize", "1000", "--batch", "2048");
        assertEquals(2, r.status(), r.err());
        assertEquals("normnet: --batch 2048 --resize 1000: the output of layer 0 (Conv2d) would be 2048 x [6, 996, 996]"
                + " = 12189892608 values, more than one tensor holds (2^31 - 1)", r.err().strip());
        org.junit.jupiter.api.Assumptions.assumeTrue(Runtime.getRuntime().maxMemory() < (50L << 30), "a heap of 50 GiB or more");
        r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu", "--resize", "1000", "--batch", "340");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("normnet: --batch 340 --resize 1000: training needs 59.2 GiB (57.4 GiB of activations"
                + " and their gradients); the JVM may use "), r.err());
    }

    @Test
    void aRunThatGoesNonFiniteStopsWithExitThreeAndKeepsWhatWasGood(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 64, 20);
        Path ck = tmp.resolve("ck");
        Path history = tmp.resolve("h.json");
        Path save = tmp.resolve("m.safetensors");
        // Epoch 1 trains at lr 0.1; StepLR then multiplies it by 1e6, and epoch 2 diverges.
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu", "--threads", "1",
                "--model", "mlp", "--epochs", "3", "--batch", "16", "--lr", "0.1", "--step-size", "1", "--gamma", "1e6",
                "--checkpoint-dir", ck.toString(), "--history", history.toString(), "--save", save.toString());
        assertEquals(3, r.status(), r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: training diverged in epoch 2 at step "), r.err());
        assertTrue(r.err().contains(": the loss is NaN; first non-finite: ") || r.err().contains(": the loss is Infinity; first"), r.err());
        assertTrue(r.err().strip().endsWith("(the last good state is " + ck.resolve("epoch-0001") + ")"), r.err());
        assertFalse(Files.exists(save), "a diverged model was saved");
        assertTrue(Files.isDirectory(ck.resolve("epoch-0001")));
        assertFalse(Files.exists(ck.resolve("epoch-0002")));
        HistoryFile h = JsonFiles.read(history, HistoryFile.class);
        assertEquals(1, h.history().size());
        assertEquals(2, h.stopped().epoch());
        assertTrue(h.stopped().step() >= 1 && h.stopped().step() <= 4, h.stopped().toString());
        assertTrue(h.stopped().reason().startsWith("training diverged in epoch 2"), h.stopped().reason());
        // The last good state resumes (and, with the same settings, diverges again the same way).
        CliTestSupport.Result again = CliTestSupport.run("train", "--resume", ck.toString(), "--device", "cpu", "--threads", "1");
        assertEquals(3, again.status(), again.err());
        assertEquals(r.errLines()[0].substring(0, r.errLines()[0].indexOf(" (the last")),
                again.errLines()[0].substring(0, again.errLines()[0].indexOf(" (the last")));
    }
}
