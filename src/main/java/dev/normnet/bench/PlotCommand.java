package dev.normnet.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

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
 * </ul>
 */
public final class PlotCommand {
    static final String USAGE = """
            usage: normnet plot [--out FILE.png] [--title TEXT] [--width PX] [--height PX] FILE.json...
              Bench result files (with "cases") give a bar chart of examples/sec by model, device
              and implementation; history files (with "history") give loss and accuracy curves.
              --out defaults to the first file's name with .png.""";

    private PlotCommand() {
    }

    /** Entry point of {@code normnet plot}; returns the exit code (0 ok, 1 failure, 2 bad usage). */
    public static int run(String[] args) {
        return run(args, System.out, System.err);
    }

    /** As {@link #run(String[])}, printing to {@code out} and {@code err}. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        System.setProperty("java.awt.headless", "true");
        Path outFile = null;
        String title = null;
        int width = 0;
        int height = 0;
        List<Path> files = new ArrayList<>();
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "-h", "--help" -> {
                        out.println(USAGE);
                        return 0;
                    }
                    case "--out", "-o" -> outFile = Path.of(value(args, ++i, a));
                    case "--title" -> title = value(args, ++i, a);
                    case "--width" -> width = positive(value(args, ++i, a), a);
                    case "--height" -> height = positive(value(args, ++i, a), a);
                    default -> {
                        if (a.startsWith("-")) {
                            throw new UsageException("unknown option " + a);
                        }
                        files.add(Path.of(a));
                    }
                }
            }
            if (files.isEmpty()) {
                throw new UsageException("no input files");
            }
        } catch (UsageException e) {
            err.println("normnet plot: " + e.getMessage());
            err.println(USAGE);
            return 2;
        }
        try {
            List<Map<String, Object>> docs = new ArrayList<>();
            Boolean bench = null;
            for (Path f : files) {
                if (!Files.isRegularFile(f)) {
                    throw new IllegalArgumentException(f + ": no such file");
                }
                Map<String, Object> doc = Json.readObject(f);
                boolean isBench = doc.containsKey("cases");
                if (!isBench && !doc.containsKey("history")) {
                    throw new IllegalArgumentException(f + ": neither a bench result (\"cases\") nor a training history (\"history\")");
                }
                if (bench != null && bench != isBench) {
                    throw new IllegalArgumentException(f + ": cannot mix bench results and training histories in one picture");
                }
                bench = isBench;
                docs.add(doc);
            }
            if (outFile == null) {
                String name = files.get(0).getFileName().toString();
                name = name.endsWith(".json") ? name.substring(0, name.length() - 5) : name;
                outFile = files.get(0).resolveSibling(name + ".png");
            }
            Path parent = outFile.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            if (bench) {
                BufferedImage img = benchChart(docs, files, title, width > 0 ? width : 1200, height > 0 ? height : 700);
                ImageIO.write(img, "png", outFile.toFile());
            } else {
                BufferedImage img = historyChart(docs, files, title, width > 0 ? width : 1400, height > 0 ? height : 560);
                ImageIO.write(img, "png", outFile.toFile());
            }
            out.println("wrote " + outFile);
            return 0;
        } catch (IllegalArgumentException | IOException e) {
            err.println("normnet plot: " + e.getMessage());
            return 1;
        }
    }

    // ---------------------------------------------------------------- throughput bars

    /** A bar chart of examples/sec by case (x) and implementation/device (series), log scale. */
    static BufferedImage benchChart(List<Map<String, Object>> docs, List<Path> files, String title, int width, int height) {
        // series -> category -> medians over files
        Map<String, Map<String, List<Double>>> values = new LinkedHashMap<>();
        Set<String> categories = new LinkedHashSet<>();
        Set<String> machines = new LinkedHashSet<>();
        for (int d = 0; d < docs.size(); d++) {
            Map<String, Object> doc = docs.get(d);
            String src = files.get(d).toString();
            String impl = Json.string(doc, "implementation", "?");
            Object machine = doc.get("machine");
            if (machine instanceof Map<?, ?> m) {
                machines.add(String.valueOf(m.get("cpu_model")));
            }
            if (doc.get("gpu") instanceof Map<?, ?> g) {
                machines.add(String.valueOf(g.get("name")));
            }
            for (Object o : Json.list(doc, "cases", src)) {
                if (!(o instanceof Map)) {
                    throw new IllegalArgumentException(src + ": a case is not an object");
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> c = (Map<String, Object>) o;
                String category = Json.string(c, "model", "?") + "-" + fmt(c.get("input")) + " "
                        + Json.string(c, "mode", "?") + " b" + fmt(c.get("batch"));
                boolean graph = Boolean.TRUE.equals(c.get("graph"));
                String series = impl + " " + Json.string(c, "device", "?") + (graph ? " graph" : "");
                double eps = Json.number(Json.object(c, "examples_per_sec", src), "median", src);
                categories.add(category);
                values.computeIfAbsent(series, k -> new LinkedHashMap<>())
                        .computeIfAbsent(category, k -> new ArrayList<>()).add(eps);
            }
        }
        if (categories.isEmpty()) {
            throw new IllegalArgumentException(files.get(0) + ": no cases to plot");
        }
        CategoryChart chart = new CategoryChartBuilder().width(width).height(height)
                .title(title != null ? title : "Throughput (examples/s, log scale): " + String.join(" + ", machines))
                .xAxisTitle("case").yAxisTitle("examples / s").build();
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setXAxisLabelRotation(20);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setLabelsRotation(90);
        chart.getStyler().setLabelsFontColorAutomaticEnabled(false);
        chart.getStyler().setLabelsFontColor(Color.DARK_GRAY);
        chart.getStyler().setLabelsPosition(0.9);
        chart.getStyler().setDecimalPattern("#,###");
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setAvailableSpaceFill(0.8);
        List<String> x = new ArrayList<>(categories);
        double lowest = Double.MAX_VALUE;
        double highest = 0;
        for (Map<String, List<Double>> s : values.values()) {
            for (List<Double> v : s.values()) {
                double m = medianOf(v);
                if (!(m > 0)) {
                    throw new IllegalArgumentException(files.get(0) + ": examples/sec must be positive, got " + m);
                }
                lowest = Math.min(lowest, m);
                highest = Math.max(highest, m);
            }
        }
        // bars grow from the axis minimum, which a log axis needs above zero: the decade below the smallest value
        chart.getStyler().setYAxisMin(Math.pow(10, Math.floor(Math.log10(lowest))));
        chart.getStyler().setYAxisMax(Math.pow(10, Math.ceil(Math.log10(highest * 1.5))));
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
    static BufferedImage historyChart(List<Map<String, Object>> docs, List<Path> files, String title, int width, int height) {
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
            Map<String, Object> doc = docs.get(d);
            String src = files.get(d).toString();
            List<Object> hist = Json.list(doc, "history", src);
            if (hist.isEmpty()) {
                throw new IllegalArgumentException(src + ": \"history\" has no epochs");
            }
            double[] epoch = new double[hist.size()];
            double[] trainLoss = new double[hist.size()];
            double[] trainAcc = new double[hist.size()];
            double[] testAcc = new double[hist.size()];
            for (int i = 0; i < hist.size(); i++) {
                if (!(hist.get(i) instanceof Map)) {
                    throw new IllegalArgumentException(src + ": history entry " + i + " is not an object");
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> e = (Map<String, Object>) hist.get(i);
                epoch[i] = Json.number(e, "epoch", src);
                trainLoss[i] = Json.number(e, "train_loss", src);
                trainAcc[i] = Json.number(e, "train_acc", src);
                testAcc[i] = Json.number(e, "test_acc", src);
            }
            String label = docs.size() == 1 ? Json.string(doc, "device", "") : label(files.get(d), doc);
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
        BufferedImage left = BitmapEncoder.getBufferedImage(loss);
        BufferedImage right = BitmapEncoder.getBufferedImage(acc);
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

    private static void widen(double[] range, double[] values) {
        for (double v : values) {
            range[0] = Math.min(range[0], v);
            range[1] = Math.max(range[1], v);
        }
    }

    /** A y range 5% wider than the data on each side, so that no point sits on the frame. */
    private static void pad(XYChart chart, double[] range) {
        double span = range[1] - range[0];
        double margin = span > 0 ? 0.05 * span : Math.max(0.01, 0.05 * Math.abs(range[0]));
        chart.getStyler().setYAxisMin(range[0] - margin);
        chart.getStyler().setYAxisMax(range[1] + margin);
    }

    private static String label(Path file, Map<String, Object> doc) {
        String name = file.getFileName().toString();
        name = name.endsWith(".json") ? name.substring(0, name.length() - 5) : name;
        String device = Json.string(doc, "device", "");
        return device.isEmpty() || name.contains(device) ? name : name + " (" + device + ")";
    }

    /** Settings that name files or repeat the device, left out of a picture's title. */
    private static final Set<String> HIDDEN_SETTINGS = Set.of("data", "dataset", "history", "save", "device", "threads",
            "test-limit", "test_limit", "eval_batch", "init", "pool", "resize", "train_examples", "test_examples", "parameters");

    private static String historyTitle(Map<String, Object> doc, Path file) {
        Object settings = doc.get("settings");
        StringBuilder sb = new StringBuilder(file.getFileName().toString());
        if (settings instanceof Map<?, ?> s && !s.isEmpty()) {
            sb.append(": ");
            List<String> parts = new ArrayList<>();
            for (Map.Entry<?, ?> e : s.entrySet()) {
                Object v = e.getValue();
                boolean zero = Boolean.FALSE.equals(v) || (v instanceof Number n && n.doubleValue() == 0);
                if (v == null || zero || v instanceof Map || v instanceof List || HIDDEN_SETTINGS.contains(String.valueOf(e.getKey()))) {
                    continue;
                }
                parts.add(e.getKey() + " " + fmt(v));
            }
            sb.append(String.join(", ", parts));
        }
        String device = Json.string(doc, "device", "");
        if (!device.isEmpty()) {
            sb.append(" [").append(device).append(']');
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- arguments

    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    static String value(String[] args, int i, String option) throws UsageException {
        if (i >= args.length) {
            throw new UsageException(option + " needs a value");
        }
        return args[i];
    }

    static int positive(String v, String option) throws UsageException {
        try {
            int n = Integer.parseInt(v);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new UsageException(option + " " + v + ": expected a positive integer");
    }
}
