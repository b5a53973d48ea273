package dev.normnet.cli;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Gamma and beta of each batch-norm layer by channel, one XChart panel per layer, {@value #COLUMNS}
 * panels to a row under a title (drawn headless, as {@link PlotCommand}'s charts).
 */
final class BatchNormImage {
    static final int PANEL_WIDTH = 700;
    static final int PANEL_HEIGHT = 360;
    static final int COLUMNS = 2;
    static final int TITLE_HEIGHT = 36;

    /** One layer's panel: its title and its gamma and beta (one value per channel). */
    record Panel(String title, float[] gamma, float[] beta) {
    }

    private BatchNormImage() {
    }

    /** The picture's size for {@code panels} panels: {width, height}. */
    static int[] size(int panels) {
        int columns = Math.min(COLUMNS, panels);
        int rows = (panels + COLUMNS - 1) / COLUMNS;
        return new int[] {columns * PANEL_WIDTH, TITLE_HEIGHT + rows * PANEL_HEIGHT};
    }

    static BufferedImage draw(List<Panel> panels, String title) {
        System.setProperty("java.awt.headless", "true");
        int[] size = size(panels.size());
        BufferedImage img = new BufferedImage(size[0], size[1], BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        g.setColor(Color.BLACK);
        g.setFont(g.getFont().deriveFont(16f));
        g.drawString(title, 12, 24);
        for (int i = 0; i < panels.size(); i++) {
            BufferedImage chart = BitmapEncoder.getBufferedImage(chart(panels.get(i)));
            g.drawImage(chart, (i % COLUMNS) * PANEL_WIDTH, TITLE_HEIGHT + (i / COLUMNS) * PANEL_HEIGHT, null);
        }
        g.dispose();
        return img;
    }

    private static XYChart chart(Panel p) {
        XYChart c = new XYChartBuilder().width(PANEL_WIDTH).height(PANEL_HEIGHT).title(p.title())
                .xAxisTitle("channel").yAxisTitle("value").build();
        c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        c.getStyler().setChartBackgroundColor(Color.WHITE);
        c.getStyler().setXAxisDecimalPattern("#");
        c.getStyler().setYAxisDecimalPattern("0.00");
        int n = p.gamma().length;
        double[] x = new double[n];
        double[] gamma = new double[n];
        double[] beta = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = i;
            gamma[i] = p.gamma()[i];
            beta[i] = p.beta()[i];
        }
        XYSeries gs = c.addSeries("gamma", x, gamma);
        gs.setMarker(SeriesMarkers.CIRCLE);
        XYSeries bs = c.addSeries("beta", x, beta);
        bs.setMarker(SeriesMarkers.DIAMOND);
        // An explicit range keeps XChart's number ticks (without it, integer x values get one label
        // per few points, which overlap at 84 channels).
        c.getStyler().setXAxisMin(-0.5);
        c.getStyler().setXAxisMax(n - 0.5);
        return c;
    }
}
