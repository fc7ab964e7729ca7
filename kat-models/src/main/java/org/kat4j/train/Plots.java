package org.kat4j.train;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Training curves as a PNG (XChart): loss and accuracy per epoch. */
public final class Plots {
    private Plots() {
    }

    public static void writeCurves(List<Trainer.EpochResult> results, Path png, String title) throws IOException {
        int n = results.size();
        double[] x = new double[n];
        double[] trainLoss = new double[n];
        double[] testLoss = new double[n];
        double[] trainAcc = new double[n];
        double[] testAcc = new double[n];
        for (int i = 0; i < n; i++) {
            Trainer.EpochResult r = results.get(i);
            x[i] = r.epoch();
            trainLoss[i] = r.trainLoss();
            testLoss[i] = r.testLoss();
            trainAcc[i] = 100 * r.trainAcc();
            testAcc[i] = 100 * r.testAcc();
        }
        XYChart loss = new XYChartBuilder().width(560).height(380).title(title + ": loss").xAxisTitle("epoch")
                .yAxisTitle("cross-entropy").build();
        loss.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        loss.addSeries("train", x, trainLoss);
        loss.addSeries("test", x, testLoss);
        XYChart acc = new XYChartBuilder().width(560).height(380).title(title + ": accuracy").xAxisTitle("epoch")
                .yAxisTitle("%").build();
        acc.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        acc.addSeries("train", x, trainAcc);
        acc.addSeries("test", x, testAcc);
        side(BitmapEncoder.getBufferedImage(loss), BitmapEncoder.getBufferedImage(acc), png);
    }

    /** Test accuracy and test loss per epoch of several runs (kat compare). */
    public static void writeComparison(List<String> names, List<List<Trainer.EpochResult>> runs, Path png) throws IOException {
        XYChart acc = new XYChartBuilder().width(560).height(380).title("test accuracy").xAxisTitle("epoch").yAxisTitle("%").build();
        acc.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        XYChart loss = new XYChartBuilder().width(560).height(380).title("test loss").xAxisTitle("epoch")
                .yAxisTitle("cross-entropy").build();
        loss.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        for (int i = 0; i < names.size(); i++) {
            List<Trainer.EpochResult> r = runs.get(i);
            double[] x = r.stream().mapToDouble(Trainer.EpochResult::epoch).toArray();
            acc.addSeries(names.get(i), x, r.stream().mapToDouble(e -> 100 * e.testAcc()).toArray());
            loss.addSeries(names.get(i), x, r.stream().mapToDouble(Trainer.EpochResult::testLoss).toArray());
        }
        side(BitmapEncoder.getBufferedImage(acc), BitmapEncoder.getBufferedImage(loss), png);
    }

    private static void side(java.awt.image.BufferedImage a, java.awt.image.BufferedImage b, Path png) throws IOException {
        java.awt.image.BufferedImage both = new java.awt.image.BufferedImage(a.getWidth() + b.getWidth(),
                Math.max(a.getHeight(), b.getHeight()), java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = both.createGraphics();
        g.drawImage(a, 0, 0, null);
        g.drawImage(b, a.getWidth(), 0, null);
        g.dispose();
        org.kat4j.io.AtomicFiles.writeStream(png, out -> javax.imageio.ImageIO.write(both, "png", out));
    }
}
