package dev.normnet.cli;

import dev.normnet.train.WatchLog;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * {@code normnet plot --watch}: what {@code train --watch N} recorded ({@link WatchLog}), drawn
 * headless with XChart in one picture of the size asked for:
 * <ul>
 *   <li>top row, one panel per history side by side: the 15th, 50th and 85th percentiles of one
 *       layer's input over the training steps, as Figure 1 of Ioffe and Szegedy (2015), on one
 *       shared y scale so that the panels compare;</li>
 *   <li>bottom row, when a history has batch norms: gamma (left) and beta (right) of one batch
 *       norm by epoch, one line per channel: the batch norm just before the chosen layer in the
 *       first history that has one (the one that feeds it), else that history's first.</li>
 * </ul>
 * The layer is named as the history names it ({@code "Sigmoid-3"}); in the other histories the
 * layer of the same type at the same rank among those of its type is drawn (the first Sigmoid of
 * LeNet is Sigmoid-2, of LeNet-BN Sigmoid-3).
 */
final class WatchImage {
    static final int TITLE_HEIGHT = 36;
    /** Share of the height below the title that the percentile row takes when a gamma/beta row follows. */
    static final double TOP_SHARE = 0.55;
    /** With more channels than this, the gamma and beta panels have no legend. */
    static final int LEGEND_CHANNELS = 16;

    private WatchImage() {
    }

    /** One history to draw: its file (for messages and labels) and its contents. */
    record Run(Path file, HistoryFile doc) {
        WatchLog watch() {
            return doc.watch();
        }
    }

