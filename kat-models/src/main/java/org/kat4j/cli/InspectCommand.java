package org.kat4j.cli;

import org.kat4j.data.Batcher;
import org.kat4j.data.ImageDataset;
import org.kat4j.inspect.Activations;
import org.kat4j.models.VitConfig;
import org.kat4j.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;

/** {@code kat inspect}: the rational functions a KAT learned, as a PNG grid and a CSV. */
@Command(name = "inspect", description = "Plot and tabulate the learned GR-KAN rationals of a checkpoint or model directory;"
        + " with --data or --builtin also the range of inputs each one took on test images.")
final class InspectCommand implements Callable<Integer> {
    @Mixin
    ModelSource source;
    @Option(names = "--out", defaultValue = "runs/inspect", description = "Output directory. Default ${DEFAULT-VALUE}.")
    Path out;
    /** With --data or --builtin: also the range of inputs each rational took on test images. */
    @Mixin
    DataOptions dataOptions = new DataOptions();
    @Option(names = "--sample", defaultValue = "1000", description = "Test images for the input ranges. Default ${DEFAULT-VALUE}.")
    int sample;

    @Override
    public Integer call() throws IOException {
        ModelSource.Loaded l = source.load();
        VitConfig cfg = l.model().config();
        String name = l.name();
        Map<String, Tensor> state = l.model().stateDict();
        Activations a = Activations.of(state, cfg.act1Init(), cfg.act2Init(), l.source());
        if (dataOptions.given()) {
            if (sample < 1) {
                throw new IllegalArgumentException("--sample " + sample + ", expected >= 1");
            }
            ImageDataset test = dataOptions.loadTest(l);
            DataOptions.checkFits(l, test);
            int n = Math.min(sample, test.size());
            Batcher.Batch b = new Batcher(test, n, false, 0, false, new Random(0)).next();
            a = a.withInputRanges(l.model(), b.images(), 250);
            System.out.println("input ranges from " + n + " test images of " + test.name());
        }
        Files.createDirectories(out);
        Path png = out.resolve("activations.png");
        Path csv = out.resolve("activations.csv");
        a.writePng(png, name);
        a.writeCsv(csv);
        long large = a.groups().stream().filter(Activations.Group::largeDenominator).count();
        System.out.printf(Locale.ROOT, "%s: %d rationals (groups) in %d blocks; %d with a denominator above %.0f on [-4, 4]%n",
                name, a.groups().size(), a.groups().stream().mapToInt(Activations.Group::block).max().orElse(0) + 1, large,
                Activations.LARGE_DENOMINATOR);
        Map<String, Long> closest = new java.util.TreeMap<>();
        a.groups().forEach(g -> closest.merge(g.act() + " ~ " + g.closest().name().toLowerCase(Locale.ROOT), 1L, Long::sum));
        closest.forEach((k, v) -> System.out.println("  " + k + ": " + v));
        System.out.println("wrote " + png + " and " + csv);
        return 0;
    }
}
