package org.kat4j.models;

import org.kat4j.autograd.Losses;
import org.junit.jupiter.api.Test;
import org.kat4j.autograd.Ops;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelsTest {
    static long count(String name) {
        VitConfig c = Models.config(name, Map.of());
        return new VisionTransformer(c, 0).parameterCount();
    }

    @Test
    void parameterCountsEqualTheReference() {
        assertEquals(5_718_328, count("kat_tiny_patch16_224"));
        assertEquals(22_051_576, count("kat_small_patch16_224"));
        assertEquals(86_568_568, count("kat_base_patch16_224"));
        // a KAT has 12 blocks x 2 rationals x (6 + 8 x 4) more parameters than its ViT
        assertEquals(5_718_328 - 912, count("vit_tiny_patch16_224"));
    }

    @Test
    void timmKeyNames() {
        VisionTransformer m = Models.create("kat_micro_patch4_28", Map.of());
        List<String> keys = List.copyOf(m.namedParameters().keySet());
        assertEquals("cls_token", keys.get(0));
        assertTrue(keys.containsAll(List.of("pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.0.attn.proj.weight",
                "blocks.3.mlp.act1.weight_numerator", "blocks.3.mlp.act1.weight_denominator", "blocks.3.mlp.fc1.weight",
                "blocks.3.mlp.act2.weight_denominator", "blocks.3.mlp.fc2.bias", "norm.weight", "head.weight", "head.bias")), keys.toString());
        assertArrayEquals(new long[]{1, 50, 64}, m.namedParameters().get("pos_embed").shape());
        assertArrayEquals(new long[]{64, 1, 4, 4}, m.namedParameters().get("patch_embed.proj.weight").shape());
    }

    @Test
    void forwardBackwardOnABatch() {
        VisionTransformer m = Models.create("kat_micro_patch4_28", Map.of("depth", 2));
        Tensor x = Tensor.randn(new Random(1), DType.FLOAT32, 3, 1, 28, 28);
        Tensor logits = m.forward(x);
        assertArrayEquals(new long[]{3, 10}, logits.shape());
        Losses.crossEntropy(logits, new int[]{1, 2, 3}, 0.1).backward();
        for (var e : m.namedParameters().entrySet()) {
            assertTrue(e.getValue().grad() != null, e.getKey());
        }
        var err = assertThrows(IllegalArgumentException.class, () -> m.forward(Tensor.zeros(DType.FLOAT32, 2, 3, 28, 28)));
        assertTrue(err.getMessage().contains("[2, 3, 28, 28]") && err.getMessage().contains("[batch, 1, 28, 28]"));
    }

    @Test
    void pretrainedDirectoryLoadsStrictly(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        VisionTransformer src = Models.create("kat_micro_patch4_28", Map.of("depth", 2), 5);
        Files.writeString(dir.resolve("config.json"), "{\"architecture\": \"kat_micro_patch4_28\", \"num_classes\": 10,"
                + " \"model_args\": {\"depth\": 2}}");
        org.kat4j.io.Safetensors.write(dir.resolve("model.safetensors"), src.namedParameters(), Map.of("format", "pt"));
        VisionTransformer loaded = Models.fromPretrained(dir);
        Tensor x = Tensor.randn(new Random(2), DType.FLOAT32, 2, 1, 28, 28);
        assertArrayEquals(src.forward(x).toFloatArray(), loaded.forward(x).toFloatArray(), 0f);
        Files.writeString(dir.resolve("config.json"), "{\"architecture\": \"kat_micro_patch4_28\", \"num_classes\": 10}");
        var e = assertThrows(IOException.class, () -> Models.fromPretrained(dir));
        assertTrue(e.getMessage().contains("unexpected blocks.2") || e.getMessage().contains("missing blocks.2"), e.getMessage());
    }

    @Test
    void registryGlobsAndConfigJson(@org.junit.jupiter.api.io.TempDir Path dir) throws IOException {
        assertEquals(List.of("kat_tiny_patch16_224", "kat_small_patch16_224", "kat_base_patch16_224", "kat_micro_patch4_28",
                "kat_micro_patch4_32", "kat_micro_patch7_28"), Models.list("kat_*"));
        assertEquals(List.of("vit_micro_patch4_28", "kat_micro_patch4_28"), Models.list("*_micro_*4_28"));
        assertEquals(List.of("kat_micro_patch4_28", "kat_micro_patch7_28"), Models.list("kat_micro_patch?_28"));
        // every other character is itself, regular-expression syntax included
        assertEquals(List.of(), Models.list("kat_[*"));
        assertEquals(List.of(), Models.list("kat.micro*"));
        assertEquals(List.of(), Models.list("(kat|vit)_*"));
        Path cfg = dir.resolve("config.json");
        Files.writeString(cfg, "{\"architecture\": \"kat_micro_patch4_32\", \"num_classes\": 7,"
                + " \"model_args\": {\"depth\": 2, \"drop_path_rate\": 0.1}, \"pretrained_cfg\": {\"crop_pct\": 0.875}}");
        VisionTransformer m = Models.fromConfigJson(cfg, 0);
        assertEquals(7, m.config().numClasses());
        assertEquals(2, m.config().depth());
        assertEquals(0.1, m.config().dropPathRate());
        assertThrows(IllegalArgumentException.class, () -> Models.create("kat_huge", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> Models.create("kat_tiny_patch16_224", Map.of("depht", 3)));
        Files.writeString(cfg, "{\"num_classes\": 7}");
        assertThrows(IOException.class, () -> Models.fromConfigJson(cfg, 0));
    }
}
