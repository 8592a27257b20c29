package org.shiftformer.trainer.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

import javax.imageio.ImageIO;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Draws training curves into a PNG with Java2D (no dependency; runs headless, e.g. with
 * {@code -Djava.awt.headless=true}). The upper panel shows the training loss over steps, the lower one
 * the validation exact match, chrF2 and BLEU (0..100) at the steps where validation ran. Both panels
 * share the step axis and have ticks at 1/2/5·10^k, axis labels and a legend.
 */
public final class CurvePlot {
    /** Default image width in pixels. */
    public static final int DEFAULT_WIDTH = 960;
    /** Default image height in pixels. */
    public static final int DEFAULT_HEIGHT = 720;
    /** The background colour (tests look for pixels that differ from it). */
    public static final Color BACKGROUND = Color.WHITE;

    static final Color LOSS = new Color(0x1f, 0x77, 0xb4);
    static final Color EXACT = new Color(0xd6, 0x27, 0x28);
    static final Color CHRF = new Color(0x2c, 0xa0, 0x2c);
    static final Color BLEU = new Color(0xff, 0x7f, 0x0e);

    private static final int LEFT = 78;
    private static final int RIGHT = 24;
    private static final int TOP = 34;
    private static final int BOTTOM = 46;

    private CurvePlot() {
    }

    private record Series(String name, Color color, List<double[]> xy) {
    }

