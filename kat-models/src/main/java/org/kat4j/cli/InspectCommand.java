package org.kat4j.cli;

import org.kat4j.inspect.Activations;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.models.VitConfig;
import org.kat4j.tensor.Tensor;
import org.kat4j.train.Checkpoint;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code kat inspect}: the rational functions a KAT learned, as a PNG grid and a CSV. */
@Command(name = "inspect", description = "Plot and tabulate the learned GR-KAN rationals of a checkpoint or model directory.")
final class InspectCommand implements Callable<Integer> {
    static final class Source {
        @Option(names = "--checkpoint", required = true, description = "A .safetensors written by kat train.")
        Path checkpoint;
        @Option(names = "--model-dir", required = true, description = "A directory with config.json and model.safetensors.")
        Path modelDir;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;
    @Option(names = "--model", description = "Model name (default: the one recorded in the checkpoint).")
    String model;
    @Option(names = "--out", defaultValue = "runs/inspect", description = "Output directory. Default ${DEFAULT-VALUE}.")
    Path out;

    @Override
    public Integer call() throws IOException {
        Map<String, Tensor> state;
        VitConfig cfg;
        String name;
        if (source.checkpoint != null) {
            if (!Files.isRegularFile(source.checkpoint)) {
                throw new IOException("--checkpoint " + source.checkpoint + ": no such file");
            }
            Safetensors.Contents c = Safetensors.read(source.checkpoint);
            name = model != null ? model : c.metadata().get("kat4j.model");
            if (name == null) {
                throw new IOException(source.checkpoint + ": no kat4j.model in its metadata; pass --model");
            }
            cfg = Models.config(name, Map.of());
            state = Checkpoint.weights(c);
        } else {
            VisionTransformer m = Models.fromPretrained(source.modelDir);
            cfg = m.config();
            name = source.modelDir.getFileName().toString();
            state = m.stateDict();
        }
        String what = source.checkpoint != null ? source.checkpoint.toString() : source.modelDir.toString();
        Activations a = Activations.of(state, cfg.act1Init(), cfg.act2Init(), what);
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
