package org.kat4j.e2e;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.data.FashionMnist;
import org.kat4j.io.Safetensors;
import org.kat4j.autograd.Losses;
import org.kat4j.backend.Device;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.optim.AdamW;
import org.kat4j.predict.Predictor;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.kat4j.train.Checkpoint;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The README's Java example, on the micro model so that it runs in a second. */
class ReadmeExampleTest {
    @Test
    void aModelMovesToTheBestDeviceAndTrainsThere() throws Exception {
        VisionTransformer model = Models.create("kat_micro_patch7_28", Map.of("num_classes", 10));
        Device device = Device.best();
        model.to(device);
        assertEquals(device, model.device());
        model.parameters().forEach(p -> assertEquals(device, p.device(), "every parameter moved"));
        var opt = AdamW.builder(model.parameters()).lr(1e-3).weightDecay(0.05).build();
        Random rng = new Random(0);
        Tensor images = Tensor.randn(rng, DType.FLOAT32, 8, 1, 28, 28).to(device);
        int[] labels = {0, 1, 2, 3, 4, 5, 6, 7};
        float[] before = model.parameters().get(0).toFloatArray();
        double loss;
        try (var step = Scope.open()) {
            Tensor l = Losses.crossEntropy(model.forward(images), labels, 0.1);
            opt.zeroGrad();
            l.backward();
            opt.step();
            loss = l.item();
        }
        assertTrue(Double.isFinite(loss) && loss > 0, "loss " + loss);
        assertNotEquals(before[0], model.parameters().get(0).toFloatArray()[0], "the step changed the weights");
        opt.state().values().forEach(mv -> assertEquals(device, mv[0].device(), "optimizer state on the parameter's device"));

        Path file = dir.resolve("kat.safetensors");
        Safetensors.write(file, model.stateDict(), Map.of());
        VisionTransformer again = Models.create("kat_micro_patch7_28", Map.of("num_classes", 10), 99);
        again.loadStateDict(Safetensors.read(file).tensors(), true);
        assertArrayEquals(model.parameters().get(0).toFloatArray(), again.parameters().get(0).toFloatArray(), 0);

        // with weights of kat train (its checkpoints record the data's normalisation)
        Path ckpt = dir.resolve("best.safetensors");
        Safetensors.write(ckpt, model.to(Device.CPU).stateDict(), Map.of("kat4j.model", "kat_micro_patch7_28",
                "kat4j.data", "fashion-mnist train", "kat4j.data.mean", "0.286", "kat4j.data.std", "0.353"));
        var meta = Safetensors.read(ckpt).metadata();
        float[][] norm = Checkpoint.dataNormalization(ckpt, meta, 1);
        var fmnist = Models.create("kat_micro_patch7_28", Map.of("num_classes", 10));
        fmnist.loadStateDict(Checkpoint.weights(Safetensors.read(ckpt)), true);
        var shoes = Predictor.of(fmnist, norm[0], norm[1], List.of(FashionMnist.CLASSES));
        var top = shoes.predict(new java.awt.image.BufferedImage(28, 28, java.awt.image.BufferedImage.TYPE_BYTE_GRAY), 3);
        assertEquals(3, top.size());
        assertTrue(List.of(FashionMnist.CLASSES).contains(top.get(0).label()), top.toString());
    }

    @TempDir
    Path dir;
}
