package org.shiftformer.trainer.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.trainer.eval.Metrics;
import org.shiftformer.trainer.eval.Placeholders;

/** CSV curves (exact content and round trip), the PNG plot and the summary table. */
class CurveReportTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void headless() {
        System.setProperty("java.awt.headless", "true");
    }

    private static List<CurvePoint> curve() {
        List<CurvePoint> points = new ArrayList<>();
        for (int step = 50; step <= 2000; step += 50) {
            Metrics v = step % 500 == 0 ? new Metrics(5000, step / 20.0, step / 21.0, step / 22.0) : null;
            points.add(new CurvePoint(step, step * 0.4, 6 * Math.exp(-step / 400.0) + 0.2, 2e-3, 13_000, v));
        }
        return points;
    }

    @Test
    void csvHasHeaderAndOneRowPerPointWithEmptyValidationCells() throws IOException {
        Path file = dir.resolve("runs/curve.csv");
        try (CurveCsv csv = CurveCsv.create(file)) {
            csv.append(new CurvePoint(1, 0.5, 7.25, 1e-5, 12_000.25, null));
            csv.append(new CurvePoint(500, 180.125, 1.5, 2e-3, Double.NaN, new Metrics(5000, 45.5, 80.25, 60.125)));
        }
        assertEquals(List.of(
            CurveCsv.HEADER,
            "1,0.500,7.250000,1.00000e-05,12000.3,,,,",
            "500,180.125,1.500000,0.00200000,,5000,45.5000,80.2500,60.1250"),
            Files.readAllLines(file, StandardCharsets.UTF_8));
        List<CurvePoint> back = CurveCsv.read(file);
        assertEquals(2, back.size());
        assertNull(back.get(0).validation());
        assertEquals(new Metrics(5000, 45.5, 80.25, 60.125), back.get(1).validation());
        assertTrue(Double.isNaN(back.get(1).tokensPerSecond()));
        assertEquals(2e-3, back.get(1).learningRate(), 0.0);
    }

    @Test
    void csvRowsAreVisibleBeforeClose() throws IOException {
        Path file = dir.resolve("live.csv");
        try (CurveCsv csv = CurveCsv.create(file)) {
            csv.append(curve().get(0));
            assertEquals(2, Files.readAllLines(file).size(), "flushed per row, so a crashed run keeps its curve");
        }
    }

    @Test
    void malformedCsvIsAnErrorNamingTheLine() throws IOException {
        Path file = dir.resolve("bad.csv");
        Files.writeString(file, CurveCsv.HEADER + "\n1,2,3\n");
        var e = assertThrows(ShiftformerException.class, () -> CurveCsv.read(file));
        assertEquals(file + ":2: expected 9 fields, found 3", e.getMessage());
    }

    @Test
    void pngDecodesWithTheRequestedSizeAndDrawsTheCurves() throws IOException {
        Path png = dir.resolve("plots/curves.png");
        CurvePlot.write(curve(), "test run", png, 800, 600);
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, "decodes as an image");
        assertEquals(800, img.getWidth());
        assertEquals(600, img.getHeight());
        int background = CurvePlot.BACKGROUND.getRGB();
        int nonBackground = 0;
        int lossPixels = 0;
        int exactPixels = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y);
                nonBackground += rgb != background ? 1 : 0;
                if (rgb == CurvePlot.LOSS.getRGB()) {
                    lossPixels++;
                    assertTrue(y < 300, "loss curve in the upper panel, found at y " + y);
                }
                if (rgb == CurvePlot.EXACT.getRGB()) {
                    exactPixels++;
                    assertTrue(y >= 300, "validation curves in the lower panel, found at y " + y);
                }
            }
        }
        assertTrue(nonBackground > 800 * 600 / 50, "drawn pixels: " + nonBackground);
        assertTrue(lossPixels > 200, "loss pixels: " + lossPixels);
        assertTrue(exactPixels > 50, "exact-match pixels: " + exactPixels);
    }

    @Test
    void plotOfAnEmptyCurveStillHasAxes() {
        BufferedImage img = CurvePlot.render(List.of(), null, 400, 300);
        int drawn = 0;
        for (int y = 0; y < 300; y++) {
            for (int x = 0; x < 400; x++) {
                drawn += img.getRGB(x, y) != CurvePlot.BACKGROUND.getRGB() ? 1 : 0;
            }
        }
        assertTrue(drawn > 1000, "axes, ticks and labels: " + drawn);
        assertThrows(ShiftformerException.class, () -> CurvePlot.render(List.of(), null, 100, 100));
    }

    @Test
    void niceTicks() {
        assertEquals(500.0, CurvePlot.niceStep(2500, 8));
        assertEquals(20.0, CurvePlot.niceStep(100, 5));
        assertEquals(0.5, CurvePlot.niceStep(2.2, 5));
        assertEquals("50k", CurvePlot.tick(50_000));
        assertEquals("1500", CurvePlot.tick(1500));
        assertEquals("0.5", CurvePlot.tick(0.5));
        assertEquals("0.3", CurvePlot.tick(0.1 + 0.2));
        assertEquals("2.5", CurvePlot.tick(2.5));
    }

    @Test
    void summaryTableComparesFloatFakeQuantAndInt8() {
        String table = SummaryTable.format(new Metrics(5000, 99.2, 99.81, 99.4), new Metrics(5000, 99.1, 99.79, 99.31),
            new Metrics(5000, 99.0, 99.7, 0.0));
        assertEquals(String.join(System.lineSeparator(),
            "model              exact %     chrF2      BLEU",
            "float                99.20     99.81     99.40",
            "fake-quantized       99.10     99.79     99.31",
            "int8 artifact        99.00     99.70      0.00",
            "int8 / float         99.8%     99.9%      0.0%",
            "(5000 test segments; chrF2 and BLEU are sacreBLEU-default corpus scores)", ""), table);
        assertEquals("n/a", SummaryTable.ratio(5, 0));
        String withPlaceholders = SummaryTable.format(
            new Metrics(200, 31.2, 60.81, 40.4, new Placeholders.Score(200, 61, 97.5)),
            new Metrics(200, 31.1, 60.79, 40.31, new Placeholders.Score(200, 61, 97.5)),
            new Metrics(200, 31.1, 60.79, 40.31, new Placeholders.Score(200, 61, 97.0)));
        assertEquals(String.join(System.lineSeparator(),
            "model              exact %     chrF2      BLEU  placeh. %",
            "float                31.20     60.81     40.40      97.50",
            "fake-quantized       31.10     60.79     40.31      97.50",
            "int8 artifact        31.10     60.79     40.31      97.00",
            "int8 / float         99.7%    100.0%     99.8%      99.5%",
            "(200 test segments; chrF2 and BLEU are sacreBLEU-default corpus scores; placeh.: hypotheses with exactly "
                + "their source's placeholders, 61 sources have some)", ""), withPlaceholders);
        Metrics words = new Metrics(200, 99.0, 99.5, 99.2, new Placeholders.Score(200, 0, 100.0));
        assertFalse(SummaryTable.format(words, words, words).contains("placeh."), "trivial: no column");
        var e = assertThrows(ShiftformerException.class, () -> SummaryTable.format(new Metrics(10, 1, 1, 1),
            new Metrics(10, 1, 1, 1), new Metrics(9, 1, 1, 1)));
        assertTrue(e.getMessage().contains("different test sets"), e.getMessage());
    }
}