    /**
     * The runs of {@code files}, each checked to hold watch data.
     *
     * @throws UsageException naming the first file without any
     */
    static List<Run> runs(List<Path> files, List<HistoryFile> docs) {
        List<Run> runs = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            WatchLog w = docs.get(i).watch();
            if (w == null || w.layers().isEmpty() || w.steps().isEmpty()) {
                throw new UsageException(files.get(i) + ": no watch data (train with --watch N --history FILE.json)");
            }
            runs.add(new Run(files.get(i), docs.get(i)));
        }
        return runs;
    }

    /**
     * The layer {@code name} of the first run (case ignored), or its first activation when
     * {@code name} is null; then the matching layer of each run.
     *
     * @throws UsageException for an unknown name (listing the first run's layers) or a run without a match
     */
    static List<WatchLog.Layer> layers(List<Run> runs, String name) {
        Run first = runs.get(0);
        WatchLog.Layer chosen = null;
        for (WatchLog.Layer l : first.watch().layers()) {
            if (name == null ? !l.isBatchNorm() : l.name().equalsIgnoreCase(name)) {
                chosen = l;
                break;
            }
        }
        if (chosen == null) {
            List<String> names = first.watch().layers().stream().map(WatchLog.Layer::name).toList();
            throw new UsageException((name == null ? first.file() + ": no activation watched"
                    : "--layer " + name + ": no such watched layer in " + first.file())
                    + "; its layers: " + String.join(", ", names));
        }
        int rank = rankOf(first.watch().layers(), chosen);
        List<WatchLog.Layer> out = new ArrayList<>();
        out.add(chosen);
        for (Run r : runs.subList(1, runs.size())) {
            WatchLog.Layer match = null;
            int k = 0;
            for (WatchLog.Layer l : r.watch().layers()) {
                if (l.type().equals(chosen.type()) && k++ == rank) {
                    match = l;
                    break;
                }
            }
            if (match == null) {
                throw new UsageException(r.file() + ": no " + chosen.type() + " number " + (rank + 1) + " to match "
                        + chosen.name() + " of " + first.file() + "; its layers: "
                        + String.join(", ", r.watch().layers().stream().map(WatchLog.Layer::name).toList()));
            }
            out.add(match);
        }
        return out;
    }

    private static int rankOf(List<WatchLog.Layer> layers, WatchLog.Layer layer) {
        int k = 0;
        for (WatchLog.Layer l : layers) {
            if (l == layer) {
                return k;
            }
            if (l.type().equals(layer.type())) {
                k++;
            }
        }
        throw new IllegalArgumentException(layer.name() + " is not among the layers");
    }

    /** Draws the picture, {@code width} x {@code height} pixels in all. */
    static BufferedImage draw(List<Run> runs, List<WatchLog.Layer> layers, String title, int width, int height) {
        int body = height - TITLE_HEIGHT;
        int bnRun = -1;
        WatchLog.Layer bn = null;
        for (int i = 0; i < runs.size() && bn == null; i++) {
            bn = feedingBatchNorm(runs.get(i).watch(), layers.get(i));
            bnRun = i;
        }
        boolean bottom = bn != null && !runs.get(bnRun).watch().epochs().isEmpty();
        int topHeight = bottom ? (int) Math.round(body * TOP_SHARE) : body;
        List<XYChart> top = new ArrayList<>();
        double[] range = {Double.MAX_VALUE, -Double.MAX_VALUE};
        int panelWidth = width / runs.size();
        for (int i = 0; i < runs.size(); i++) {
            int w = i == runs.size() - 1 ? width - panelWidth * (runs.size() - 1) : panelWidth;
            top.add(percentileChart(runs.get(i), layers.get(i), w, topHeight, range));
        }
        for (XYChart c : top) {
            PlotCommand.pad(c, range);
        }
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);
        g.setColor(Color.BLACK);
        g.setFont(g.getFont().deriveFont(16f));
        List<String> names = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            String file = runs.get(i).file().getFileName().toString();
            names.add(layers.get(i).name() + (runs.size() > 1 ? " of " + file.replaceFirst("\\.json$", "") : ""));
        }
        String heading = title != null ? title : "The input of " + String.join(" and ", names)
                + " by step: 15th, 50th, 85th percentiles" + (bottom ? "; gamma and beta of " + bn.name() + " by epoch" : "");
        int fit = width / 9;   // characters of a 16-point line that fit the picture (as PlotCommand's histories)
        g.drawString(heading.length() > fit ? heading.substring(0, fit - 3) + "..." : heading, 12, 24);
        for (int i = 0; i < top.size(); i++) {
            g.drawImage(BitmapEncoder.getBufferedImage(top.get(i)), i * panelWidth, TITLE_HEIGHT, null);
        }
        if (bottom) {
            Run r = runs.get(bnRun);
            int half = width / 2;
            int h = body - topHeight;
            g.drawImage(BitmapEncoder.getBufferedImage(channelChart(r, bn, true, half, h)), 0, TITLE_HEIGHT + topHeight, null);
            g.drawImage(BitmapEncoder.getBufferedImage(channelChart(r, bn, false, width - half, h)), half,
                    TITLE_HEIGHT + topHeight, null);
        }
        g.dispose();
        return img;
    }

    /** The batch norm nearest before {@code layer} (or it), else the first one; null when the run has none. */
    static WatchLog.Layer feedingBatchNorm(WatchLog watch, WatchLog.Layer layer) {
        WatchLog.Layer before = null;
        WatchLog.Layer first = null;
        for (WatchLog.Layer l : watch.layers()) {
            if (!l.isBatchNorm()) {
                continue;
            }
            first = first == null ? l : first;
            if (l.index() <= layer.index()) {
                before = l;
            }
        }
        return before != null ? before : first;
    }

    private static XYChart percentileChart(Run run, WatchLog.Layer layer, int width, int height, double[] range) {
        List<WatchLog.Step> steps = run.watch().steps();
        double[] x = new double[steps.size()];
        double[][] p = new double[3][steps.size()];
        for (int i = 0; i < steps.size(); i++) {
            WatchLog.Step s = steps.get(i);
            WatchLog.Input in = s.inputs().get(layer.name());
            if (in == null) {
                throw new UsageException(run.file() + ": step " + s.step() + " has no input of " + layer.name());
            }
            x[i] = s.step();
            p[0][i] = in.p15();
            p[1][i] = in.p50();
            p[2][i] = in.p85();
        }
        for (double[] v : p) {
            PlotCommand.widen(range, v);
        }
        String model = run.doc().settings() != null ? String.valueOf(run.doc().settings().get("model")) : null;
        String label = PlotCommand.label(run.file(), run.doc());
        XYChart c = new XYChartBuilder().width(width).height(height)
                .title(label + (model != null && !label.contains(model) ? " (" + model + ")" : "") + ": input of " + layer.name())
                .xAxisTitle("training step").yAxisTitle("input value").build();
        style(c, "#");
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        c.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        String[] names = {"15th percentile", "50th percentile", "85th percentile"};
        for (int k = 0; k < 3; k++) {
            XYSeries s = c.addSeries(names[k], x, p[k]);
            s.setMarker(SeriesMarkers.NONE);
        }
        return c;
    }

    private static XYChart channelChart(Run run, WatchLog.Layer bn, boolean gamma, int width, int height) {
        List<WatchLog.Epoch> epochs = run.watch().epochs();
        int channels = bn.channels() != null ? bn.channels() : 0;
        double[] x = new double[epochs.size()];
        double[][] v = new double[channels][epochs.size()];
        for (int e = 0; e < epochs.size(); e++) {
            WatchLog.Epoch ep = epochs.get(e);
            Map<String, List<Float>> values = gamma ? ep.gamma() : ep.beta();
            List<Float> row = values.get(bn.name());
            if (row == null || row.size() != channels) {
                throw new UsageException(run.file() + ": epoch " + ep.epoch() + " has no " + (gamma ? "gamma" : "beta")
                        + " of " + channels + " channels for " + bn.name());
            }
            x[e] = ep.epoch();
            for (int ch = 0; ch < channels; ch++) {
                v[ch][e] = Objects.requireNonNullElse(row.get(ch), Float.NaN);
            }
        }
        String what = gamma ? "gamma" : "beta";
        XYChart c = new XYChartBuilder().width(width).height(height)
                .title(PlotCommand.label(run.file(), run.doc()) + ": " + what + " of " + bn.name() + " by channel")
                .xAxisTitle("epoch").yAxisTitle(what).build();
        style(c, "#");
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.getStyler().setLegendVisible(channels <= LEGEND_CHANNELS);
        double[] range = {Double.MAX_VALUE, -Double.MAX_VALUE};
        for (int ch = 0; ch < channels; ch++) {
            PlotCommand.widen(range, v[ch]);
            XYSeries s = c.addSeries(String.format(Locale.ROOT, "channel %d", ch), x, v[ch]);
            s.setMarker(epochs.size() <= 20 && channels <= LEGEND_CHANNELS ? SeriesMarkers.CIRCLE : SeriesMarkers.NONE);
        }
        PlotCommand.pad(c, range);
        return c;
    }

    private static void style(XYChart c, String xPattern) {
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setXAxisDecimalPattern(xPattern);
        c.getStyler().setYAxisDecimalPattern("0.00");
    }
}
