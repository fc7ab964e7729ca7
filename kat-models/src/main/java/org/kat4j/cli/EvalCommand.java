package org.kat4j.cli;

import org.kat4j.data.ImageDataset;
import org.kat4j.models.VisionTransformer;
import org.kat4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code kat eval --checkpoint FILE}: test accuracy and loss of saved weights. */
@Command(name = "eval", description = "Evaluate a checkpoint (best/last.safetensors of kat train) on the test split of the data"
        + " (Fashion-MNIST by default, --data for another directory).")
final class EvalCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    DataOptions dataOptions = new DataOptions();

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--checkpoint", required = true, description = "A .safetensors file written by kat train.")
    Path checkpoint;
    @Option(names = "--model", description = "Model name (default: the one recorded in the checkpoint).")
    String model;
    @Option(names = "--per-class", description = "Also the accuracy on each class's images.")
    boolean perClass;

    @Override
    public Integer call() throws IOException {
        ModelSource.Loaded l = ModelSource.fromCheckpoint(checkpoint, model);
        VisionTransformer m = l.model();
        m.to(deviceOptions.resolve(System.out));
        String name = l.name();
        ImageDataset test = dataOptions.loadTest(l);
        DataOptions.checkFits(l, test);
        if (m.config().numClasses() != test.classes()) {
            throw new IllegalArgumentException(checkpoint + ": a head of " + m.config().numClasses() + " classes, the data has "
                    + test.classes());
        }
        long t0 = System.nanoTime();
        Trainer.Evaluation r = Trainer.evaluation(m, test, 500);
        System.out.printf(Locale.ROOT, "%s (%s, epoch %s) on %s, %d images: accuracy %.2f%%%s, loss %.4f, %.1f s%n", name,
                checkpoint.getFileName(), l.metadata().getOrDefault("kat4j.epoch", "?"), test.name(), test.size(),
                100 * r.accuracy(), test.classes() > 5 ? String.format(Locale.ROOT, " (top-5 %.2f%%)", 100 * r.top5()) : "",
                r.loss(), (System.nanoTime() - t0) / 1e9);
        if (perClass) {
            List<String> names = test.classNames();
            for (int k = 0; k < test.classes(); k++) {
                System.out.printf(Locale.ROOT, "  %-20s %7.2f%%  (%d of %d)%n", names.isEmpty() ? "class " + k : names.get(k),
                        100 * r.classAccuracy(k), r.correct()[k], r.seen()[k]);
            }
        }
        return 0;
    }
}
