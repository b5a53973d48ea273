package dev.normnet.cli;

import dev.normnet.bench.Stats;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.train.EpochRecord;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code normnet plot}: PNG pictures from result files, drawn headless with XChart.
 *
 * <ul>
 *   <li>Bench files ({@code normnet bench --json}, {@code benchmarks/pytorch/bench.py --json}):
 *       a bar chart of examples/sec (log scale) per case, one bar per implementation and device
 *       (and CUDA graph or not). Several files of the same implementation (rounds of a
 *       side-by-side run) are combined by the median of their medians.</li>
 *   <li>History files ({@code normnet train --history}): training curves, loss on the left,
 *       train and test accuracy on the right, one series per file.</li>
 *   <li>With {@code --watch}, one or two history files of {@code train --watch N}: the percentiles
 *       of a layer's input over the steps, side by side, and gamma and beta by epoch ({@link WatchImage}).</li>
 * </ul>
 */
@Command(name = "plot", sortOptions = false,
        header = "Draw charts from history and benchmark JSON files.",
        description = {"Bench result files (with \"cases\") give a bar chart of examples/sec by model, device",
                "and implementation; history files (with \"history\") give loss and accuracy curves.",
                "With --watch, one or two histories of train --watch N (say LeNet and LeNet-BN) give the 15th, 50th",
                "and 85th percentiles of one layer's input by step, side by side (Ioffe and Szegedy 2015, Figure 1),",
                "above gamma and beta of the batch norm feeding it, by epoch and channel."})
public final class PlotCommand implements Callable<Integer> {

    @Option(names = {"--out", "-o"}, paramLabel = "FILE.png", description = "the picture (default: the first file's name with .png)")
    Path outFile;
    @Option(names = "--title", paramLabel = "TEXT", description = "the title (default: from the files' settings and machine)")
    String title;
    @Option(names = "--width", paramLabel = "PX", description = "width (default: 1200 for bench results, 1400 for histories)")
    Integer width;
    @Option(names = "--height", paramLabel = "PX", description = "height (default: 700 for bench results, 560 for histories, 900 with --watch)")
    Integer height;
    @Option(names = "--watch", description = "draw what train --watch recorded in one or two history files (default: off)")
    boolean watch;
    @Option(names = "--layer", paramLabel = "NAME", description = "with --watch, the layer whose input is drawn, named as in "
            + "the first file (\"Sigmoid-3\"); the others draw their layer of the same type and rank "
            + "(default: the first activation)")
    String layer;
    @Parameters(paramLabel = "FILE.json", arity = "1..*", description = "bench result or training history files, all of one kind")
    List<Path> files;

    private final PrintStream out;

    /** The command, printing the file it wrote to {@code out}. */
    public PlotCommand(PrintStream out) {
        this.out = out;
    }

    /**
     * What plot reads of a bench result file ({@code normnet bench --json}, {@code benchmarks/pytorch/bench.py
     * --json}); the other keys are ignored. The format is described in benchmarks/README.md.
     */
    record BenchFile(String implementation, Machine machine, Gpu gpu,
                     @JsonProperty(value = "cases", required = true) List<CaseResult> cases) {
    }

    /** The machine a bench file was measured on. */
    record Machine(@JsonProperty("cpu_model") String cpuModel) {
    }

    /** The GPU a bench file was measured on; null when none was used. */
    record Gpu(String name) {
    }

    /** One throughput case of a bench file. */
    record CaseResult(@JsonProperty(required = true) String model, @JsonProperty(required = true) int input,
                      @JsonProperty(required = true) String mode, @JsonProperty(required = true) int batch,
                      @JsonProperty(required = true) String device, boolean graph,
                      @JsonProperty(value = "examples_per_sec", required = true) Spread examplesPerSec) {
    }

    /** The spread of a measurement; plot uses the median. */
    record Spread(@JsonProperty(required = true) double median) {
    }

