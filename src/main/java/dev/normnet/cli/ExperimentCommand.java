package dev.normnet.cli;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.bench.MachineInfo;
import dev.normnet.bench.Stats;
import dev.normnet.bench.Timer;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.DatasetSplits;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelFile;
import dev.normnet.predict.Evaluation;
import dev.normnet.train.EpochRecord;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.knowm.xchart.XYChart;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code normnet experiment NAME}: the batch-norm chapter's experiments, each as a set of
 * {@code normnet train} runs over several seeds (run in this process, exactly as the command line
 * would run them), written to one directory:
 * <ul>
 *   <li>{@code report.md}: what was run (the equivalent {@code normnet train} commands), a table of
 *       the final test accuracy (mean +- standard deviation over the seeds, min-max), seconds and
 *       training examples per second, and the pictures;</li>
 *   <li>{@code histories/ID-seedS.json}: each run's history, as {@code train --history} writes it
 *       ({@link HistoryFile});</li>
 *   <li>PNG charts, the seeds' range drawn as a band around their mean ({@link BandChart});</li>
 *   <li>{@code results.json}: every run's outcome and every number of the tables.</li>
 * </ul>
 * A run that diverges (train's exit status 3) is recorded as diverged and left out of the means;
 * the experiment goes on.
 */
@Command(name = "experiment", sortOptions = false,
        header = "Run the batch-norm chapter's experiments and write a report with tables and charts.",
        description = {"NAME is one of:",
                "  bn-vs-nobn   LeNet-BN against LeNet (SGD, d2l's recipe), MLP-BN against MLP (Adam lr 0.01, batch 32)",
                "  sgd-vs-adam  LeNet-BN with SGD momentum 0.9 lr 0.5 against Adam lr 0.01, both with StepLR(2, 0.9)",
                "  bn-speed     batch norm forward and backward at LeNet-BN's shapes (28x28 and 224x224, batch 256):",
                "               normnet's reference and fast CPU paths, its CUDA kernels, PyTorch's nn.BatchNorm",
                "  batch-size   LeNet-BN at batch 2, 8, 32, 128, 512 (same examples seen, lr scaled with the batch):",
                "               test accuracy with running statistics (eval mode) and with batch statistics",
                "  all          every one of them, in one report",
                "Writes DIR/report.md, DIR/results.json, DIR/histories/*.json (as train --history) and PNG charts.",
                "--quick runs each on a subset in about a minute (numbers for a first look, not the chapter's)."})
final class ExperimentCommand implements Callable<Integer> {
    static final List<String> NAMES = List.of("bn-vs-nobn", "sgd-vs-adam", "bn-speed", "batch-size", "all");
    static final int[] BATCH_SIZES = {2, 8, 32, 128, 512};
    /** The pictures of training curves: two charts of this size side by side, under a heading of 36 pixels. */
    static final int CURVES_WIDTH = 1400;
    static final int CURVES_HEIGHT = 520;
    static final int SPEED_WIDTH = 1200;
    static final int SPEED_HEIGHT = 640;

    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "NAME", completionCandidates = ExperimentNames.class,
            description = "bn-vs-nobn, sgd-vs-adam, bn-speed, batch-size or all")
    String name;
    @Option(names = "--epochs", paramLabel = "N", description = "epochs of every training run (default: each recipe's: "
            + "10 for bn-vs-nobn, 20 for sgd-vs-adam, 5 for batch-size; with --quick 3, 3, 2)")
    Integer epochs;
    @Option(names = "--seeds", paramLabel = "K", description = "runs of each recipe, with seeds 0 to K-1 (default: 3; with --quick 2)")
    Integer seeds;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto", completionCandidates = TrainCommand.DeviceNames.class,
            description = "where to train, as train --device; bn-speed times CUDA unless cpu (default: ${DEFAULT-VALUE})")
    String device;
    @Option(names = {"--out", "-o"}, paramLabel = "DIR", description = "the directory to write; created when missing, "
            + "refused when it holds files unless --force (default: experiment-NAME)")
    Path outDir;
    @Option(names = "--force", description = "write into a --out directory that holds files, replacing those of the same "
            + "names (report.md, results.json, histories/, the PNGs) and leaving the others (default: off)")
    boolean force;
    @Option(names = "--quick", description = "a first look in about a minute on two cores: the first 6000 training and 1000 "
            + "test images, fewer epochs, 2 seeds, bn-speed at 28x28 only with short timings (default: off)")
    boolean quick;
    @Option(names = "--data", paramLabel = "DIR", description = "as train --data (default: as train finds it)")
    Path data;
    @Option(names = "--limit", paramLabel = "N", description = "train on the first N training images (default: all; 6000 with --quick)")
    Integer limit;
    @Option(names = "--test-limit", paramLabel = "N", description = "evaluate on the first N test images (default: all; 1000 with --quick)")
    Integer testLimit;
    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores)")
    Integer threads;

    private final PrintStream out;
    private Path dir;
    private final StringBuilder report = new StringBuilder();
    private final Map<String, Object> results = new LinkedHashMap<>();
    private String deviceLine;
    private String dataLine;

    ExperimentCommand(PrintStream out) {
        this.out = out;
    }

    /** A recipe: its file-name id, its label in tables and legends, and its train options (no seed, device or files). */
    record Group(String id, String label, List<String> args) {
    }

    /**
     * One training run: its seed, its history file (relative to the output directory), the history,
     * and why it stopped early (null when it finished).
     */
    record Run(int seed, String historyPath, HistoryFile history, String stopped) {
        boolean finished() {
            return stopped == null && !history.history().isEmpty();
        }

        double finalTestAcc() {
            return history.history().get(history.history().size() - 1).testAcc();
        }

        double seconds() {
            double s = 0;
            for (EpochRecord r : history.history()) {
                s += r.seconds();
            }
            return s;
        }

        /** Training examples per second over the run: epochs / sum over the epochs of 1 / (each epoch's rate). */
        double examplesPerSec() {
            double inverse = 0;
            for (EpochRecord r : history.history()) {
                inverse += 1 / r.examplesPerSec();
            }
            return history.history().size() / inverse;
        }
    }

    /** Mean, sample standard deviation (n - 1; 0 for one run), min and max of a value over the finished runs. */
    record Summary(int finished, double mean, double std, double min, double max) {
        static Summary of(List<Run> runs, ToDoubleFunction<Run> value) {
            double[] v = runs.stream().filter(Run::finished).mapToDouble(value).toArray();
            if (v.length == 0) {
                return new Summary(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            }
            double mean = 0;
            for (double x : v) {
                mean += x;
            }
            mean /= v.length;
            double ss = 0;
            for (double x : v) {
                ss += (x - mean) * (x - mean);
            }
            Stats s = Stats.of(v);
            return new Summary(v.length, mean, v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0, s.min(), s.max());
        }

        /** "0.8635 +- 0.0289 (0.8302-0.8818)", or "diverged" when no run finished. */
        String accuracy() {
            return finished == 0 ? "diverged" : String.format(Locale.ROOT, "%.4f +- %.4f (%.4f-%.4f)", mean, std, min, max);
        }

        Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("finished", finished);
            m.put("mean", finished == 0 ? null : mean);
            m.put("std", finished == 0 ? null : std);
            m.put("min", finished == 0 ? null : min);
            m.put("max", finished == 0 ? null : max);
            return m;
        }
    }

    /** Checks the values and the output directory, which it creates (in a parent that must exist). */
    void validate() {
        name = Check.choice("NAME", name, NAMES);
        device = Check.choice("--device", device, TrainCommand.DEVICES);
        Check.range("--epochs", epochs, 1, 100_000);
        Check.range("--seeds", seeds, 1, 1000);
        Check.range("--limit", limit, 2, Integer.MAX_VALUE);
        Check.range("--test-limit", testLimit, 2, Integer.MAX_VALUE);
        threads = Check.threads("--threads", threads, spec.commandLine().getErr());
        if (device.equals("cuda") && !Backends.cudaStatus().available()) {
            throw new UsageException("--device cuda: no usable GPU: " + Backends.cudaStatus().reason()
                    + " (use --device cpu or --device auto)");
        }
        dir = outDir != null ? outDir : Path.of("experiment-" + name);
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new UsageException("--out " + dir + ": exists and is not a directory");
        }
        if (Files.isDirectory(dir) && !force) {
            try (Stream<Path> entries = Files.list(dir)) {
                if (entries.findAny().isPresent()) {
                    throw new UsageException("--out " + dir + ": the directory holds files; name a new or empty one, "
                            + "or add --force to write into it (files of the same names are replaced)");
                }
            } catch (IOException e) {
                throw new UsageException("--out " + dir + ": cannot list it: " + e.getMessage(), e);
            }
        }
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new UsageException("--out " + dir + ": its parent directory " + parent + " does not exist "
                    + "(the directory itself is created, its parents are not)");
        }
        try {
            Files.createDirectories(dir.resolve("histories"));
        } catch (IOException e) {
            throw new UsageException("--out " + dir + ": cannot create it: " + e.getMessage(), e);
        }
        Outputs.checkWritable("--out", dir.resolve("report.md"));
    }

    @Override
    public Integer call() throws IOException {
        System.setProperty("java.awt.headless", "true");
        if (Boolean.getBoolean(TrainCommand.CHECK_ONLY)) {
            name = Check.choice("NAME", name, NAMES);
            return 0;   // nothing to create yet
        }
        validate();
        String started = ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'"));
        List<String> names = name.equals("all") ? NAMES.subList(0, NAMES.size() - 1) : List.of(name);
        for (String n : names) {
            out.println("== experiment " + n);
            switch (n) {
                case "bn-vs-nobn" -> bnVsNoBn();
                case "sgd-vs-adam" -> sgdVsAdam();
                case "bn-speed" -> bnSpeed();
                case "batch-size" -> batchSize();
                default -> throw new IllegalStateException(n);
            }
        }
        StringBuilder head = new StringBuilder("# normnet experiment " + name + "\n\n");
        head.append("Command: `normnet ").append(String.join(" ", spec.commandLine().getParseResult().originalArgs()))
                .append("`  \n");
        head.append("Date: ").append(started).append("; ").append(Main.Version.line()).append("; Java ")
                .append(System.getProperty("java.version")).append("  \n");
        head.append("Machine: ").append(MachineInfo.cpuModel()).append(" (").append(Runtime.getRuntime().availableProcessors())
                .append(" cores)  \n");
        if (deviceLine != null) {
            head.append("Training device: ").append(deviceLine).append("  \n");
        }
        if (dataLine != null) {
            head.append("Data: ").append(dataLine).append("  \n");
        }
        head.append('\n');
        if (quick) {
            head.append("> **Quick run** (`--quick`): a subset of the data, fewer epochs and seeds, short timings. "
                    + "These numbers are for a first look and for tests; they are not the chapter's results.\n\n");
        }
        head.append("Accuracies are final test accuracies as `train` measured them after the last epoch (eval mode): "
                + "mean +- sample standard deviation over the seeds that finished (min-max). Seconds are a run's wall "
                + "time (training and evaluation); examples/s is the training rate over the run. Runs that diverged "
                + "are listed and left out of the means.\n\n");
        results.put("command", "normnet " + String.join(" ", spec.commandLine().getParseResult().originalArgs()));
        results.put("date", started);
        results.put("quick", quick);
        Map<String, Object> doc = new LinkedHashMap<>(results);
        JsonFiles.write("--out", dir.resolve("results.json"), doc);
        String text = head + report.toString();
        Outputs.write("--out", dir.resolve("report.md"), p -> Files.writeString(p, text));
        out.println("report: " + dir.resolve("report.md"));
        return 0;
    }

    // ---------------------------------------------------------------- the experiments

    private int epochsOr(int full, int quickEpochs) {
        return epochs != null ? epochs : quick ? quickEpochs : full;
    }

    private int seedCount() {
        return seeds != null ? seeds : quick ? 2 : 3;
    }

    private void bnVsNoBn() throws IOException {
        String e = Integer.toString(epochsOr(10, 3));
        List<Group> lenet = List.of(
                new Group("lenet-bn", "LeNet-BN", List.of("--model", "lenet-bn", "--lr", "1.0", "--batch", "256", "--epochs", e)),
                new Group("lenet", "LeNet", List.of("--model", "lenet", "--lr", "0.9", "--batch", "256", "--epochs", e)));
        List<Group> mlp = List.of(
                new Group("mlp-bn", "MLP-BN", List.of("--model", "mlp-bn", "--optimizer", "adam", "--lr", "0.01", "--batch", "32",
                        "--epochs", e)),
                new Group("mlp", "MLP", List.of("--model", "mlp", "--optimizer", "adam", "--lr", "0.01", "--batch", "32",
                        "--epochs", e)));
        section("bn-vs-nobn: with and without batch norm",
                "LeNet-BN against LeNet with d2l's recipe (SGD, batch 256; lr 1.0 with batch norm, 0.9 without), and "
                        + "MLP-BN against MLP (784-32-32-10, ReLU) with the `mlp-adam` recipe (Adam lr 0.01, batch 32).");
        Map<Group, List<Run>> a = trainAll(lenet, List.of());
        Map<Group, List<Run>> b = trainAll(mlp, List.of());
        Map<Group, List<Run>> all = new LinkedHashMap<>(a);
        all.putAll(b);
        curveTable("bn-vs-nobn", all);
        curvesPicture("bn-vs-nobn-lenet.png", "LeNet-BN against LeNet (Fashion-MNIST)", a);
        curvesPicture("bn-vs-nobn-mlp.png", "MLP-BN against MLP (Fashion-MNIST)", b);
    }

    private void sgdVsAdam() throws IOException {
        String e = Integer.toString(epochsOr(20, 3));
        List<Group> groups = List.of(
                new Group("sgd-momentum-steplr", "SGD momentum 0.9, lr 0.5, StepLR(2, 0.9)", List.of("--model", "lenet-bn",
                        "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.5", "--step-size", "2", "--gamma", "0.9",
                        "--batch", "256", "--epochs", e)),
                new Group("adam-steplr", "Adam lr 0.01, StepLR(2, 0.9)", List.of("--model", "lenet-bn", "--optimizer", "adam",
                        "--lr", "0.01", "--step-size", "2", "--gamma", "0.9", "--batch", "256", "--epochs", e)));
        section("sgd-vs-adam: SGD with momentum against Adam",
                "LeNet-BN trained with the `sgd-momentum-steplr` and `adam-steplr` recipes (batch 256).");
        Map<Group, List<Run>> runs = trainAll(groups, List.of());
        curveTable("sgd-vs-adam", runs);
        curvesPicture("sgd-vs-adam.png", "LeNet-BN: SGD with momentum against Adam, both with StepLR", runs);
    }

    private void batchSize() throws IOException {
        int e = epochsOr(5, 2);
        section("batch-size: where batch statistics get too noisy",
                "LeNet-BN with SGD at batch 2, 8, 32, 128 and 512, every run seeing the same examples (" + e + " epoch"
                        + (e == 1 ? "" : "s") + " of the same training set), the learning rate scaled with the batch "
                        + "(lr = batch / 256, d2l's 1.0 at 256). Each model is then evaluated on the test set twice: in eval "
                        + "mode (running statistics, the accuracy `train` reports) and in train mode, each test batch of the "
                        + "training batch size normalized by its own statistics.");
        List<Group> groups = new ArrayList<>();
        for (int b : BATCH_SIZES) {
            groups.add(new Group("lenet-bn-batch" + b, "batch " + b, List.of("--model", "lenet-bn", "--batch", Integer.toString(b),
                    "--lr", Double.toString(b / 256.0), "--epochs", Integer.toString(e))));
        }
        Path models = Files.createTempDirectory("normnet-batch-size");
        Map<Group, List<Run>> runs = new LinkedHashMap<>();
        Map<Group, List<Double>> batchStats = new LinkedHashMap<>();
        LabeledImages test = null;
        List<String> classes = null;
        Backends.Selection selection = null;
        try {
            for (Group g : groups) {
                List<Run> list = new ArrayList<>();
                List<Double> accs = new ArrayList<>();
                int batch = Integer.parseInt(g.args().get(3));
                for (int seed = 0; seed < seedCount(); seed++) {
                    Path model = models.resolve(g.id() + "-seed" + seed + ".safetensors");
                    Run r = train(g, seed, List.of("--save", model.toString()));
                    list.add(r);
                    if (!r.finished()) {
                        accs.add(Double.NaN);
                        continue;
                    }
                    if (test == null) {
                        DatasetSplits splits = DataDiscovery.load("fashion-mnist", data);
                        Integer tl = testLimitOrQuick();
                        test = tl != null ? splits.test().head(tl) : splits.test();
                        classes = splits.classes();
                        selection = TrainCommand.selectDevice(device, threads);
                    }
                    try (ModelFile.Loaded loaded = ModelFile.load(model)) {
                        loaded.model().to(selection.backend());
                        accs.add(Evaluation.run(loaded.model(), test, batch, classes, true).accuracy());
                    } catch (IllegalArgumentException ex) {
                        accs.add(Double.NaN);
                        out.println("batch statistics: " + ex.getMessage());
                    }
                    Files.deleteIfExists(model);
                }
                runs.put(g, list);
                batchStats.put(g, accs);
            }
        } finally {
            if (selection != null) {
                selection.backend().close();
            }
            try (Stream<Path> left = Files.list(models)) {
                for (Path p : left.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(models);
        }
        commands(runs, List.of("--save", "MODEL.safetensors"));
        report.append("| batch | lr | finished | test accuracy, eval mode (running statistics) "
                + "| test accuracy, train mode (batch statistics) | seconds | examples/s |\n");
        report.append("|---:|---:|---:|---:|---:|---:|---:|\n");
        List<Map<String, Object>> json = new ArrayList<>();
        for (Group g : groups) {
            List<Run> list = runs.get(g);
            List<Double> accs = batchStats.get(g);
            Summary eval = Summary.of(list, Run::finalTestAcc);
            List<Run> measured = new ArrayList<>();
            for (int i = 0; i < list.size(); i++) {
                if (list.get(i).finished() && Double.isFinite(accs.get(i))) {
                    measured.add(list.get(i));
                }
            }
            Summary train = Summary.of(measured, r -> accs.get(list.indexOf(r)));
            report.append(String.format(Locale.ROOT, "| %s | %s | %d of %d | %s | %s | %s | %s |%n", g.args().get(3),
                    g.args().get(5), eval.finished(), list.size(), eval.accuracy(), train.accuracy(),
                    seconds(list), rate(list)));
            Map<String, Object> gj = groupJson(g, list);
            gj.put("batch_statistics_test_acc", accs.stream().map(v -> v.isNaN() ? null : v).toList());
            gj.put("batch_statistics_summary", train.toJson());
            json.add(gj);
        }
        report.append('\n');
        diverged(runs);
        results.put("batch-size", Map.of("groups", json));

        // left: final accuracy by batch size, both modes; right: test accuracy by epoch, one series per batch size
        BandChart byBatch = new BandChart("Final test accuracy by batch size", "batch size (log scale)", "test accuracy",
                CURVES_WIDTH / 2, CURVES_HEIGHT);
        byBatch.chart().getStyler().setXAxisLogarithmic(true);
        double[] x = new double[groups.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = BATCH_SIZES[i];
        }
        List<double[]> evalRuns = new ArrayList<>();
        List<double[]> trainRuns = new ArrayList<>();
        for (int s = 0; s < seedCount(); s++) {
            double[] ev = new double[groups.size()];
            double[] tr = new double[groups.size()];
            for (int i = 0; i < groups.size(); i++) {
                Run r = runs.get(groups.get(i)).get(s);
                ev[i] = r.finished() ? r.finalTestAcc() : Double.NaN;
                tr[i] = r.finished() ? batchStats.get(groups.get(i)).get(s) : Double.NaN;
            }
            evalRuns.add(ev);
            trainRuns.add(tr);
        }
        byBatch.add("eval mode (running statistics)", 0, x, evalRuns, false);
        byBatch.add("train mode (batch statistics)", 1, x, trainRuns, true);
        BandChart byEpoch = new BandChart("Test accuracy (eval mode) by epoch", "epoch", "test accuracy",
                CURVES_WIDTH - CURVES_WIDTH / 2, CURVES_HEIGHT);
        byEpoch.chart().getStyler().setXAxisDecimalPattern("#");
        int c = 0;
        for (Group g : groups) {
            byEpoch.add(g.label(), c++, epochAxis(runs.get(g)), metric(runs.get(g), EpochRecord::testAcc), false);
        }
        picture("batch-size.png", "LeNet-BN by batch size: running statistics against batch statistics",
                byBatch.finish(), byEpoch.finish());
    }

    private void bnSpeed() {
        section("bn-speed: batch norm, from scratch against the library",
                "Batch norm's training-mode forward pass and its backward pass (dx, dgamma, dbeta) at the inputs of "
                        + "LeNet-BN's batch-norm layers, batch 256: all four at 28x28" + (quick ? "" : ", and the two "
                        + "convolutional ones at 224x224 (the two after the Linear layers keep their 28x28 shapes)") + ". "
                        + "normnet's reference CPU path (`CpuBackend`), its fast path (`VectorCpuBackend`, the Vector API), "
                        + "its CUDA kernels, and PyTorch's `nn.BatchNorm2d`/`nn.BatchNorm1d` "
                        + "(`benchmarks/pytorch/bn_speed.py`, forward without autograd recording, backward through "
                        + "`torch.autograd.grad`), all with the same timing protocol (`bench/Timer`) and thread count.");
        int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        Timer timer = quick ? new Timer(0.05, 0.05, 3) : new Timer(0.5, 0.5, 5, true);
        BatchNormSpeed.Result r = BatchNormSpeed.run(BatchNormSpeed.layers(quick), timer, n, !device.equals("cpu"), out);
        report.append(String.format(Locale.ROOT, "Threads: %d. Timing: warm-up %.2f s, then %d runs of about %.2f s each; "
                + "milliseconds per call, median of the runs (min-max).%n%n", n, timer.warmupSeconds(), timer.repeats(),
                timer.targetSeconds()));
        for (Map.Entry<String, String> m : r.missing().entrySet()) {
            report.append("- ").append(m.getKey()).append(": ").append(m.getValue()).append('\n');
        }
        if (!r.missing().isEmpty()) {
            report.append('\n');
        }
        report.append("| layer | input | shape | direction |");
        for (String impl : r.implementations()) {
            report.append(' ').append(impl).append(" ms |");
        }
        report.append('\n').append("|---|---:|---|---|");
        report.append("---:|".repeat(r.implementations().size())).append('\n');
        List<Map<String, Object>> json = new ArrayList<>();
        for (BatchNormSpeed.Row row : r.rows()) {
            report.append(String.format(Locale.ROOT, "| %s | %dx%d | %s | %s |", row.layer().name(), row.layer().input(),
                    row.layer().input(), row.layer().shape(), row.direction()));
            Map<String, Object> rj = new LinkedHashMap<>();
            rj.put("layer", row.layer().name());
            rj.put("input", row.layer().input());
            rj.put("shape", row.layer().shape());
            rj.put("direction", row.direction());
            Map<String, Object> ms = new LinkedHashMap<>();
            for (String impl : r.implementations()) {
                Stats s = row.ms().get(impl);
                report.append(s == null ? " - |" : String.format(Locale.ROOT, " %.3f (%.3f-%.3f) |", s.median(), s.min(), s.max()));
                ms.put(impl, s == null ? null : s.toJson());
            }
            rj.put("ms", ms);
            json.add(rj);
            report.append('\n');
        }
        report.append('\n');
        Map<String, Object> speed = new LinkedHashMap<>();
        speed.put("threads", n);
        speed.put("not_measured", r.missing());
        speed.put("rows", json);
        results.put("bn-speed", speed);
        BufferedImage img = BatchNormSpeed.chart(r, "Batch norm at LeNet-BN's shapes, batch 256: ms per call, " + n
                + " threads" + (quick ? " (quick)" : ""), SPEED_WIDTH, SPEED_HEIGHT);
        writePng("bn-speed.png", img);
        report.append("![batch norm speed](bn-speed.png) (").append(SPEED_WIDTH).append(" x ").append(SPEED_HEIGHT)
                .append(" pixels)\n\n");
    }

    /** The report's sections so far (without the heading that {@link #call} puts before them). */
    String reportSections() {
        return report.toString();
    }

    // ---------------------------------------------------------------- training runs

    private Integer limitOrQuick() {
        return limit != null ? limit : quick ? Integer.valueOf(6000) : null;
    }

    private Integer testLimitOrQuick() {
        return testLimit != null ? testLimit : quick ? Integer.valueOf(1000) : null;
    }

    /** The options every run shares: device, threads, data and subset. */
    private List<String> common() {
        List<String> a = new ArrayList<>();
        if (!device.equals("auto")) {
            a.addAll(List.of("--device", device));
        }
        if (threads != null) {
            a.addAll(List.of("--threads", threads.toString()));
        }
        if (data != null) {
            a.addAll(List.of("--data", data.toString()));
        }
        if (limitOrQuick() != null) {
            a.addAll(List.of("--limit", limitOrQuick().toString()));
        }
        if (testLimitOrQuick() != null) {
            a.addAll(List.of("--test-limit", testLimitOrQuick().toString()));
        }
        return a;
    }

    private Map<Group, List<Run>> trainAll(List<Group> groups, List<String> extra) throws IOException {
        Map<Group, List<Run>> runs = new LinkedHashMap<>();
        for (Group g : groups) {
            List<Run> list = new ArrayList<>();
            for (int seed = 0; seed < seedCount(); seed++) {
                list.add(train(g, seed, extra));
            }
            runs.put(g, list);
        }
        return runs;
    }

    /** Runs {@code normnet train} (in this process) for one group and seed; a diverged run is returned as such. */
    private Run train(Group g, int seed, List<String> extra) throws IOException {
        String rel = "histories/" + g.id() + "-seed" + seed + ".json";
        Path history = dir.resolve(rel);
        List<String> args = new ArrayList<>(g.args());
        args.addAll(common());
        args.addAll(List.of("--seed", Integer.toString(seed), "--history", history.toString()));
        args.addAll(extra);
        out.println("-- normnet train " + String.join(" ", args));
        TrainCommand cmd = new TrainCommand(out);
        CommandLine cl = new CommandLine(cmd);
        cl.setOut(spec.commandLine().getOut());
        cl.setErr(spec.commandLine().getErr());
        cl.parseArgs(args.toArray(new String[0]));
        int status = cmd.call();
        if (status != 0 && status != TrainCommand.DIVERGED) {
            throw new IllegalStateException("normnet train " + String.join(" ", args) + " ended with status " + status);
        }
        HistoryFile h = JsonFiles.read(history, HistoryFile.class);
        String stopped = status == 0 ? null : h.stopped() != null ? h.stopped().reason() : "training diverged";
        if (deviceLine == null) {
            deviceLine = h.deviceDescription();
        }
        if (dataLine == null && h.settings() != null) {
            dataLine = "Fashion-MNIST from " + h.settings().get("data") + ", " + h.settings().get("train_examples")
                    + " training and " + h.settings().get("test_examples") + " test images";
        }
        return new Run(seed, rel, h, stopped);
    }

    // ---------------------------------------------------------------- the report

    private void section(String title, String what) {
        report.append("## ").append(title).append("\n\n").append(what).append("\n\n");
    }

    /** The equivalent train commands, one per group, with S for the seed. */
    private void commands(Map<Group, List<Run>> runs, List<String> extra) {
        report.append("Equivalent commands (S = 0 to ").append(seedCount() - 1).append("):\n\n```\n");
        for (Group g : runs.keySet()) {
            List<String> args = new ArrayList<>(g.args());
            args.addAll(common());
            args.addAll(List.of("--seed", "S", "--history", "histories/" + g.id() + "-seedS.json"));
            args.addAll(extra);
            report.append("normnet train ").append(String.join(" ", args)).append('\n');
        }
        report.append("```\n\n");
    }

    /** The commands, the table of final accuracies and the diverged runs of a curve experiment, into the report and results. */
    void curveTable(String experiment, Map<Group, List<Run>> runs) {
        commands(runs, List.of());
        report.append("| run | finished | final test accuracy | seconds | examples/s |\n|---|---:|---:|---:|---:|\n");
        List<Map<String, Object>> json = new ArrayList<>();
        for (Map.Entry<Group, List<Run>> e : runs.entrySet()) {
            Summary s = Summary.of(e.getValue(), Run::finalTestAcc);
            report.append(String.format(Locale.ROOT, "| %s | %d of %d | %s | %s | %s |%n", e.getKey().label(), s.finished(),
                    e.getValue().size(), s.accuracy(), seconds(e.getValue()), rate(e.getValue())));
            json.add(groupJson(e.getKey(), e.getValue()));
        }
        report.append('\n');
        diverged(runs);
        results.put(experiment, Map.of("groups", json));
    }

    private static String seconds(List<Run> runs) {
        Summary s = Summary.of(runs, Run::seconds);
        return s.finished() == 0 ? "-" : String.format(Locale.ROOT, "%.1f", s.mean());
    }

    private static String rate(List<Run> runs) {
        Summary s = Summary.of(runs, Run::examplesPerSec);
        return s.finished() == 0 ? "-" : String.format(Locale.ROOT, "%,.0f", s.mean());
    }

    private void diverged(Map<Group, List<Run>> runs) {
        for (Map.Entry<Group, List<Run>> e : runs.entrySet()) {
            for (Run r : e.getValue()) {
                if (!r.finished()) {
                    report.append("- Diverged: ").append(e.getKey().label()).append(", seed ").append(r.seed()).append(": ")
                            .append(r.stopped() != null ? r.stopped() : "no epoch finished").append(" (`")
                            .append(r.historyPath()).append("`)\n");
                }
            }
        }
        if (runs.values().stream().flatMap(List::stream).anyMatch(r -> !r.finished())) {
            report.append('\n');
        }
    }

    private Map<String, Object> groupJson(Group g, List<Run> runs) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", g.id());
        m.put("label", g.label());
        m.put("train_args", g.args());
        List<Map<String, Object>> rs = new ArrayList<>();
        for (Run r : runs) {
            Map<String, Object> rj = new LinkedHashMap<>();
            rj.put("seed", r.seed());
            rj.put("history", r.historyPath());
            rj.put("status", r.finished() ? "finished" : "diverged");
            rj.put("stopped", r.stopped());
            rj.put("final_test_acc", r.finished() ? r.finalTestAcc() : null);
            rj.put("seconds", r.seconds());
            rj.put("examples_per_sec", r.finished() ? r.examplesPerSec() : null);
            rs.add(rj);
        }
        m.put("runs", rs);
        m.put("final_test_acc", Summary.of(runs, Run::finalTestAcc).toJson());
        return m;
    }

    // ---------------------------------------------------------------- pictures

    private static double[] epochAxis(List<Run> runs) {
        int most = 0;
        for (Run r : runs) {
            most = Math.max(most, r.history().history().size());
        }
        double[] x = new double[most];
        for (int i = 0; i < most; i++) {
            x[i] = i + 1;
        }
        return x;
    }

    private static List<double[]> metric(List<Run> runs, ToDoubleFunction<EpochRecord> f) {
        List<double[]> out = new ArrayList<>();
        for (Run r : runs) {
            out.add(r.history().history().stream().mapToDouble(f).toArray());
        }
        return out;
    }

    /** Training loss (left) and test accuracy (right) by epoch, one colour per group, the seeds' range as a band. */
    private void curvesPicture(String file, String title, Map<Group, List<Run>> runs) {
        BandChart loss = new BandChart("Training loss", "epoch", "loss", CURVES_WIDTH / 2, CURVES_HEIGHT);
        BandChart acc = new BandChart("Test accuracy", "epoch", "accuracy", CURVES_WIDTH - CURVES_WIDTH / 2, CURVES_HEIGHT);
        for (BandChart c : List.of(loss, acc)) {
            c.chart().getStyler().setXAxisDecimalPattern("#");
        }
        int c = 0;
        for (Map.Entry<Group, List<Run>> e : runs.entrySet()) {
            double[] x = epochAxis(e.getValue());
            loss.add(e.getKey().label(), c, x, metric(e.getValue(), EpochRecord::trainLoss), false);
            acc.add(e.getKey().label(), c, x, metric(e.getValue(), EpochRecord::testAcc), false);
            c++;
        }
        picture(file, title + (quick ? " (quick run)" : ""), loss.finish(), acc.finish());
    }

    private void picture(String file, String title, XYChart left, XYChart right) {
        writePng(file, PlotCommand.sideBySide(title, left, right, CURVES_WIDTH, CURVES_HEIGHT));
        report.append("![").append(title).append("](").append(file).append(") (").append(CURVES_WIDTH).append(" x ")
                .append(CURVES_HEIGHT + 36).append(" pixels; lines: mean over the seeds, bands: their range)\n\n");
    }

    private void writePng(String file, BufferedImage img) {
        Outputs.write("--out", dir.resolve(file), p -> ImageIO.write(img, "png", p.toFile()));
        out.println("wrote " + dir.resolve(file));
    }

    /** Completion candidates for NAME. */
    static final class ExperimentNames extends ArrayList<String> {
        ExperimentNames() {
            super(NAMES);
        }
    }
}
