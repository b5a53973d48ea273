package dev.normnet.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.util.ArrayList;
import java.util.List;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Line charts of a quantity repeated over seeds: for each series the mean over the runs as a line
 * and the runs' range (min to max) as a translucent band around it. Runs may be of different
 * lengths (one that stopped early): each x takes the runs that reached it. Pictures are put side
 * by side with {@link PlotCommand#sideBySide}.
 */
final class BandChart {
    /** Distinct colours for up to six series (then they repeat). */
    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(214, 39, 40), new Color(44, 160, 44),
            new Color(255, 127, 14), new Color(148, 103, 189), new Color(140, 86, 75)};

    private final XYChart chart;
    private final double[] range = {Double.MAX_VALUE, -Double.MAX_VALUE};

    BandChart(String title, String xTitle, String yTitle, int width, int height) {
        chart = new XYChartBuilder().width(width).height(height).title(title).xAxisTitle(xTitle).yAxisTitle(yTitle).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setYAxisDecimalPattern("0.000");
    }

    XYChart chart() {
        return chart;
    }

    /** The colour of the {@code index}-th series. */
    static Color color(int index) {
        return PALETTE[index % PALETTE.length];
    }

    /**
     * Adds one series: {@code runs[r][i]} is run r's value at {@code x[i]} (a run may be shorter
     * than x). Draws the band of the runs' range where they differ, then the mean line.
     *
     * @return whether anything was drawn (false when no run has a value)
     */
    boolean add(String name, int colorIndex, double[] x, List<double[]> runs, boolean dashed) {
        List<Double> xs = new ArrayList<>();
        List<Double> mean = new ArrayList<>();
        List<Double> lo = new ArrayList<>();
        List<Double> hi = new ArrayList<>();
        for (int i = 0; i < x.length; i++) {
            double sum = 0;
            double min = Double.MAX_VALUE;
            double max = -Double.MAX_VALUE;
            int n = 0;
            for (double[] run : runs) {
                if (i < run.length && Double.isFinite(run[i])) {
                    sum += run[i];
                    min = Math.min(min, run[i]);
                    max = Math.max(max, run[i]);
                    n++;
                }
            }
            if (n > 0) {
                xs.add(x[i]);
                mean.add(sum / n);
                lo.add(min);
                hi.add(max);
                range[0] = Math.min(range[0], min);
                range[1] = Math.max(range[1], max);
            }
        }
        if (xs.isEmpty()) {
            return false;
        }
        Color c = color(colorIndex);
        boolean spread = false;
        for (int i = 0; i < xs.size(); i++) {
            spread |= hi.get(i) > lo.get(i);
        }
        if (spread) {
            // the band: along the maxima, then back along the minima, filled
            List<Double> bx = new ArrayList<>(xs);
            List<Double> by = new ArrayList<>(hi);
            for (int i = xs.size() - 1; i >= 0; i--) {
                bx.add(xs.get(i));
                by.add(lo.get(i));
            }
            XYSeries band = chart.addSeries(name + " (range)", bx, by);
            band.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.PolygonArea);
            Color translucent = new Color(c.getRed(), c.getGreen(), c.getBlue(), 60);
            band.setFillColor(translucent);
            band.setLineColor(translucent);
            band.setMarker(SeriesMarkers.NONE);
            band.setShowInLegend(false);
        }
        XYSeries line = chart.addSeries(name, xs, mean);
        line.setLineColor(c);
        line.setMarkerColor(c);
        line.setMarker(SeriesMarkers.CIRCLE);
        if (dashed) {
            line.setLineStyle(new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
        }
        return true;
    }

    /** Fits the y axis to what was added, with a margin; returns the chart. */
    XYChart finish() {
        if (range[0] <= range[1]) {
            PlotCommand.pad(chart, range);
        }
        return chart;
    }
}
