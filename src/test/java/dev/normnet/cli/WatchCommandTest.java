package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.train.EpochRecord;
import dev.normnet.train.WatchLog;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code train --watch N} and {@code plot --watch} on a small synthetic data set. */
class WatchCommandTest {
    @TempDir
    static Path tmp;
    static Path data;

    @BeforeAll
    static void data() throws IOException {
        data = SyntheticData.write(tmp.resolve("data"), 300, 60);
    }

    /** train on 200 examples, batch 32: 7 steps an epoch, the last of 8. */
    private static CliTestSupport.Result train(String model, Path history, Path save, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--model", model, "--data", data.toString(), "--device", "cpu",
                "--threads", "1", "--limit", "200", "--epochs", "2", "--batch", "32", "--lr", "0.5", "--seed", "3",
                "--history", history.toString(), "--save", save.toString()));
        args.addAll(List.of(more));
        return CliTestSupport.run(args.toArray(String[]::new));
    }

    @Test
    void watchRecordsIntoTheHistoryAndLeavesTheModelBitwiseIdentical() throws IOException {
        Path offHistory = tmp.resolve("off.json");
        Path onHistory = tmp.resolve("on.json");
        Path offModel = tmp.resolve("off.safetensors");
        Path onModel = tmp.resolve("on.safetensors");
        CliTestSupport.Result off = train("lenet-bn", offHistory, offModel);
        assertEquals(0, off.status(), off.err());
        CliTestSupport.Result on = train("lenet-bn", onHistory, onModel, "--watch", "3");
        assertEquals(0, on.status(), on.err());
        assertTrue(on.out().contains("watch: every 3 steps (those steps run eagerly"), on.out());
        assertTrue(on.out().matches("(?s).*watch: 4 steps watched, [0-9.]+ s spent reading back and sorting.*"), on.out());
        assertFalse(off.out().contains("watch"), off.out());

        assertArrayEquals(Files.readAllBytes(offModel), Files.readAllBytes(onModel), "watching changed the trained model");
        HistoryFile a = JsonFiles.read(offHistory, HistoryFile.class);
        HistoryFile b = JsonFiles.read(onHistory, HistoryFile.class);
        assertNull(a.watch());
        assertFalse(JsonFiles.readObject(offHistory).has("watch"), "no watch key without --watch");
        for (int e = 0; e < 2; e++) {
            EpochRecord x = a.history().get(e);
            EpochRecord y = b.history().get(e);
            assertEquals(x.trainLoss(), y.trainLoss());
            assertEquals(x.trainAcc(), y.trainAcc());
            assertEquals(x.testAcc(), y.testAcc());
        }
        assertEquals(null, a.settings().get("watch"));
        assertEquals(3, b.settings().get("watch"));

        WatchLog w = b.watch();
        assertNotNull(w);
        assertEquals(3, w.every());
        // 7 steps an epoch, 14 in all: steps 3, 6, 9, 12.
        assertEquals(List.of(3L, 6L, 9L, 12L), w.steps().stream().map(WatchLog.Step::step).toList());
        assertEquals(List.of("BatchNorm2d-2", "Sigmoid-3", "BatchNorm2d-6", "Sigmoid-7", "BatchNorm1d-11", "Sigmoid-12",
                "BatchNorm1d-14", "Sigmoid-15"), w.layers().stream().map(WatchLog.Layer::name).toList());
        assertEquals(2, w.epochs().size());
        assertEquals(6, w.epochs().get(0).gamma().get("BatchNorm2d-2").size());
        JsonNode first = JsonFiles.readObject(onHistory).get("watch").get("steps").get(0).get("inputs").get("Sigmoid-3");
        assertTrue(first.has("p15") && first.has("p50") && first.has("p85") && !first.has("batch_mean"), first.toString());
    }

    @Test
    void watchNeedsAHistoryAndAPositiveInterval() {
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu", "--watch", "5");
        assertEquals(2, r.status());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: --watch 5 needs --history"), r.err());
        r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu", "--watch", "0",
                "--history", tmp.resolve("h0.json").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("normnet: --watch") && r.err().contains("0"), r.err());
    }

    @Test
    void anIntervalLongerThanTheRunIsRefusedBeforeTraining() {
        // 200 examples in batches of 32: 7 steps an epoch, 14 in 2 epochs; --watch 15 would watch none.
        Path history = tmp.resolve("too-long.json");
        CliTestSupport.Result r = train("lenet-bn", history, tmp.resolve("too-long.safetensors"), "--watch", "15");
        assertEquals(2, r.status(), r.err());
        assertEquals(1, r.errLines().length, r.err());
        assertEquals("normnet: --watch 15 watches no step: the run has 14 steps (2 epochs of 7 batches of up to 32); "
                + "use --watch 14 or less", r.errLines()[0]);
        assertFalse(Files.exists(history), "nothing trained, nothing written");
        assertEquals(0, train("lenet-bn", history, tmp.resolve("last.safetensors"), "--watch", "14").status());
    }

    @Test
    void plotWatchDrawsBothRunsSideBySideAtTheSizeAskedFor() throws IOException {
        Path bn = tmp.resolve("lenet-bn.json");
        Path plain = tmp.resolve("lenet.json");
        assertEquals(0, train("lenet-bn", bn, tmp.resolve("p1.safetensors"), "--watch", "2").status());
        assertEquals(0, train("lenet", plain, tmp.resolve("p2.safetensors"), "--watch", "2").status());
        Path png = tmp.resolve("watch.png");
        CliTestSupport.Result r = CliTestSupport.run("plot", "--watch", plain.toString(), bn.toString(),
                "--width", "900", "--height", "640", "--out", png.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals("wrote " + png + "\n", r.out().replace("\r", ""));
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(900, img.getWidth());
        assertEquals(640, img.getHeight());

        // One file, a named layer, the default size.
        Path one = tmp.resolve("one.png");
        r = CliTestSupport.run("plot", "--watch", "--layer", "sigmoid-7", bn.toString(), "--out", one.toString());
        assertEquals(0, r.status(), r.err());
        img = ImageIO.read(one.toFile());
        assertEquals(1400, img.getWidth());
        assertEquals(900, img.getHeight());

        // A layer LeNet-BN has and LeNet does not match.
        r = CliTestSupport.run("plot", "--watch", "--layer", "BatchNorm2d-2", bn.toString(), plain.toString(),
                "--out", tmp.resolve("x.png").toString());
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("normnet: " + plain + ": no BatchNorm2d number 1"), r.err());
    }

    @Test
    void plotWatchErrorsNameTheLayerOrTheFile() throws IOException {
        Path bn = tmp.resolve("errors-bn.json");
        assertEquals(0, train("lenet-bn", bn, tmp.resolve("e.safetensors"), "--watch", "4").status());
        Path png = tmp.resolve("e.png");
        CliTestSupport.Result r = CliTestSupport.run("plot", "--watch", "--layer", "Sigmoid-4", bn.toString(), "--out", png.toString());
        assertEquals(2, r.status());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: --layer Sigmoid-4: no such watched layer in " + bn), r.err());
        assertTrue(r.err().contains("its layers: BatchNorm2d-2, Sigmoid-3, BatchNorm2d-6"), r.err());

        Path unwatched = Files.writeString(tmp.resolve("unwatched.json"), """
                {"device": "cpu", "settings": {"model": "lenet"},
                 "history": [{"epoch": 1, "train_loss": 0.6, "train_acc": 0.78, "test_acc": 0.80, "examples_per_sec": 5000, "seconds": 12}]}
                """);
        r = CliTestSupport.run("plot", "--watch", bn.toString(), unwatched.toString(), "--out", png.toString());
        assertEquals(2, r.status());
        assertEquals(1, r.errLines().length, r.err());
        assertTrue(r.err().startsWith("normnet: " + unwatched + ": no watch data (train with --watch N"), r.err());

        r = CliTestSupport.run("plot", "--layer", "Sigmoid-3", bn.toString(), "--out", png.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().startsWith("normnet: --layer Sigmoid-3 applies to --watch only"), r.err());

        r = CliTestSupport.run("plot", "--watch", bn.toString(), bn.toString(), bn.toString(), "--out", png.toString());
        assertEquals(2, r.status());
        assertTrue(r.err().contains("one or two history files"), r.err());
        assertFalse(Files.exists(png));
    }
}