    /** Renders and writes {@code file} as PNG; the parent directory is created if needed. */
    public static void write(List<CurvePoint> points, String title, Path file, int width, int height) {
        BufferedImage image = render(points, title, width, height);
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            if (!ImageIO.write(image, "png", file.toFile())) {
                throw new ShiftformerException(ErrorCode.INTERNAL, "no PNG writer in this JDK");
            }
        } catch (IOException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot write plot " + file + ": " + e.getMessage(), e);
        }
    }

    /** Renders the two panels into an RGB image of {@code width x height} (at least 320 x 240). */
    public static BufferedImage render(List<CurvePoint> points, String title, int width, int height) {
        if (width < 320 || height < 240) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "plot size " + width + "x" + height + " below 320x240");
        }
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(BACKGROUND);
            g.fillRect(0, 0, width, height);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));

            double maxStep = 1;
            for (CurvePoint p : points) {
                maxStep = Math.max(maxStep, p.step());
            }
            Series loss = series("train loss", LOSS, points, false, CurvePoint::trainLoss);
            Series exact = series("exact match %", EXACT, points, true, p -> p.validation().exactMatch());
            Series chrf = series("chrF2", CHRF, points, true, p -> p.validation().chrf());
            Series bleu = series("BLEU", BLEU, points, true, p -> p.validation().bleu());

            g.setColor(Color.BLACK);
            g.setFont(g.getFont().deriveFont(Font.BOLD, 14f));
            drawCentered(g, title == null ? "training curves" : title, width / 2, 20);
            g.setFont(g.getFont().deriveFont(Font.PLAIN, 12f));

            int half = (height - 10) / 2;
            double[] lossRange = range(loss.xy());
            panel(g, 0, 10, width, half, maxStep, lossRange[0], lossRange[1], "loss", List.of(loss), false);
            panel(g, 0, 10 + half, width, height - 10 - half, maxStep, 0, 100, "validation score",
                List.of(exact, chrf, bleu), true);
        } finally {
            g.dispose();
        }
        return image;
    }

    private static Series series(String name, Color color, List<CurvePoint> points, boolean validation,
                                 ToDoubleFunction<CurvePoint> value) {
        List<double[]> xy = new ArrayList<>();
        for (CurvePoint p : points) {
            if (validation && !p.evaluated()) {
                continue;
            }
            double v = value.applyAsDouble(p);
            if (Double.isFinite(v)) {
                xy.add(new double[] {p.step(), v});
            }
        }
        return new Series(name, color, xy);
    }

    /** A y range covering the values, starting at 0 when all values are positive, never empty. */
    private static double[] range(List<double[]> xy) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (double[] p : xy) {
            lo = Math.min(lo, p[1]);
            hi = Math.max(hi, p[1]);
        }
        if (xy.isEmpty()) {
            return new double[] {0, 1};
        }
        if (lo >= 0) {
            lo = 0;
        }
        if (hi - lo < 1e-9) {
            hi = lo + 1;
        }
        double step = niceStep(hi - lo, 5);
        return new double[] {Math.floor(lo / step) * step, Math.ceil(hi / step) * step};
    }

    private static void panel(Graphics2D g, int x0, int y0, int w, int h, double maxStep, double yLo, double yHi,
                              String yLabel, List<Series> series, boolean markers) {
        int left = x0 + LEFT;
        int right = x0 + w - RIGHT;
        int top = y0 + TOP;
        int bottom = y0 + h - BOTTOM;
        int plotW = right - left;
        int plotH = bottom - top;
        // grid and ticks
        g.setStroke(new BasicStroke(1f));
        double xStep = niceStep(maxStep, 8);
        double yStep = niceStep(yHi - yLo, 5);
        FontMetrics fm = g.getFontMetrics();
        for (double x = 0; x <= maxStep + 1e-9; x += xStep) {
            int px = left + (int) Math.round(x / maxStep * plotW);
            g.setColor(new Color(0xe6, 0xe6, 0xe6));
            g.drawLine(px, top, px, bottom);
            g.setColor(Color.BLACK);
            g.drawLine(px, bottom, px, bottom + 4);
            drawCentered(g, tick(x), px, bottom + 6 + fm.getAscent());
        }
        for (double y = yLo; y <= yHi + 1e-9 * Math.max(1, Math.abs(yHi)); y += yStep) {
            int py = bottom - (int) Math.round((y - yLo) / (yHi - yLo) * plotH);
            g.setColor(new Color(0xe6, 0xe6, 0xe6));
            g.drawLine(left, py, right, py);
            g.setColor(Color.BLACK);
            g.drawLine(left - 4, py, left, py);
            String t = tick(y);
            g.drawString(t, left - 7 - fm.stringWidth(t), py + fm.getAscent() / 2 - 1);
        }
        // axes and labels
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1.2f));
        g.drawRect(left, top, plotW, plotH);
        drawCentered(g, "step", (left + right) / 2, bottom + 8 + 2 * fm.getAscent());
        AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        drawCentered(g, yLabel, -(top + bottom) / 2, x0 + 16);
        g.setTransform(saved);
        // curves
        var clip = g.getClip();
        g.clipRect(left, top, plotW + 1, plotH + 1);
        for (Series s : series) {
            g.setColor(s.color());
            g.setStroke(new BasicStroke(2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
            Path2D.Double path = new Path2D.Double();
            for (int i = 0; i < s.xy().size(); i++) {
                double px = left + s.xy().get(i)[0] / maxStep * plotW;
                double py = bottom - (s.xy().get(i)[1] - yLo) / (yHi - yLo) * plotH;
                if (i == 0) {
                    path.moveTo(px, py);
                } else {
                    path.lineTo(px, py);
                }
                if (markers || s.xy().size() == 1) {
                    g.fillOval((int) Math.round(px) - 3, (int) Math.round(py) - 3, 7, 7);
                }
            }
            g.draw(path);
        }
        g.setClip(clip);
        // legend, top right inside the panel
        int lineH = fm.getHeight();
        int legendW = 0;
        for (Series s : series) {
            legendW = Math.max(legendW, fm.stringWidth(s.name()));
        }
        legendW += 36;
        int lx = right - legendW - 8;
        int ly = top + 8;
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(lx, ly, legendW, lineH * series.size() + 8);
        g.setColor(Color.GRAY);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(lx, ly, legendW, lineH * series.size() + 8);
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            int cy = ly + 4 + lineH * i + lineH / 2;
            g.setColor(s.color());
            g.setStroke(new BasicStroke(2f));
            g.drawLine(lx + 6, cy, lx + 26, cy);
            g.setColor(Color.BLACK);
            g.drawString(s.name() + (s.xy().isEmpty() ? " (none)" : ""), lx + 31, cy + fm.getAscent() / 2 - 1);
        }
    }

    /** The 1/2/5·10^k step that splits {@code span} into at most about {@code count} intervals. */
    static double niceStep(double span, int count) {
        double raw = span / count;
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / mag;
        double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
        return nice * mag;
    }

    static String tick(double v) {
        double a = Math.abs(v);
        if (a >= 10_000 && v % 1000 == 0) {
            return String.format(Locale.ROOT, "%.0fk", v / 1000);
        }
        if (v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        // ticks are sums of a 1/2/5 step: round away the accumulated binary error, drop trailing zeros
        return new BigDecimal(v).round(new MathContext(6)).stripTrailingZeros().toPlainString();
    }

    private static void drawCentered(Graphics2D g, String text, int cx, int baseline) {
        g.drawString(text, cx - g.getFontMetrics().stringWidth(text) / 2, baseline);
    }
}
