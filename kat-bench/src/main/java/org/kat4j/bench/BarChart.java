package org.kat4j.bench;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A grouped bar chart (PNG, XChart) from a tab-separated file of {@code label, series, value}
 * rows, for the benchmark reports: {@code kat-bench/report.py} and {@code kat-bench/compare.sh}
 * write the rows (ratios against the baseline of the same run), this draws them.
 *
 * <pre>java -cp kat-bench/target/benchmarks.jar org.kat4j.bench.BarChart rows.tsv out.png "title" "y axis"</pre>
 */
public final class BarChart {
    private BarChart() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: BarChart rows.tsv out.png title y-axis-title");
            System.exit(2);
        }
        List<String> labels = new ArrayList<>();
        Map<String, Map<String, Double>> series = new LinkedHashMap<>();
        int line = 0;
        for (String row : Files.readAllLines(Path.of(args[0]))) {
            line++;
            if (row.isBlank()) {
                continue;
            }
            String[] f = row.split("\t");
            if (f.length != 3) {
                throw new IllegalArgumentException(args[0] + ":" + line + ": expected label<TAB>series<TAB>value, got: " + row);
            }
            if (!labels.contains(f[0])) {
                labels.add(f[0]);
            }
            series.computeIfAbsent(f[1], k -> new LinkedHashMap<>()).put(f[0], Double.parseDouble(f[2]));
        }
        CategoryChart chart = new CategoryChartBuilder().width(Math.max(800, 90 * labels.size())).height(520)
                .title(args[2]).yAxisTitle(args[3]).build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        chart.getStyler().setXAxisLabelRotation(30);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        for (var e : series.entrySet()) {
            List<Double> ys = new ArrayList<>();
            for (String l : labels) {
                ys.add(e.getValue().getOrDefault(l, 0.0));
            }
            chart.addSeries(e.getKey(), labels, ys);
        }
        BitmapEncoder.saveBitmap(chart, args[1], BitmapEncoder.BitmapFormat.PNG);
    }
}
