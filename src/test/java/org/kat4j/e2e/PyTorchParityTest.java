package org.kat4j.e2e;

import org.kat4j.autograd.Losses;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.kat4j.autograd.Ops;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kat4j against our own PyTorch reference (tools/reference/kat_reference.py): same weights, same
 * input, same logits and the same gradient for every parameter.
 */
class PyTorchParityTest {
    @ParameterizedTest
    @ValueSource(strings = {"kat", "vit"})
    void logitsAndEveryGradientMatchPyTorch(String kind) throws IOException, URISyntaxException {
        Path f = Path.of(getClass().getResource("/fixtures/" + kind + "_parity.safetensors").toURI());
        Safetensors.Contents c = Safetensors.read(f);
        Map<String, Tensor> params = new LinkedHashMap<>();
        Map<String, Tensor> grads = new LinkedHashMap<>();
        c.tensors().forEach((k, v) -> {
            if (k.startsWith("param.")) {
                params.put(k.substring(6), v);
            } else if (k.startsWith("grad.")) {
                grads.put(k.substring(5), v);
            }
        });
        VisionTransformer m = Models.create(kind + "_micro_patch4_32",
                Map.of("patch_size", 8, "embed_dim", 64, "depth", 2, "num_heads", 2, "num_classes", 10));
        m.loadStateDict(params, true);   // every timm key, no renaming
        double[] lv = c.tensors().get("labels").toDoubleArray();
        int[] labels = new int[lv.length];
        for (int i = 0; i < lv.length; i++) {
            labels[i] = (int) lv[i];
        }
        Tensor logits = m.forward(c.tensors().get("input"));
        float[] ours = logits.toFloatArray();
        float[] ref = c.tensors().get("logits").toFloatArray();
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxDiff = Math.max(maxDiff, Math.abs(ref[i] - ours[i]));
        }
        System.out.printf("%s parity: logits max |diff| %.3e (max |logit| %.3f)%n", kind, maxDiff, maxRef);
        assertTrue(maxDiff <= 1e-4 * maxRef, kind + " logits differ by " + maxDiff);
        Tensor loss = Losses.crossEntropy(logits, labels, 0);
        assertEquals(Double.parseDouble(c.metadata().get("loss")), loss.item(), 1e-5);
        loss.backward();
        double worst = 0;
        String worstName = "";
        for (var e : m.namedParameters().entrySet()) {
            Tensor g = e.getValue().grad();
            assertNotNull(g, e.getKey() + " has no gradient");
            float[] a = g.toFloatArray();
            float[] b = grads.get(e.getKey()).toFloatArray();
            double num = 0;
            double den = 0;
            for (int i = 0; i < a.length; i++) {
                num += (a[i] - b[i]) * (double) (a[i] - b[i]);
                den += b[i] * (double) b[i];
            }
            double rel = Math.sqrt(num / Math.max(den, 1e-30));
            if (rel > worst) {
                worst = rel;
                worstName = e.getKey();
            }
            assertTrue(rel <= 1e-3, kind + " gradient of " + e.getKey() + ": relative L2 error " + rel);
        }
        System.out.printf("%s parity: %d parameter gradients, worst relative L2 error %.3e (%s)%n", kind, grads.size(), worst,
                worstName);
        assertEquals(grads.size(), m.namedParameters().size());
    }
}