    /**
     * Checks the sizes and the picture's file: writable, and none of the files read. Returns that
     * file, the first input's name with .png when --out is not given.
     */
    Path validate() {
        Check.range("--width", width, 16, 16384);
        Check.range("--height", height, 16, 16384);
        Path target = outFile;
        if (target == null) {
            String name = files.get(0).getFileName().toString();
            name = name.endsWith(".json") ? name.substring(0, name.length() - 5) : name;
            target = files.get(0).resolveSibling(name + ".png");
        }
        Outputs.checkWritable("--out", target);
        for (Path f : files) {
            Check.distinctFiles("--out", target, "input", f);
        }
        return target;
    }

    @Override
    public Integer call() throws IOException {
        System.setProperty("java.awt.headless", "true");
        if (watch) {
            return callWatch();
        }
        if (layer != null) {
            throw new UsageException("--layer " + layer + " applies to --watch only");
        }
        Path target = validate();
        Inputs in = read();
        BufferedImage img = in.bench() != null
                ? benchChart(in.bench(), files, title, width != null ? width : 1200, height != null ? height : 700)
                : historyChart(in.histories(), files, title, width != null ? width : 1400, height != null ? height : 560);
        Outputs.write("--out", target, p -> ImageIO.write(img, "png", p.toFile()));
        out.println("wrote " + target);
        return 0;
    }

    /** The files plot draws, read and checked: bench results or histories (the other is null). */
    record Inputs(List<BenchFile> bench, List<HistoryFile> histories) {
    }

