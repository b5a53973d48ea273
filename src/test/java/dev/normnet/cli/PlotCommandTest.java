package dev.normnet.cli;

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

    /** Runs {@code normnet plot ARGS} through the command line. */
    private int plot(String... args) {
        errBytes.reset();
        String[] line = new String[args.length + 1];
        line[0] = "plot";
        System.arraycopy(args, 0, line, 1, args.length);
        return Main.run(line, new PrintStream(outBytes, true, StandardCharsets.UTF_8),
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
        Path png = Files.createDirectories(dir.resolve("out")).resolve("chart.png");
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
        assertEquals(2, plot(a.toString(), h.toString()));
        assertTrue(err().startsWith("normnet: ") && err().contains("h.json: cannot mix"), err());
    }

    @Test
    void badInputsGiveClearErrors() throws Exception {
        assertEquals(2, plot());
        assertTrue(err().contains("missing required parameter: 'FILE.json"), err());
        assertEquals(2, plot("--width", "abc", "x.json"));
        assertTrue(err().contains("invalid value for option '--width': 'abc'"), err());
        assertEquals(2, plot(dir.resolve("missing.json").toString()));
        assertEquals("normnet: " + dir.resolve("missing.json") + ": no such file or directory", err().trim());
        Path other = Files.writeString(dir.resolve("other.json"), "{\"x\": 1}");
        assertEquals(2, plot(other.toString()));
        assertTrue(err().contains("neither a bench result"), err());
        Path empty = Files.writeString(dir.resolve("empty.json"), "{\"history\": []}");
        assertEquals(2, plot(empty.toString()));
        assertTrue(err().contains("\"history\" has no epochs"), err());
        Path zero = Files.writeString(dir.resolve("zero.json"), benchJson("normnet", 0, null));
        assertEquals(2, plot(zero.toString()));
        assertTrue(err().contains("must be positive"), err());
        Path broken = Files.writeString(dir.resolve("broken.json"), "{\"cases\": [");
        assertEquals(2, plot(broken.toString()));
        assertTrue(err().startsWith("normnet: " + broken + ": invalid JSON"), err());
        Path shape = Files.writeString(dir.resolve("shape.json"), "{\"cases\": [{\"model\": \"mlp-bn\"}]}");
        assertEquals(2, plot(shape.toString()));
        assertTrue(err().startsWith("normnet: " + shape + ": unexpected content"), err());
        assertEquals(1, err().split("\\R").length, err());
    }

    @Test
    void aBenchFileOfThePyTorchScriptPlots() throws Exception {
        // benchmarks/pytorch/bench.py: its own runtime and gpu keys, an optimizer of null for inference
        Path torch = Files.writeString(dir.resolve("pytorch.json"), """
                {"schema": "normnet-bench/1", "implementation": "pytorch", "date": "2026-01-01T00:00:00Z",
                 "git_commit": "unknown", "machine": {"hostname": "h", "os": "Linux 6", "cores": 2, "cpu_model": "Test CPU",
                 "load_average": [0.1, 0.2, 0.3]}, "gpu": {"name": "NVIDIA H100", "driver": "580", "cuda": "13.0", "cudnn": "91000"},
                 "runtime": {"python": "3.12", "torch": "2.11"}, "threads": 2, "settings": {"quick": true},
                 "cases": [{"id": "lenet-bn-28/infer/b1000/cuda/graph", "model": "lenet-bn", "input": 28, "mode": "infer",
                  "batch": 1000, "device": "cuda", "graph": true, "optimizer": null, "steps_per_run": 10, "repeats": 3,
                  "seconds": {"median": 0.1, "min": 0.1, "max": 0.1, "q1": 0.1, "q3": 0.1, "runs": [0.1, 0.1, 0.1]},
                  "examples_per_sec": {"median": 900000.0, "min": 1, "max": 2, "q1": 1, "q3": 2, "runs": [1, 2, 3]},
                  "speedup_vs_cpu": null}]}
                """);
        Path png = dir.resolve("torch.png");
        assertEquals(0, plot("-o", png.toString(), torch.toString()), err());
        assertTrue(Files.size(png) > 0);
    }

    /**
     * Found by JsonFuzzTest (seed history-huge-numbers.json): a loss of 1e999 reads as an infinity,
     * which XChart refused with an IllegalArgumentException, exit 1 "internal error". Now plot
     * refuses it before drawing, naming the file and the key, exit 2.
     */
    @Test
    void anInfiniteOrHugeHistoryValueIsRefusedNamingTheKey() throws Exception {
        String epoch = "{\"epoch\": 1, \"train_loss\": %s, \"train_acc\": 0.5, \"test_acc\": null, "
                + "\"examples_per_sec\": 1, \"seconds\": 1}";
        for (String v : new String[] {"1e999", "-1e999", "1e301"}) {
            Path h = Files.writeString(dir.resolve("h.json"), "{\"history\": [" + epoch.formatted(v) + "]}");
            assertEquals(2, plot("-o", dir.resolve("h.png").toString(), h.toString()), err());
            assertTrue(err().contains(h + ": history[0].train_loss is "), err());
        }
        Path ok = Files.writeString(dir.resolve("ok.json"), "{\"history\": [" + epoch.formatted("1e300") + "]}");
        assertEquals(0, plot("-o", dir.resolve("ok.png").toString(), ok.toString()), err());
    }

    /**
     * Found by JsonFuzzTest (seed bench-huge-median.json): a median of 1e308 or 4.9e-324 examples/s
     * gave a log axis bound of infinity or zero, and XChart threw (exit 1). Now each median must lie
     * in 1e-300 .. 1e300, checked before drawing, exit 2 naming the file and the case.
     */
    @Test
    void benchMediansBeyondALogAxisAreRefusedNamingTheCase() throws Exception {
        for (String v : new String[] {"1e308", "4.9e-324", "0"}) {
            Path b = Files.writeString(dir.resolve("b.json"), benchJson("normnet", 5000, Double.parseDouble(v)));
            assertEquals(2, plot("-o", dir.resolve("b.png").toString(), b.toString()), err());
            assertTrue(err().contains(b + ": cases[1].examples_per_sec.median must be positive"), err());
        }
    }

    /**
     * Found while reworking plot's checks for the fuzz tests: {@code "history": null} and
     * {@code "cases": null} passed Jackson's "required" (the key is there) and ended in a
     * NullPointerException, exit 1. Now they are refused by name, exit 2.
     */
    @Test
    void aNullHistoryOrCaseListIsRefusedByName() throws Exception {
        Path h = Files.writeString(dir.resolve("h.json"), "{\"history\": null}");
        assertEquals(2, plot("-o", dir.resolve("h.png").toString(), h.toString()), err());
        assertTrue(err().contains(h + ": \"history\" has no epochs"), err());
        Path b = Files.writeString(dir.resolve("b.json"), "{\"cases\": null}");
        assertEquals(2, plot("-o", dir.resolve("b.png").toString(), b.toString()), err());
        assertTrue(err().contains(b + ": \"cases\" is null"), err());
        Path c = Files.writeString(dir.resolve("c.json"), "{\"history\": [null]}");
        assertEquals(2, plot("-o", dir.resolve("c.png").toString(), c.toString()), err());
        assertTrue(err().contains(c + ": history[0] is null"), err());
    }
}
