package org.kat4j.cli;

import org.kat4j.data.FashionMnist;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.train.Checkpoint;
import org.kat4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code kat eval --checkpoint FILE}: test accuracy and loss of saved weights. */
@Command(name = "eval", description = "Evaluate a checkpoint (best/last.safetensors of kat train) on the Fashion-MNIST test split.")
final class EvalCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    DataOptions dataOptions = new DataOptions();

    @Option(names = "--checkpoint", required = true, description = "A .safetensors file written by kat train.")
    Path checkpoint;
    @Option(names = "--model", description = "Model name (default: the one recorded in the checkpoint).")
    String model;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(checkpoint)) {
            throw new IOException("--checkpoint " + checkpoint + ": no such file");
        }
        Safetensors.Contents c = Safetensors.read(checkpoint);
        String name = model != null ? model : c.metadata().get("kat4j.model");
        if (name == null) {
            throw new IOException(checkpoint + ": no kat4j.model in its metadata; pass --model");
        }
        VisionTransformer m = Models.create(name, Map.of("num_classes", 10));
        try {
            m.loadStateDict(Checkpoint.weights(c), true);
        } catch (IllegalArgumentException e) {
            throw new IOException(checkpoint + " does not fit " + name + ": " + e.getMessage(), e);
        }
        FashionMnist.Splits s = dataOptions.load();
        long t0 = System.nanoTime();
        double[] r = Trainer.evaluate(m, s.test(), 500);
        System.out.printf(Locale.ROOT, "%s (%s, epoch %s) on %s test (%d images): accuracy %.2f%%, loss %.4f, %.1f s%n", name,
                checkpoint.getFileName(), c.metadata().getOrDefault("kat4j.epoch", "?"), s.source(), s.test().size(), 100 * r[1], r[0],
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
