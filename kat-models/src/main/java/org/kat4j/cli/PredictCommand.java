package org.kat4j.cli;

import org.kat4j.predict.Predictor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code kat predict --model-dir DIR image...}: top-5 classes per image. */
@Command(name = "predict", description = "Classify images with a model directory (config.json + model.safetensors).")
final class PredictCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--model-dir", required = true, description = "Directory with config.json and model.safetensors (labels.txt optional).")
    Path modelDir;
    @Option(names = "--top", defaultValue = "5", description = "Classes to show. Default ${DEFAULT-VALUE}.")
    int top;
    @Parameters(arity = "1..*", description = "Image files (PNG, JPEG, ...).")
    List<Path> images;

    @Override
    public Integer call() throws IOException {
        Predictor p = Predictor.load(modelDir).on(deviceOptions.resolve(System.out));
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
}