    /**
     * Reads the files and checks every value a chart will use, before anything is drawn: all of one
     * kind; a bench file's cases, each median examples/sec positive and within
     * [1 / {@value #MAX_VALUE}, {@value #MAX_VALUE}] (a log axis); a history's epochs, each loss and
     * accuracy NaN (a gap) or at most {@value #MAX_VALUE} in magnitude. Errors name the file.
     */
    Inputs read() throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        Boolean bench = null;
        for (Path f : files) {
            JsonNode doc = JsonFiles.readObject(f);
            boolean isBench = doc.has("cases");
            if (!isBench && !doc.has("history")) {
                throw new UsageException(f + ": neither a bench result (\"cases\") nor a training history (\"history\")");
            }
            if (bench != null && bench != isBench) {
                throw new UsageException(f + ": cannot mix bench results and training histories in one picture");
            }
            bench = isBench;
            docs.add(doc);
        }
        if (bench) {
            List<BenchFile> results = new ArrayList<>();
            boolean anyCase = false;
            for (int i = 0; i < docs.size(); i++) {
                BenchFile doc = JsonFiles.convert(docs.get(i), BenchFile.class, files.get(i));
                if (doc.cases() == null) {
                    throw new UsageException(files.get(i) + ": \"cases\" is null, expected a list");
                }
                for (int c = 0; c < doc.cases().size(); c++) {
                    CaseResult r = doc.cases().get(c);
                    if (r == null || r.examplesPerSec() == null) {
                        throw new UsageException(files.get(i) + ": cases[" + c + "] has no examples_per_sec");
                    }
                    double m = r.examplesPerSec().median();
                    if (!(m >= 1 / MAX_VALUE && m <= MAX_VALUE)) {
                        throw new UsageException(files.get(i) + ": cases[" + c + "].examples_per_sec.median must be positive and"
                                + " within " + 1 / MAX_VALUE + " .. " + MAX_VALUE + " for a log axis, got " + m);
                    }
                    anyCase = true;
                }
                results.add(doc);
            }
            if (!anyCase) {
                throw new UsageException(files.get(0) + ": no cases to plot");
            }
            return new Inputs(results, null);
        }
        List<HistoryFile> histories = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            HistoryFile doc = JsonFiles.convert(docs.get(i), HistoryFile.class, files.get(i));
            List<EpochRecord> hist = doc.history();
            if (hist == null || hist.isEmpty()) {
                throw new UsageException(files.get(i) + ": \"history\" has no epochs");
            }
            for (int e = 0; e < hist.size(); e++) {
                EpochRecord r = hist.get(e);
                if (r == null) {
                    throw new UsageException(files.get(i) + ": history[" + e + "] is null");
                }
                plottable(files.get(i), e, "train_loss", r.trainLoss());
                plottable(files.get(i), e, "train_acc", r.trainAcc());
                plottable(files.get(i), e, "test_acc", r.testAcc());
            }
            histories.add(doc);
        }
        return new Inputs(null, histories);
    }

    /** {@code plot --watch}: see {@link WatchImage}; 1400 x 900 pixels by default. */
    private Integer callWatch() throws IOException {
        if (files.size() > 2) {
            throw new UsageException("--watch draws one or two history files side by side, got " + files.size());
        }
        Path target = validate();
        List<HistoryFile> docs = new ArrayList<>();
        for (Path f : files) {
            JsonNode doc = JsonFiles.readObject(f);
            if (!doc.has("history")) {
                throw new UsageException(f + ": not a training history (no \"history\"); --watch reads those of train --watch N");
            }
            docs.add(JsonFiles.convert(doc, HistoryFile.class, f));
        }
        List<WatchImage.Run> runs = WatchImage.runs(files, docs);
        BufferedImage img = WatchImage.draw(runs, WatchImage.layers(runs, layer), title,
                width != null ? width : 1400, height != null ? height : 900);
        Outputs.write("--out", target, p -> ImageIO.write(img, "png", p.toFile()));
        out.println("wrote " + target);
        return 0;
    }

    // ---------------------------------------------------------------- throughput bars

    /** A bar chart of examples/sec by case (x) and implementation/device (series), log scale. */
    static BufferedImage benchChart(List<BenchFile> docs, List<Path> files, String title, int width, int height) {
        // series -> category -> medians over files
        Map<String, Map<String, List<Double>>> values = new LinkedHashMap<>();
        Set<String> categories = new LinkedHashSet<>();
        Set<String> machines = new LinkedHashSet<>();
        for (BenchFile doc : docs) {
            String impl = Objects.requireNonNullElse(doc.implementation(), "?");
            if (doc.machine() != null) {
                machines.add(String.valueOf(doc.machine().cpuModel()));
            }
            if (doc.gpu() != null) {
                machines.add(String.valueOf(doc.gpu().name()));
            }
            for (CaseResult c : doc.cases()) {
                String category = c.model() + "-" + c.input() + " " + c.mode() + " b" + c.batch();
                String series = impl + " " + c.device() + (c.graph() ? " graph" : "");
                categories.add(category);
                values.computeIfAbsent(series, k -> new LinkedHashMap<>())
                        .computeIfAbsent(category, k -> new ArrayList<>()).add(c.examplesPerSec().median());
            }
        }
        if (categories.isEmpty()) {
            throw new UsageException(files.get(0) + ": no cases to plot");
        }
        CategoryChart chart = logBarChart(width, height,
                title != null ? title : "Throughput (examples/s, log scale): " + String.join(" + ", machines),
                "case", "examples / s");
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setLabelsRotation(90);
        chart.getStyler().setLabelsFontColorAutomaticEnabled(false);
        chart.getStyler().setLabelsFontColor(Color.DARK_GRAY);
        chart.getStyler().setLabelsPosition(0.9);
        chart.getStyler().setDecimalPattern("#,###");
        chart.getStyler().setAvailableSpaceFill(0.8);
        List<String> x = new ArrayList<>(categories);
        double lowest = Double.MAX_VALUE;
        double highest = 0;
        for (Map<String, List<Double>> s : values.values()) {
            for (List<Double> v : s.values()) {
                double m = medianOf(v);                       // read() checked each value's range
                lowest = Math.min(lowest, m);
                highest = Math.max(highest, m);
            }
        }
        logRange(chart, lowest, highest);
        // normnet's bars first, then the reference, each by device
        List<Map.Entry<String, Map<String, List<Double>>>> series = new ArrayList<>(values.entrySet());
        series.sort(Comparator.comparing((Map.Entry<String, Map<String, List<Double>>> e) -> !e.getKey().startsWith("normnet "))
                .thenComparing(Map.Entry::getKey));
        for (Map.Entry<String, Map<String, List<Double>>> s : series) {
            List<Number> y = new ArrayList<>();
            for (String cat : x) {
                List<Double> v = s.getValue().get(cat);
                y.add(v == null ? null : medianOf(v));
            }
            chart.addSeries(s.getKey(), x, y);
        }
        return BitmapEncoder.getBufferedImage(chart);
    }

    private static double medianOf(List<Double> v) {
        double[] a = new double[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return Stats.of(a).median();
    }

    private static String fmt(Object n) {
        if (n instanceof Number num && num.doubleValue() == Math.rint(num.doubleValue())) {
            return Long.toString(num.longValue());
        }
        return String.valueOf(n);
    }

    // ---------------------------------------------------------------- training curves

    /** Loss (left) and train/test accuracy (right) by epoch, one series per history file. */
    static BufferedImage historyChart(List<HistoryFile> docs, List<Path> files, String title, int width, int height) {
        int half = width / 2;
        XYChart loss = new XYChartBuilder().width(half).height(height).title("Training loss")
                .xAxisTitle("epoch").yAxisTitle("loss").build();
        XYChart acc = new XYChartBuilder().width(width - half).height(height).title("Accuracy")
                .xAxisTitle("epoch").yAxisTitle("accuracy").build();
        for (XYChart c : List.of(loss, acc)) {
            c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
            c.getStyler().setChartBackgroundColor(Color.WHITE);
            c.getStyler().setXAxisDecimalPattern("#");
        }
        double[] lossRange = {Double.MAX_VALUE, -Double.MAX_VALUE};
        double[] accRange = {Double.MAX_VALUE, -Double.MAX_VALUE};
        acc.getStyler().setYAxisDecimalPattern("0.000");
        loss.getStyler().setYAxisDecimalPattern("0.000");
        Set<String> labels = new LinkedHashSet<>();
        for (int d = 0; d < docs.size(); d++) {
            HistoryFile doc = docs.get(d);
            List<EpochRecord> hist = doc.history();
            if (hist.isEmpty()) {
                throw new UsageException(files.get(d) + ": \"history\" has no epochs");
            }
            double[] epoch = new double[hist.size()];
            double[] trainLoss = new double[hist.size()];
            double[] trainAcc = new double[hist.size()];
            double[] testAcc = new double[hist.size()];
            for (int i = 0; i < hist.size(); i++) {
                EpochRecord e = hist.get(i);
                epoch[i] = e.epoch();                         // read() checked the values
                trainLoss[i] = e.trainLoss();
                trainAcc[i] = e.trainAcc();
                testAcc[i] = e.testAcc();
            }
            String label = docs.size() == 1 ? Objects.requireNonNullElse(doc.device(), "") : label(files.get(d), doc);
            String name = label.isEmpty() ? "" : label + " ";
            // XChart needs distinct series names; two files with the same label get their index
            if (!labels.add(name)) {
                name = name + "#" + (d + 1) + " ";
                labels.add(name);
            }
            widen(lossRange, trainLoss);
            widen(accRange, trainAcc);
            widen(accRange, testAcc);
            XYSeries l = loss.addSeries(name + "train loss", epoch, trainLoss);
            l.setMarker(SeriesMarkers.CIRCLE);
            XYSeries tr = acc.addSeries(name + "train acc", epoch, trainAcc);
            tr.setMarker(SeriesMarkers.CIRCLE);
            tr.setLineStyle(new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
            XYSeries te = acc.addSeries(name + "test acc", epoch, testAcc);
            te.setMarker(SeriesMarkers.DIAMOND);
        }
        pad(loss, lossRange);
        pad(acc, accRange);
        String heading = title != null ? title : historyTitle(docs.get(0), files.get(0));
        int fit = width / 9;   // characters of a 16-point line that fit the picture
        if (heading.length() > fit) {
            heading = heading.substring(0, fit - 3) + "...";
        }
        return sideBySide(heading, loss, acc, width, height);
    }

    /** Two charts side by side under a one-line heading: a picture {@code width} wide and {@code height} + 36 high. */
    static BufferedImage sideBySide(String heading, XYChart leftChart, XYChart rightChart, int width, int height) {
        int half = width / 2;
        BufferedImage left = BitmapEncoder.getBufferedImage(leftChart);
        BufferedImage right = BitmapEncoder.getBufferedImage(rightChart);
        int top = 36;
        BufferedImage img = new BufferedImage(width, height + top, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setColor(Color.BLACK);
        g.setFont(g.getFont().deriveFont(16f));
        g.drawString(heading, 12, 24);
        g.drawImage(left, 0, top, null);
        g.drawImage(right, half, top, null);
        g.dispose();
        return img;
    }

    /** The largest magnitude a chart takes: its range, margins and ticks stay finite. */
    static final double MAX_VALUE = 1e300;

    /**
     * A history value as a chart takes it: NaN (null in the file: no test set, or a diverged loss)
     * leaves a gap; an infinity or a magnitude above {@value #MAX_VALUE} is refused naming the key.
     */
    private static void plottable(Path file, int index, String key, double v) {
        if (Double.isNaN(v) || Math.abs(v) <= MAX_VALUE) {
            return;
        }
        throw new UsageException(file + ": history[" + index + "]." + key + " is " + v
                + ", which no chart can show (at most " + MAX_VALUE + " in magnitude)");
    }

    /**
     * A bar chart on a logarithmic y axis, legend below in one row, category labels turned 20
     * degrees, white background: the bench and bn-speed charts.
     */
    static CategoryChart logBarChart(int width, int height, String title, String xTitle, String yTitle) {
        CategoryChart chart = new CategoryChartBuilder().width(width).height(height).title(title)
                .xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setXAxisLabelRotation(20);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        return chart;
    }

    /**
     * The log axis of {@link #logBarChart} from the decade below {@code lowest} (bars grow from the
     * axis minimum, which a log axis needs above zero) to the decade above 1.5 x {@code highest}.
     */
    static void logRange(CategoryChart chart, double lowest, double highest) {
        chart.getStyler().setYAxisMin(Math.pow(10, Math.floor(Math.log10(lowest))));
        chart.getStyler().setYAxisMax(Math.pow(10, Math.ceil(Math.log10(highest * 1.5))));
    }

    static void widen(double[] range, double[] values) {
        for (double v : values) {
            if (Double.isNaN(v)) {
                continue;                                     // a gap in the curve
            }
            range[0] = Math.min(range[0], v);
            range[1] = Math.max(range[1], v);
        }
    }

    /** A y range 5% wider than the data on each side, so that no point sits on the frame. */
    static void pad(XYChart chart, double[] range) {
        if (range[0] > range[1]) {                            // no value at all (every one NaN)
            range[0] = 0;
            range[1] = 1;
        }
        double span = range[1] - range[0];
        double margin = span > 0 ? 0.05 * span : Math.max(0.01, 0.05 * Math.abs(range[0]));
        chart.getStyler().setYAxisMin(range[0] - margin);
        chart.getStyler().setYAxisMax(range[1] + margin);
    }

    static String label(Path file, HistoryFile doc) {
        String name = file.getFileName().toString();
        name = name.endsWith(".json") ? name.substring(0, name.length() - 5) : name;
        String device = Objects.requireNonNullElse(doc.device(), "");
        return device.isEmpty() || name.contains(device) ? name : name + " (" + device + ")";
    }

    /** Settings that name files or repeat the device, left out of a picture's title. */
    private static final Set<String> HIDDEN_SETTINGS = Set.of("data", "dataset", "history", "save", "device", "threads",
            "test-limit", "test_limit", "eval_batch", "init", "pool", "resize", "train_examples", "test_examples", "parameters");

    private static String historyTitle(HistoryFile doc, Path file) {
        Map<String, Object> settings = doc.settings();
        StringBuilder sb = new StringBuilder(file.getFileName().toString());
        if (settings != null && !settings.isEmpty()) {
            sb.append(": ");
            List<String> parts = new ArrayList<>();
            for (Map.Entry<String, Object> e : settings.entrySet()) {
                Object v = e.getValue();
                boolean zero = Boolean.FALSE.equals(v) || (v instanceof Number n && n.doubleValue() == 0);
                if (v == null || zero || v instanceof Map || v instanceof List || HIDDEN_SETTINGS.contains(String.valueOf(e.getKey()))) {
                    continue;
                }
                parts.add(e.getKey() + " " + fmt(v));
            }
            sb.append(String.join(", ", parts));
        }
        String device = Objects.requireNonNullElse(doc.device(), "");
        if (!device.isEmpty()) {
            sb.append(" [").append(device).append(']');
        }
        return sb.toString();
    }
}
