package org.kat4j.cli;

import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.tensor.Tensor;
import org.kat4j.train.Checkpoint;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Where a command reads a trained model from: a checkpoint of kat train, or a model directory. */
final class ModelSource {
    static final class Which {
        @Option(names = "--checkpoint", required = true, description = "A .safetensors written by kat train.")
        Path checkpoint;
        @Option(names = "--model-dir", required = true, description = "A directory with config.json and model.safetensors.")
        Path modelDir;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Which which;
    @Option(names = "--model", description = "Model name (default: the one recorded in the checkpoint).")
    String model;

    /** A model read from its source, with the name it goes by and the checkpoint's metadata (empty for a directory). */
    record Loaded(String name, VisionTransformer model, String source, Map<String, String> metadata) {
    }

    Loaded load() throws IOException {
        if (which.modelDir != null) {
            VisionTransformer m = Models.fromPretrained(which.modelDir);
            Path leaf = which.modelDir.toAbsolutePath().normalize().getFileName();
            return new Loaded(leaf == null ? "model" : leaf.toString(), m, which.modelDir.toString(), Map.of());
        }
        return fromCheckpoint(which.checkpoint, model);
    }

    /** The model of a checkpoint of kat train; {@code model} names it where the metadata does not (or null). */
    static Loaded fromCheckpoint(Path file, String model) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException("--checkpoint " + file + ": no such file");
        }
        Safetensors.Contents c = Safetensors.read(file);
        String name = model != null ? model : c.metadata().get("kat4j.model");
        if (name == null) {
            throw new IOException(file + ": no kat4j.model in its metadata; pass --model");
        }
        Map<String, Tensor> weights = Checkpoint.weights(c);
        Tensor headBias = weights.get("head.bias");
        // the class count the model was trained with (kat train sets it to the data's)
        Map<String, Object> overrides = headBias == null ? Map.of() : Map.of("num_classes", (int) headBias.size(0));
        VisionTransformer m = Models.create(name, overrides);
        try {
            m.loadStateDict(weights, true);
        } catch (IllegalArgumentException e) {
            String recorded = c.metadata().get("kat4j.model");
            if (model != null && recorded != null && !recorded.equals(model)) {
                throw new IOException(file + " holds " + recorded + " weights (its kat4j.model), which do not fit " + model
                        + "; leave out --model to load them as " + recorded, e);
            }
            throw new IOException(file + " does not fit " + name + ": " + e.getMessage(), e);
        }
        return new Loaded(name, m, file.toString(), c.metadata());
    }
}
