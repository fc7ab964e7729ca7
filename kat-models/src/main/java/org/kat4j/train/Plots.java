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
        java.awt.image.BufferedImage a = BitmapEncoder.getBufferedImage(loss);
        java.awt.image.BufferedImage b = BitmapEncoder.getBufferedImage(acc);
        java.awt.image.BufferedImage both = new java.awt.image.BufferedImage(a.getWidth() + b.getWidth(),
                Math.max(a.getHeight(), b.getHeight()), java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = both.createGraphics();
        g.drawImage(a, 0, 0, null);
        g.drawImage(b, a.getWidth(), 0, null);
        g.dispose();
        javax.imageio.ImageIO.write(both, "png", png.toFile());
    }
}
