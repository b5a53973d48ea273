package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Sequential;
import dev.normnet.train.EpochRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `normnet train --checkpoint-dir` and `--resume`: exact continuation, the directory's upkeep, and state refused whole. */
class CheckpointDirTest {
    private static final String[] SGD = {"--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--step-size", "1", "--gamma", "0.5"};
    private static final String[] ADAM = {"--optimizer", "adam", "--lr", "0.01", "--step-size", "1", "--gamma", "0.5"};

    /** train on the synthetic set: MLP-BN, batch 32 (200 images: a last batch of 8), seed 3, plus {@code more}. */
    private static CliTestSupport.Result train(Path data, String[] recipe, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(), "--device", "cpu", "--threads", "1",
                "--model", "mlp-bn", "--batch", "32", "--seed", "3", "--test-limit", "60"));
        args.addAll(Arrays.asList(recipe));
        args.addAll(Arrays.asList(more));
        return CliTestSupport.run(args.toArray(String[]::new));
    }

    private static CliTestSupport.Result resume(Path dir, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--resume", dir.toString(), "--device", "cpu"));
        args.addAll(Arrays.asList(more));
        return CliTestSupport.run(args.toArray(String[]::new));
    }

    @Test
    void fourEpochsResumedAfterTwoEqualFourInOneGoBitForBit(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 200, 100);
        for (String[] recipe : List.of(SGD, ADAM)) {
            Path run = Files.createDirectory(tmp.resolve(recipe[1]));
            Path whole = run.resolve("whole");
            Path parts = run.resolve("parts");
            CliTestSupport.Result a = train(data, recipe, "--epochs", "4", "--checkpoint-dir", whole.toString(),
                    "--history", run.resolve("whole.json").toString(), "--save", run.resolve("whole.safetensors").toString());
            assertEquals(0, a.status(), a.err());
            CliTestSupport.Result b1 = train(data, recipe, "--epochs", "2", "--checkpoint-dir", parts.toString());
            assertEquals(0, b1.status(), b1.err());
            assertTrue(b1.out().contains("checkpoint: " + parts.resolve("epoch-0002")), b1.out());
            // Given again with the stored values (in another case, another spelling), settings are accepted;
            // the thread count may differ.
            CliTestSupport.Result b2 = resume(parts, "--epochs", "4", "--threads", "2", "--model", "MLP-BN", "--batch", "32",
                    "--history", run.resolve("parts.json").toString(), "--save", run.resolve("parts.safetensors").toString());
            assertEquals(0, b2.status(), b2.err());
            assertTrue(b2.out().contains("resumed: " + parts.resolve("epoch-0002") + " (2 of 4 epochs done)"), b2.out());
            assertTrue(b2.out().contains(", batch 32, 4 epochs"), b2.out());

            for (String file : List.of(CheckpointDir.MODEL, CheckpointDir.OPTIMIZER)) {
                assertArrayEquals(Files.readAllBytes(whole.resolve("epoch-0004").resolve(file)),
                        Files.readAllBytes(parts.resolve("epoch-0004").resolve(file)), recipe[1] + " " + file);
            }
            // --save writes the final model, nothing else: the same bytes as the last state's model file.
            byte[] saved = Files.readAllBytes(run.resolve("parts.safetensors"));
            assertArrayEquals(Files.readAllBytes(run.resolve("whole.safetensors")), saved);
            assertArrayEquals(Files.readAllBytes(parts.resolve("epoch-0004").resolve(CheckpointDir.MODEL)), saved);

            List<EpochRecord> ha = JsonFiles.read(run.resolve("whole.json"), HistoryFile.class).history();
            List<EpochRecord> hb = JsonFiles.read(run.resolve("parts.json"), HistoryFile.class).history();
            assertEquals(4, ha.size());
            assertEquals(4, hb.size());
            for (int e = 0; e < 4; e++) {
                assertEquals(ha.get(e).epoch(), hb.get(e).epoch());
                assertEquals(ha.get(e).trainLoss(), hb.get(e).trainLoss(), "train loss, epoch " + (e + 1));
                assertEquals(ha.get(e).trainAcc(), hb.get(e).trainAcc(), "train accuracy, epoch " + (e + 1));
                assertEquals(ha.get(e).testAcc(), hb.get(e).testAcc(), "test accuracy, epoch " + (e + 1));
                assertTrue(b2.out().contains(EpochPrinter.line(hb.get(e))), b2.out());
            }
            CheckpointDir.State sa = CheckpointDir.read(whole).state();
            CheckpointDir.State sb = CheckpointDir.read(parts).state();
            assertEquals(sa.settings(), sb.settings());
            assertEquals(sa.dataFiles(), sb.dataFiles());
            assertEquals(4, sb.epoch());
            assertEquals(List.of("epoch-0003", "epoch-0004"), names(whole));
            assertEquals(List.of("epoch-0003", "epoch-0004"), names(parts));
        }
    }

    @Test
    void optionsThatDifferFromTheStoredRunAreRefusedByName(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 100, 60);
        Path dir = tmp.resolve("ck");
        assertEquals(0, train(data, SGD, "--epochs", "1", "--checkpoint-dir", dir.toString()).status());
        assertRefused(resume(dir, "--lr", "0.2"), "--lr 0.2 differs from the resumed run's 0.1 (" + dir.resolve("epoch-0001"));
        assertRefused(resume(dir, "--optimizer", "adam"), "--optimizer adam differs from the resumed run's sgd");
        assertRefused(resume(dir, "--data", tmp.toString()), "--data " + tmp + " differs");
        assertRefused(resume(dir, "--epochs", "1"), "--epochs 1: the run in " + dir + " has done 1 epoch already");
        assertRefused(resume(dir), "--resume " + dir + ": the run has done all 1 of its epochs; --epochs N trains on");
        // A new run does not write into a directory that holds another run's state.
        assertRefused(train(data, SGD, "--epochs", "1", "--checkpoint-dir", dir.toString()),
                "--checkpoint-dir " + dir + ": already holds training state (epoch-0001); continue it with --resume " + dir);
        // Only the directory itself is created.
        Path deep = tmp.resolve("no").resolve("such");
        assertRefused(train(data, SGD, "--checkpoint-dir", deep.toString()), "--checkpoint-dir " + deep + ": directory "
                + deep.getParent() + " does not exist");
        assertFalse(Files.exists(tmp.resolve("no")));
        // Resumed into another directory: that one starts at epoch 2 and holds the whole history.
        Path other = tmp.resolve("other");
        CliTestSupport.Result r = resume(dir, "--epochs", "2", "--checkpoint-dir", other.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals(List.of("epoch-0002"), names(other));
        assertEquals(2, CheckpointDir.read(other).state().history().size());
    }

    @Test
    void leftoversOfAKilledRunAreRemovedAndTheLastTwoEpochsKept(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 100, 60);
        Path dir = tmp.resolve("ck");
        assertEquals(0, train(data, SGD, "--epochs", "2", "--checkpoint-dir", dir.toString()).status());
        Files.createDirectories(dir.resolve(".epoch-0003.tmp").resolve("sub"));
        Files.writeString(dir.resolve(".epoch-0003.tmp").resolve("sub").resolve(CheckpointDir.MODEL), "half");
        Files.createDirectories(dir.resolve(".epoch-0001.old"));
        Files.writeString(dir.resolve("notes.txt"), "mine");
        CliTestSupport.Result r = resume(dir, "--epochs", "3");
        assertEquals(0, r.status(), r.err());
        assertEquals(List.of("epoch-0002", "epoch-0003", "notes.txt"), names(dir));
    }

    @Test
    void damagedOrForeignStateIsRefusedWithOneLineNamingTheFile(@TempDir Path tmp) throws IOException {
        Path data = SyntheticData.write(tmp.resolve("data"), 100, 60);
        Path good = tmp.resolve("good");
        assertEquals(0, train(data, SGD, "--epochs", "1", "--checkpoint-dir", good.toString()).status());
        int[] n = {0};
        Case damaged = (what, expected) -> {
            Path dir = tmp.resolve("case" + n[0]++);
            copy(good, dir);
            Path epoch = dir.resolve("epoch-0001");
            what.apply(epoch);
            assertRefused(resume(dir, "--epochs", "2"), expected.replace("EPOCH", epoch.toString()));
            assertEquals(List.of("epoch-0001"), names(dir), "nothing written");
        };
        damaged.check(e -> flip(e.resolve(CheckpointDir.MODEL), 200), "EPOCH/model.safetensors: SHA-256 does not match");
        damaged.check(e -> truncate(e.resolve(CheckpointDir.MODEL)), "EPOCH/model.safetensors: SHA-256 does not match");
        damaged.check(e -> flip(e.resolve(CheckpointDir.OPTIMIZER), 100), "EPOCH/optimizer.safetensors: SHA-256 does not match");
        damaged.check(e -> truncate(e.resolve(CheckpointDir.OPTIMIZER)), "EPOCH/optimizer.safetensors: SHA-256 does not match");
        damaged.check(e -> Files.delete(e.resolve(CheckpointDir.MODEL)), "EPOCH/model.safetensors: no such file");
        damaged.check(e -> Files.delete(e.resolve(CheckpointDir.STATE)), "EPOCH/state.json: missing");
        damaged.check(e -> Files.writeString(e.resolve(CheckpointDir.STATE), "{\"format_version\": 1, "),
                "EPOCH/state.json: invalid JSON");
        damaged.check(e -> editState(e, s -> s.put("format_version", 2)),
                "EPOCH/state.json: format version 2 is newer than this normnet reads (1)");
        damaged.check(e -> editState(e, s -> s.remove("history")), "EPOCH/state.json: unexpected content");
        damaged.check(e -> editState(e, s -> s.put("epoch", 7)), "EPOCH/state.json: epoch 7 in a directory named epoch-0001");
        // Files whose digests were updated to match, but that do not fit the run.
        damaged.check(e -> replaceModel(e, "mlp"), "EPOCH/model.safetensors: holds {\"format_version\":1,\"model\":\"mlp\"");
        damaged.check(e -> replaceOptimizer(e, 5), "EPOCH/optimizer.safetensors: Sgd: state 'momentum_buffer' has 5 values");

        Path empty = Files.createDirectory(tmp.resolve("empty"));
        assertRefused(resume(empty), "--resume " + empty + ": holds no training state");
        assertRefused(resume(tmp.resolve("missing")), "--resume " + tmp.resolve("missing") + ": no such directory");

        // The data set changed since the run started (a byte of the training images flipped).
        flip(data.resolve(SyntheticData.TRAIN_IMAGES), 5000);
        assertRefused(resume(good, "--epochs", "2"), data.resolve(SyntheticData.TRAIN_IMAGES)
                + ": SHA-256 differs from the one recorded in " + good.resolve("epoch-0001").resolve(CheckpointDir.STATE));
    }

    private interface Damage {
        void apply(Path epochDir) throws IOException;
    }

    private interface Case {
        void check(Damage damage, String expected) throws IOException;
    }

    private static void assertRefused(CliTestSupport.Result r, String expected) {
        assertEquals(2, r.status(), r.out() + r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: " + expected), r.err());
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Files.copy(p, to.resolve(from.relativize(p).toString()));
            }
        }
    }

    private static void flip(Path file, int at) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[at] ^= 0x01;
        Files.write(file, b);
    }

    private static void truncate(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(b, b.length - 4));
    }

    private interface Edit {
        void apply(ObjectNode state);
    }

    private static void editState(Path epoch, Edit edit) throws IOException {
        Path file = epoch.resolve(CheckpointDir.STATE);
        ObjectNode state = (ObjectNode) JsonFiles.readObject(file);
        edit.apply(state);
        Files.writeString(file, JsonFiles.write(state));
    }

    /** Puts a model file of another preset in place, with its digest recorded. */
    private static void replaceModel(Path epoch, String preset) throws IOException {
        try (Sequential other = new ModelSpec(preset, ModelOptions.defaults(), List.of()).create().build(0)) {
            ModelFile.write(other, new ModelSpec(preset, ModelOptions.defaults(), List.of()), epoch.resolve(CheckpointDir.MODEL));
        }
        recordDigest(epoch, CheckpointDir.MODEL);
    }

    /** Puts an optimizer file with a momentum buffer of {@code length} values in place, with its digest recorded. */
    private static void replaceOptimizer(Path epoch, int length) throws IOException {
        new dev.normnet.io.SafeTensors.Builder().putMetadata("optimizer", "sgd")
                .putF32("momentum_buffer", new long[] {length}, new float[length])
                .write(epoch.resolve(CheckpointDir.OPTIMIZER));
        recordDigest(epoch, CheckpointDir.OPTIMIZER);
    }

    private static void recordDigest(Path epoch, String name) throws IOException {
        String digest = CheckpointDir.sha256(epoch.resolve(name));
        editState(epoch, s -> ((ObjectNode) s.get("files")).put(name, digest));
    }
}
