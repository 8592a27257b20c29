package org.shiftformer.testcontainers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;

/**
 * Writes a load run's report: {@code report.html} (the summary, a figures table, and latency histograms as
 * inline SVG, so it needs no charting library and no network to view) and {@code summary.txt}.
 */
final class LoadReport {
    private static final int BINS = 40;
    private static final int W = 720;
    private static final int H = 240;
    private static final int PAD_L = 56;
    private static final int PAD_B = 36;
    private static final int PAD_T = 16;

    private LoadReport() {
    }

    /** Writes both files into {@code dir} (created if needed) and returns the HTML file. */
    static Path write(Path dir, String title, String context, LoadRun.Result r) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("summary.txt"), context + "\n" + r.summary());
            StringBuilder h = new StringBuilder();
            h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(title))
                    .append("</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:960px}"
                            + "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
                            + "th:first-child,td:first-child{text-align:left}pre{background:#f4f4f4;padding:1em;overflow:auto}"
                            + ".ok{color:#070}.bad{color:#b00}</style></head><body>\n");
            h.append("<h1>").append(esc(title)).append("</h1>\n<p>").append(esc(context)).append("<br>written ")
                    .append(Instant.now()).append("</p>\n");
            h.append("<p class=\"").append(r.clean() ? "ok\">clean: " : "bad\">NOT clean: ").append(String.format(
                    "%d sent, %d done, %d errors, %d lost, %d duplicated, %d token mismatches, %d/%d connections open",
                    r.sent, r.done, r.errors(), r.lost, r.duplicated, r.mismatched, r.openConnections, r.spec.clients()))
                    .append("</p>\n");
            h.append("<table><tr><th>figure (ms)</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>n</th></tr>\n");
            row(h, "time to first token (client, from scheduled arrival)", r.ttftMs);
            row(h, "time to first token (server, Done.first_token_ns)", r.serverTtftMs);
            row(h, "inter-token latency (client)", r.itlMs);
            if (!Double.isNaN(r.serverItlP50Ms)) {
                h.append(String.format(Locale.ROOT, "<tr><td>inter-token latency (server histogram, bucket bound)</td>"
                        + "<td>&lt;= %.2f</td><td></td><td>&lt;= %.2f</td><td></td><td></td></tr>%n", r.serverItlP50Ms,
                        r.serverItlP99Ms));
            }
            row(h, "end-to-end latency (client)", r.e2eMs);
            h.append("</table>\n");
            h.append(String.format(Locale.ROOT, "<p>throughput %.0f tokens/s (%d tokens in %.1f s); at most %d requests "
                    + "in flight; machine: %d CPUs, load average %.2f before, %.2f after</p>%n", r.tokensPerSecond(), r.tokens,
                    r.wallSeconds, r.maxInFlight, Runtime.getRuntime().availableProcessors(), r.loadBefore, r.loadAfter));
            h.append(histogram("Time to first token (ms)", r.ttftMs));
            h.append(histogram("Inter-token latency (ms)", r.itlMs));
            h.append(histogram("End-to-end latency (ms)", r.e2eMs));
            h.append("<h2>Summary</h2><pre>").append(esc(r.summary())).append("</pre>\n</body></html>\n");
            Path html = dir.resolve("report.html");
            Files.writeString(html, h);
            return html;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the load report to " + dir, e);
        }
    }

    private static void row(StringBuilder h, String what, double[] v) {
        h.append("<tr><td>").append(esc(what)).append("</td>");
        for (double q : new double[] {0.5, 0.9, 0.99}) {
            h.append(String.format(Locale.ROOT, "<td>%.2f</td>", LoadRun.percentile(v, q)));
        }
        h.append(String.format(Locale.ROOT, "<td>%.2f</td><td>%d</td></tr>%n", v.length == 0 ? Double.NaN : v[v.length - 1],
                v.length));
    }

    /**
     * A histogram of sorted values as SVG: {@value #BINS} equal bins from 0 to the 99.9th percentile (the
     * last bin also holds everything above it, labelled so), with the p50 and p99 marked.
     */
    static String histogram(String title, double[] sorted) {
        StringBuilder s = new StringBuilder("<h2>").append(esc(title)).append("</h2>\n");
        if (sorted.length == 0) {
            return s.append("<p>no values</p>\n").toString();
        }
        double hi = Math.max(LoadRun.percentile(sorted, 0.999), 1e-3);
        double width = hi / (BINS - 1);
        long[] counts = new long[BINS];
        for (double v : sorted) {
            counts[Math.min(BINS - 1, (int) (v / width))]++;
        }
        long max = 1;
        for (long c : counts) {
            max = Math.max(max, c);
        }
        int plotW = W - PAD_L - 10;
        int plotH = H - PAD_B - PAD_T;
        double barW = (double) plotW / BINS;
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-size=\"11\" font-family=\"sans-serif\">%n", W, H));
        s.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>%n",
                PAD_L, PAD_T + plotH, PAD_L + plotW, PAD_T + plotH));
        for (int b = 0; b < BINS; b++) {
            double bh = (double) counts[b] / max * plotH;
            s.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                            + "fill=\"%s\"><title>%.2f..%s ms: %d</title></rect>%n", PAD_L + b * barW + 0.5,
                    PAD_T + plotH - bh, barW - 1, bh, b == BINS - 1 ? "#c66" : "#4a7ab5", b * width,
                    b == BINS - 1 ? "" : String.format(Locale.ROOT, "%.2f", (b + 1) * width), counts[b]));
        }
        for (int t = 0; t <= 4; t++) {
            double v = hi * t / 4;
            double x = PAD_L + Math.min(plotW, v / width * barW);
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x,
                    H - PAD_B + 14, fmt(v)));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d</text>%n", PAD_L - 4,
                PAD_T + 8, max));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>%n", PAD_L - 4,
                PAD_T + plotH));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">ms (last bin: &gt;= %s)</text>%n",
                PAD_L + plotW, H - 4, fmt((BINS - 1) * width)));
        mark(s, "p50", LoadRun.percentile(sorted, 0.5), width, barW, plotW, plotH, "#090");
        mark(s, "p99", LoadRun.percentile(sorted, 0.99), width, barW, plotW, plotH, "#c00");
        return s.append("</svg>\n").toString();
    }

    private static void mark(StringBuilder s, String label, double v, double width, double barW, int plotW, int plotH,
                             String color) {
        double x = PAD_L + Math.min(plotW, v / width * barW);
        s.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
                + "stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%d\" fill=\"%s\">%s %s</text>%n", x, PAD_T, x,
                PAD_T + plotH, color, x + 3, PAD_T + 10 + (label.equals("p99") ? 12 : 0), color, label, fmt(v)));
    }

    private static String fmt(double v) {
        return v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
