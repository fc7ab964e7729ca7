package org.kat4j.cli;

import org.kat4j.data.Cifar10;
import org.kat4j.data.FashionMnist;
import org.kat4j.predict.Predictor;
import org.kat4j.train.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code kat predict --model-dir DIR image...} or {@code --checkpoint FILE}: top-5 classes per
 * image. A checkpoint of kat train is fed images as its training data was (its metadata records
 * the data's normalisation) and named with its classes (recorded in the metadata too).
 */
@Command(name = "predict", description = "Classify images with a model directory (config.json + model.safetensors,"
        + " labels.txt optional) or a checkpoint of kat train.")
final class PredictCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @picocli.CommandLine.Mixin
    ModelSource source;
    @Option(names = "--top", defaultValue = "5", description = "Classes to show. Default ${DEFAULT-VALUE}.")
    int top;
    @Parameters(arity = "1..*", description = "Image files (PNG, JPEG, ...).")
    List<Path> images;

    @Override
    public Integer call() throws IOException {
        Predictor p = predictor().on(deviceOptions.resolve(System.out));
        int failed = 0;
        for (Path img : images) {
            try {
                var preds = p.predict(Predictor.read(img), top);
                System.out.println(img + ":");
                preds.forEach(x -> System.out.println("  " + x));
            } catch (IOException e) {
                failed++;
                System.err.println("kat predict: " + e.getMessage());
            } catch (IllegalArgumentException e) {
                failed++;
                System.err.println("kat predict: " + img + ": " + e.getMessage());
            }
        }
        return failed == 0 ? 0 : 1;
    }

    private Predictor predictor() throws IOException {
        if (source.which.modelDir != null) {
            return Predictor.load(source.which.modelDir);
        }
        Path file = source.which.checkpoint;
        ModelSource.Loaded l = ModelSource.fromCheckpoint(file, source.model);
        float[][] norm = Checkpoint.dataNormalization(file, l.metadata(), l.model().config().inChans());
        List<String> labels = Checkpoint.classNames(file, l.metadata());
        if (labels.isEmpty()) {
            // checkpoints written before the class names were recorded
            String data = l.metadata().getOrDefault(Checkpoint.DATA, "");
            labels = data.startsWith("fashion-mnist") ? List.of(FashionMnist.CLASSES) : data.startsWith("cifar-10")
                    ? List.of(Cifar10.CLASSES) : List.of();
        }
        if (labels.size() != l.model().config().numClasses()) {
            labels = List.of();
        }
        return Predictor.of(l.model(), norm[0], norm[1], labels);
    }
}
