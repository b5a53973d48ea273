package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.backend.Backends;
import dev.normnet.train.EpochRecord;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code normnet experiment} on a tiny synthetic data set: each experiment's report exists, the
 * numbers of its tables are recomputed from the histories (and results.json) it wrote, each picture
 * is a PNG of the size the report states, the commands it prints train the same model, and the
 * errors are one line with exit status 2.
 */
class ExperimentCommandTest {
    @TempDir
    static Path shared;
    static Path data;

    @TempDir
    Path dir;

    @BeforeAll
    static void data() throws Exception {
        data = SyntheticData.write(shared.resolve("data"), 96, 64);
    }

    /** The options that make every experiment tiny: 96 training and 64 test images, 2 epochs, 2 seeds, one thread. */
    private static String[] line(String name, Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("experiment", name, "--quick", "--data", data.toString(), "--limit", "96",
                "--test-limit", "64", "--epochs", "2", "--seeds", "2", "--device", "cpu", "--threads", "1",
                "--out", out.toString()));
        a.addAll(Arrays.asList(more));
        return a.toArray(new String[0]);
    }

    /** The rows (cells without the outer bars) of the table whose header line starts with {@code header}. */
    static List<String[]> table(String report, String header) {
        List<String> lines = report.lines().toList();
        int at = -1;
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(header)) {
                at = i;
                break;
            }
        }
        assertTrue(at >= 0, "no table " + header + " in\n" + report);
        List<String[]> rows = new ArrayList<>();
        for (int i = at + 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            String l = lines.get(i);
            String[] cells = l.substring(1, l.length() - 1).split("\\|");
            for (int c = 0; c < cells.length; c++) {
                cells[c] = cells[c].trim();
            }
            rows.add(cells);
        }
        return rows;
    }

    /** "mean +- std (min-max)" of values, std with n - 1, as the report writes it. */
    static String summary(List<Double> v) {
        double mean = v.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double ss = v.stream().mapToDouble(x -> (x - mean) * (x - mean)).sum();
        double std = v.size() > 1 ? Math.sqrt(ss / (v.size() - 1)) : 0;
        double min = v.stream().mapToDouble(Double::doubleValue).min().orElseThrow();
        double max = v.stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        return String.format(Locale.ROOT, "%.4f +- %.4f (%.4f-%.4f)", mean, std, min, max);
    }

    /** Every picture the report shows exists and is a PNG of the stated size; returns how many. */
    static int checkPictures(Path out, String report) throws Exception {
        Matcher m = Pattern.compile("!\\[[^\\]]*\\]\\(([^)]+\\.png)\\) \\((\\d+) x (\\d+) pixels").matcher(report);
        int n = 0;
        while (m.find()) {
            BufferedImage img = ImageIO.read(out.resolve(m.group(1)).toFile());
            assertNotNull(img, m.group(1) + " is not an image");
            assertEquals(Integer.parseInt(m.group(2)), img.getWidth(), m.group(1));
            assertEquals(Integer.parseInt(m.group(3)), img.getHeight(), m.group(1));
            n++;
        }
        return n;
    }

    /** The histories of one group of results.json, each checked against the run's record there. */
    static List<HistoryFile> histories(Path out, JsonNode group) throws Exception {
        List<HistoryFile> h = new ArrayList<>();
        for (JsonNode run : group.get("runs")) {
            HistoryFile f = JsonFiles.read(out.resolve(run.get("history").asText()), HistoryFile.class);
            List<EpochRecord> epochs = f.history();
            assertEquals(epochs.get(epochs.size() - 1).testAcc(), run.get("final_test_acc").asDouble(), 0.0);
            assertEquals(group.get("train_args").get(1).asText(), f.settings().get("model"));
            h.add(f);
        }
        return h;
    }

    /** The curve table of {@code experiment}: every row's accuracy cell recomputed from the histories. */
    static void checkCurveTable(Path out, String experiment, int groups) throws Exception {
        String report = Files.readString(out.resolve("report.md"));
        JsonNode results = JsonFiles.readObject(out.resolve("results.json"));
        Map<String, JsonNode> byLabel = new LinkedHashMap<>();
        for (JsonNode g : results.get(experiment).get("groups")) {
            byLabel.put(g.get("label").asText(), g);
        }
        List<String[]> rows = table(report, "| run | finished | final test accuracy");
        assertEquals(groups, rows.size(), report);
        for (String[] row : rows) {
            JsonNode g = byLabel.get(row[0]);
            assertNotNull(g, row[0]);
            List<Double> finals = new ArrayList<>();
            for (HistoryFile h : histories(out, g)) {
                assertEquals(2, h.history().size());
                finals.add(h.history().get(1).testAcc());
            }
            assertEquals("2 of 2", row[1]);
            assertEquals(summary(finals), row[2], row[0]);
        }
    }

    @Test
    void bnVsNoBnWritesTheReportHistoriesAndPicturesAndItsCommandsTrainTheSameModels() throws Exception {
        Path out = dir.resolve("out");
        CliTestSupport.Result r = CliTestSupport.run(line("bn-vs-nobn", out));
        assertEquals(0, r.status(), r.err());
        String report = Files.readString(out.resolve("report.md"));
        assertTrue(report.contains("they are not the chapter's results"), "a quick run says so");
        checkCurveTable(out, "bn-vs-nobn", 4);
        assertEquals(2, checkPictures(out, report));
        try (var files = Files.list(out.resolve("histories"))) {
            assertEquals(8, files.count());
        }
        // The first printed command, seed 0, gives the history the experiment recorded.
        String command = report.lines().filter(l -> l.startsWith("normnet train --model lenet-bn")).findFirst().orElseThrow();
        Path again = dir.resolve("again.json");
        String[] args = command.substring("normnet ".length()).replace("--seed S", "--seed 0")
                .replace("histories/lenet-bn-seedS.json", again.toString()).split(" ");
        assertEquals(0, CliTestSupport.run(args).status());
        HistoryFile a = JsonFiles.read(again, HistoryFile.class);
        HistoryFile b = JsonFiles.read(out.resolve("histories/lenet-bn-seed0.json"), HistoryFile.class);
        for (int i = 0; i < 2; i++) {
            assertEquals(b.history().get(i).trainLoss(), a.history().get(i).trainLoss(), 0.0);
            assertEquals(b.history().get(i).testAcc(), a.history().get(i).testAcc(), 0.0);
        }
    }

    @Test
    void batchSizeReportsEvalAndTrainModeAccuracyForEachBatch() throws Exception {
        Path out = dir.resolve("out");
        CliTestSupport.Result r = CliTestSupport.run(line("batch-size", out));
        assertEquals(0, r.status(), r.err());
        String report = Files.readString(out.resolve("report.md"));
        JsonNode groups = JsonFiles.readObject(out.resolve("results.json")).get("batch-size").get("groups");
        List<String[]> rows = table(report, "| batch | lr |");
        assertEquals(ExperimentCommand.BATCH_SIZES.length, rows.size());
        for (int i = 0; i < rows.size(); i++) {
            String[] row = rows.get(i);
            JsonNode g = groups.get(i);
            int batch = ExperimentCommand.BATCH_SIZES[i];
            assertEquals(Integer.toString(batch), row[0]);
            assertEquals(batch / 256.0, Double.parseDouble(row[1]), 0.0);
            List<Double> eval = new ArrayList<>();
            for (HistoryFile h : histories(out, g)) {
                assertEquals(batch, ((Number) h.settings().get("batch")).intValue());
                assertEquals(96, ((Number) h.settings().get("train_examples")).intValue(), "the same examples at every batch");
                eval.add(h.history().get(1).testAcc());
            }
            assertEquals(summary(eval), row[3]);
            List<Double> train = new ArrayList<>();
            for (JsonNode v : g.get("batch_statistics_test_acc")) {
                train.add(v.asDouble());
            }
            assertEquals(2, train.size());
            assertEquals(summary(train), row[4]);
        }
        assertEquals(1, checkPictures(out, report));
    }

    @Test
    void bnSpeedTimesEachImplementationAndSaysWhatItCouldNot() throws Exception {
        Path out = dir.resolve("out");
        CliTestSupport.Result r = CliTestSupport.run("experiment", "bn-speed", "--quick", "--threads", "1", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        String report = Files.readString(out.resolve("report.md"));
        JsonNode rows = JsonFiles.readObject(out.resolve("results.json")).get("bn-speed").get("rows");
        List<String[]> table = table(report, "| layer | input | shape | direction |");
        assertEquals(8, table.size(), "four layers at 28x28, forward and backward");
        assertEquals(8, rows.size());
        String header = report.lines().filter(l -> l.startsWith("| layer | input")).findFirst().orElseThrow();
        List<String> impls = new ArrayList<>();
        for (String cell : header.substring(1, header.length() - 1).split("\\|")) {
            if (cell.trim().endsWith(" ms")) {
                impls.add(cell.trim().substring(0, cell.trim().length() - 3));
            }
        }
        assertTrue(impls.contains(BatchNormSpeed.REFERENCE), header);
        for (int i = 0; i < table.size(); i++) {
            assertEquals(rows.get(i).get("shape").asText(), table.get(i)[2]);
            assertEquals(rows.get(i).get("direction").asText(), table.get(i)[3]);
            for (int k = 0; k < impls.size(); k++) {
                JsonNode ms = rows.get(i).get("ms").get(impls.get(k));
                assertEquals(String.format(Locale.ROOT, "%.3f (%.3f-%.3f)", ms.get("median").asDouble(), ms.get("min").asDouble(),
                        ms.get("max").asDouble()), table.get(i)[4 + k]);
                assertTrue(ms.get("median").asDouble() > 0);
            }
        }
        if (!Backends.cudaStatus().available()) {
            assertTrue(report.contains("- normnet CUDA: no GPU: " + Backends.cudaStatus().reason()), report);
        }
        assertTrue(impls.contains(BatchNormSpeed.TORCH_CPU) || report.contains("- PyTorch CPU: not measured: "), report);
        assertEquals(1, checkPictures(out, report));
    }

    @Test
    void sgdVsAdamWritesIntoANonEmptyDirectoryOnlyWithForceAndLeavesOtherFilesAlone() throws Exception {
        Path out = Files.createDirectories(dir.resolve("out"));
        Path mine = Files.writeString(out.resolve("notes.txt"), "mine");
        CliTestSupport.Result refused = CliTestSupport.run(line("sgd-vs-adam", out));
        assertEquals(2, refused.status());
        assertEquals(1, refused.errLines().length, refused.err());
        assertTrue(refused.err().startsWith("normnet: --out " + out + ": the directory holds files"), refused.err());
        assertFalse(Files.exists(out.resolve("report.md")));

        CliTestSupport.Result r = CliTestSupport.run(line("sgd-vs-adam", out, "--force"));
        assertEquals(0, r.status(), r.err());
        assertEquals("mine", Files.readString(mine));
        checkCurveTable(out, "sgd-vs-adam", 2);
        assertEquals(1, checkPictures(out, Files.readString(out.resolve("report.md"))));
    }

    @Test
    void badNamesAndOutputsAreOneLineAndExitTwo() throws Exception {
        CliTestSupport.Result r = CliTestSupport.run("experiment", "bn-vs-bn", "--out", dir.resolve("x").toString());
        assertEquals(2, r.status());
        assertEquals("normnet: NAME: unknown value 'bn-vs-bn' (choose one of bn-vs-nobn, sgd-vs-adam, bn-speed, batch-size, all)",
                r.err().trim());
        Path file = Files.writeString(dir.resolve("file"), "x");
        r = CliTestSupport.run("experiment", "all", "--out", file.toString());
        assertEquals(2, r.status());
        assertEquals("normnet: --out " + file + ": exists and is not a directory", r.err().trim());
        assertEquals("x", Files.readString(file));
        Path orphan = dir.resolve("missing").resolve("out");
        r = CliTestSupport.run("experiment", "all", "--out", orphan.toString());
        assertEquals(2, r.status());
        assertEquals("normnet: --out " + orphan + ": its parent directory " + orphan.toAbsolutePath().getParent()
                + " does not exist (the directory itself is created, its parents are not)", r.err().trim());
        assertFalse(Files.exists(dir.resolve("missing")), "no directory created unasked");
    }

    /** A diverged run: its row says how many finished, the mean leaves it out, and a line names it. */
    @Test
    void aDivergedRunIsRecordedAndLeftOutOfTheMean() {
        ExperimentCommand cmd = new ExperimentCommand(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        new CommandLine(cmd).parseArgs("bn-vs-nobn", "--seeds", "3", "--device", "cpu");
        EpochRecord e1 = new EpochRecord(1, 1.0, 0.5, 0.61, 1000, 2.0);
        EpochRecord e2 = new EpochRecord(2, 0.8, 0.6, 0.70, 1000, 2.0);
        EpochRecord e2b = new EpochRecord(2, 0.7, 0.65, 0.74, 1000, 2.0);
        String why = "training diverged in epoch 2 at step 3: the loss is NaN";
        List<ExperimentCommand.Run> runs = List.of(
                new ExperimentCommand.Run(0, "histories/g-seed0.json", new HistoryFile("cpu", "", Map.of(), List.of(e1, e2)), null),
                new ExperimentCommand.Run(1, "histories/g-seed1.json",
                        new HistoryFile("cpu", "", Map.of(), List.of(e1), new HistoryFile.Stopped(2, 3, why), null), why),
                new ExperimentCommand.Run(2, "histories/g-seed2.json", new HistoryFile("cpu", "", Map.of(), List.of(e1, e2b)), null));
        ExperimentCommand.Group g = new ExperimentCommand.Group("g", "G", List.of("--model", "lenet"));
        ExperimentCommand.Group none = new ExperimentCommand.Group("h", "H", List.of("--model", "mlp"));
        List<ExperimentCommand.Run> allDiverged = List.of(new ExperimentCommand.Run(0, "histories/h-seed0.json",
                new HistoryFile("cpu", "", Map.of(), List.of(), new HistoryFile.Stopped(1, 1, why), null), why));
        Map<ExperimentCommand.Group, List<ExperimentCommand.Run>> map = new LinkedHashMap<>();
        map.put(g, runs);
        map.put(none, allDiverged);
        cmd.curveTable("test", map);
        String report = cmd.reportSections();
        List<String[]> rows = table(report, "| run | finished |");
        assertEquals("2 of 3", rows.get(0)[1]);
        assertEquals(summary(List.of(0.70, 0.74)), rows.get(0)[2]);
        assertEquals("4.0", rows.get(0)[3], "seconds of the finished runs");
        assertEquals("0 of 1", rows.get(1)[1]);
        assertEquals("diverged", rows.get(1)[2]);
        assertTrue(report.contains("- Diverged: G, seed 1: " + why + " (`histories/g-seed1.json`)"), report);
        assertTrue(report.contains("- Diverged: H, seed 0: " + why), report);
    }
}
