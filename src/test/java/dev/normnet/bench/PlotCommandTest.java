package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();

    private int plot(String... args) {
        return PlotCommand.run(args, new PrintStream(outBytes, true, StandardCharsets.UTF_8),
                new PrintStream(errBytes, true, StandardCharsets.UTF_8));
    }

    private String err() {
        return errBytes.toString(StandardCharsets.UTF_8);
    }

    private static String benchJson(String impl, double lenet, Double mlp) {
        String mlpCase = mlp == null ? "" : """
                ,{"id": "mlp-bn-28/train/b32/cpu", "model": "mlp-bn", "input": 28, "mode": "train", "batch": 32,
                  "device": "cpu", "graph": false, "examples_per_sec": {"median": %s}}""".formatted(mlp);
        return """
                {"schema": "normnet-bench/1", "implementation": "%s", "machine": {"cpu_model": "Test CPU"}, "gpu": null,
                 "cases": [{"id": "lenet-bn-28/train/b256/cpu", "model": "lenet-bn", "input": 28, "mode": "train",
                  "batch": 256, "device": "cpu", "graph": false, "examples_per_sec": {"median": %s}}%s]}
                """.formatted(impl, lenet, mlpCase);
    }

    @Test
    void barChartFromSeveralBenchFiles() throws Exception {
        Path a = Files.writeString(dir.resolve("normnet.json"), benchJson("normnet", 5000, 9000.0));
        Path b = Files.writeString(dir.resolve("pytorch.json"), benchJson("pytorch", 4000, null));
        Path png = dir.resolve("out/chart.png");
        assertEquals(0, plot("--width", "800", "--height", "500", "--out", png.toString(), a.toString(), b.toString()), err());
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(800, img.getWidth());
        assertEquals(500, img.getHeight());
    }

    @Test
    void trainingCurvesFromAHistoryFile() throws Exception {
        Path h = Files.writeString(dir.resolve("history.json"), """
                {"device": "cpu: 2 threads", "settings": {"model": "lenet-bn", "lr": 1.0},
                 "history": [{"epoch": 1, "train_loss": 0.6, "train_acc": 0.78, "test_acc": 0.80, "examples_per_sec": 5000, "seconds": 12},
                             {"epoch": 2, "train_loss": 0.4, "train_acc": 0.85, "test_acc": 0.84, "examples_per_sec": 5100, "seconds": 12}]}
                """);
        assertEquals(0, plot(h.toString()), err());
        Path png = dir.resolve("history.png");
        assertTrue(Files.isRegularFile(png), "default output name is the input's with .png");
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(1400, img.getWidth());
    }

    @Test
    void mixingKindsIsAnError() throws Exception {
        Path a = Files.writeString(dir.resolve("a.json"), benchJson("normnet", 1, null));
        Path h = Files.writeString(dir.resolve("h.json"), "{\"history\": []}");
        assertEquals(1, plot(a.toString(), h.toString()));
        assertTrue(err().contains("h.json: cannot mix"), err());
    }

    @Test
    void badInputsGiveClearErrors() throws Exception {
        assertEquals(2, plot());
        assertTrue(err().contains("no input files"), err());
        assertEquals(2, plot("--width", "abc", "x.json"));
        assertTrue(err().contains("--width abc: expected a positive integer"), err());
        assertEquals(1, plot(dir.resolve("missing.json").toString()));
        assertTrue(err().contains("missing.json: no such file"), err());
        Path other = Files.writeString(dir.resolve("other.json"), "{\"x\": 1}");
        assertEquals(1, plot(other.toString()));
        assertTrue(err().contains("neither a bench result"), err());
        Path empty = Files.writeString(dir.resolve("empty.json"), "{\"history\": []}");
        assertEquals(1, plot(empty.toString()));
        assertTrue(err().contains("\"history\" has no epochs"), err());
        Path zero = Files.writeString(dir.resolve("zero.json"), benchJson("normnet", 0, null));
        assertEquals(1, plot(zero.toString()));
        assertTrue(err().contains("must be positive"), err());
    }
}
