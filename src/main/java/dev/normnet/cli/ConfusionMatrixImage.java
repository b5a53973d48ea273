package dev.normnet.cli;

import dev.normnet.predict.Evaluation;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.util.Locale;

/**
 * The confusion matrix as a picture (Java2D, headless): one cell per (true, predicted) pair, rows
 * the true class, columns the predicted one; each cell coloured by its share of its row (white 0
 * to dark blue 1) and labelled with its count; class names on both axes; the row's accuracy at the
 * right of each row.
 */
final class ConfusionMatrixImage {
    static final int WIDTH = 960;
    static final int HEIGHT = 800;
    private static final int GRID = 600;       // side of the square grid
    private static final int LEFT = 170;       // row labels
    private static final int TOP = 70;         // title and the axis name above the grid
    private static final Color LOW = new Color(247, 251, 255);
    private static final Color HIGH = new Color(8, 48, 107);

    private ConfusionMatrixImage() {
    }

    static BufferedImage draw(Evaluation r, String title) {
        System.setProperty("java.awt.headless", "true");
        int k = r.classes();
        long[][] c = r.confusion();
        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, WIDTH, HEIGHT);
        Font base = new Font(Font.SANS_SERIF, Font.PLAIN, 14);

        g.setColor(Color.BLACK);
        g.setFont(base.deriveFont(Font.BOLD, 16f));
        g.drawString(fit(g, title, WIDTH - 24), 12, 26);

        double cell = (double) GRID / k;
        g.setFont(base.deriveFont(Font.PLAIN, 13f));
        centred(g, "predicted class", LEFT + GRID / 2, TOP - 12);
        for (int i = 0; i < k; i++) {
            long total = r.classTotal(i);
            for (int j = 0; j < k; j++) {
                double share = total == 0 ? 0 : (double) c[i][j] / total;
                int x0 = LEFT + (int) Math.round(j * cell);
                int y0 = TOP + (int) Math.round(i * cell);
                int x1 = LEFT + (int) Math.round((j + 1) * cell);
                int y1 = TOP + (int) Math.round((i + 1) * cell);
                g.setColor(blend(share));
                g.fillRect(x0, y0, x1 - x0, y1 - y0);
                g.setColor(share > 0.5 ? Color.WHITE : Color.BLACK);
                g.setFont(base.deriveFont(Font.PLAIN, (float) Math.max(8, Math.min(15, cell / 4))));
                centred(g, Long.toString(c[i][j]), (x0 + x1) / 2, (y0 + y1) / 2 + g.getFontMetrics().getAscent() / 2 - 1);
            }
        }
        g.setColor(Color.GRAY);
        g.drawRect(LEFT, TOP, GRID, GRID);

        // Axis labels: class names left of the rows, rotated under the columns; row accuracy on the right.
        g.setColor(Color.BLACK);
        Font label = base.deriveFont(Font.PLAIN, (float) Math.max(9, Math.min(13, cell / 3)));
        g.setFont(label);
        FontMetrics fm = g.getFontMetrics();
        for (int i = 0; i < k; i++) {
            String name = fit(g, r.classNames().get(i), LEFT - 16);
            int y = TOP + (int) Math.round((i + 0.5) * cell) + fm.getAscent() / 2 - 1;
            g.drawString(name, LEFT - 8 - fm.stringWidth(name), y);
            double acc = r.classAccuracy(i);
            g.drawString(Double.isNaN(acc) ? "-" : String.format(Locale.ROOT, "%.3f", acc), LEFT + GRID + 8, y);
        }
        for (int j = 0; j < k; j++) {
            String name = fit(g, r.classNames().get(j), 110);
            int x = LEFT + (int) Math.round((j + 0.5) * cell);
            AffineTransform saved = g.getTransform();
            g.translate(x + fm.getAscent() / 2.0 - 1, TOP + GRID + 8);
            g.rotate(Math.toRadians(60));
            g.drawString(name, 0, 0);
            g.setTransform(saved);
        }
        g.setFont(base.deriveFont(Font.PLAIN, 13f));
        AffineTransform saved = g.getTransform();
        g.translate(18, TOP + GRID / 2.0);
        g.rotate(-Math.PI / 2);
        centred(g, "true class", 0, 0);
        g.setTransform(saved);
        g.drawString("row", LEFT + GRID + 8, TOP - 28);
        g.drawString("accuracy", LEFT + GRID + 8, TOP - 12);

        // The colour scale: a row's share, 0 to 1.
        int barX = LEFT + GRID + 90;
        int barW = 18;
        for (int y = 0; y < GRID; y++) {
            g.setColor(blend(1.0 - (double) y / (GRID - 1)));
            g.fillRect(barX, TOP + y, barW, 1);
        }
        g.setColor(Color.GRAY);
        g.drawRect(barX, TOP, barW, GRID);
        g.setColor(Color.BLACK);
        g.setFont(base.deriveFont(Font.PLAIN, 12f));
        for (int t = 0; t <= 4; t++) {
            double v = t / 4.0;
            int y = TOP + (int) Math.round((1 - v) * GRID);
            g.drawLine(barX + barW, y, barX + barW + 4, y);
            g.drawString(String.format(Locale.ROOT, "%.2f", v), barX + barW + 7, y + 4);
        }
        g.drawString("share of row", barX - 8, TOP + GRID + 22);
        g.dispose();
        return img;
    }

    private static Color blend(double t) {
        t = Math.max(0, Math.min(1, t));
        return new Color((int) Math.round(LOW.getRed() + (HIGH.getRed() - LOW.getRed()) * t),
                (int) Math.round(LOW.getGreen() + (HIGH.getGreen() - LOW.getGreen()) * t),
                (int) Math.round(LOW.getBlue() + (HIGH.getBlue() - LOW.getBlue()) * t));
    }

    private static void centred(Graphics2D g, String s, int x, int baseline) {
        g.drawString(s, x - g.getFontMetrics().stringWidth(s) / 2, baseline);
    }

    /** {@code s}, cut with "..." to fit {@code width} pixels in the current font. */
    private static String fit(Graphics2D g, String s, int width) {
        FontMetrics fm = g.getFontMetrics();
        if (fm.stringWidth(s) <= width) {
            return s;
        }
        String t = s;
        while (!t.isEmpty() && fm.stringWidth(t + "...") > width) {
            t = t.substring(0, t.length() - 1);
        }
        return t + "...";
    }
}
