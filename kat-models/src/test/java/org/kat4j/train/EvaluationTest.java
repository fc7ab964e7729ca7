package org.kat4j.train;

import org.junit.jupiter.api.Test;
import org.kat4j.data.ImageDataset;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluationTest {
    @Test
    void aLabelsRankCountsTheClassesBeforeItTiesByIndex() {
        Tensor logits = Tensor.of(new float[]{1, 3, 2, 5, 5, 0, -1, -2, -3}, 3, 3);
        assertArrayEquals(new int[]{1, 1, 2}, Trainer.ranks(logits, new int[]{2, 1, 2}));
        assertArrayEquals(new int[]{0, 0, 0}, Trainer.ranks(logits, new int[]{1, 0, 0}));
        // rank 0 is what counts as correct, ties included
        assertEquals(2, Trainer.countCorrect(logits, new int[]{1, 0, 1}));
    }

    @Test
    void perClassCountsAddUpToTheAccuracy() {
        Random rng = new Random(4);
        int n = 57;
        byte[] px = new byte[n * 28 * 28];
        rng.nextBytes(px);
        int[] labels = new int[n];
        Arrays.setAll(labels, i -> rng.nextInt(7));
        ImageDataset d = new ImageDataset("noise", px, labels, 1, 28, 28, 7, new float[]{0.5f}, new float[]{0.25f});
        VisionTransformer m = Models.create("kat_micro_patch7_28", Map.of("num_classes", 7, "depth", 1), 3);
        Trainer.Evaluation e = Trainer.evaluation(m, d, 20);
        long seen = Arrays.stream(e.seen()).sum();
        long right = Arrays.stream(e.correct()).sum();
        assertEquals(n, seen);
        for (int k = 0; k < 7; k++) {
            int c = k;
            assertEquals(Arrays.stream(labels).filter(l -> l == c).count(), e.seen()[k], "class " + k);
            assertTrue(e.correct()[k] <= e.seen()[k]);
        }
        assertEquals((double) right / n, e.accuracy(), 0.0);
        assertTrue(e.top5() >= e.accuracy() && e.top5() <= 1, e.top5() + " vs " + e.accuracy());
        assertArrayEquals(new double[]{e.loss(), e.accuracy()}, Trainer.evaluate(m, d, 20), 0.0);
        // the top-5 share recomputed from the labels' ranks in one forward pass over all images
        double[] top5 = {0};
        try (var ng = org.kat4j.autograd.Autograd.noGrad()) {
            m.train(false);
            Tensor images = new org.kat4j.data.Batcher(d, n, false, 0, false, new Random(0)).next().images();
            int[] r = Trainer.ranks(m.forward(images), labels);
            top5[0] = Arrays.stream(r).filter(x -> x < 5).count() / (double) n;
            m.train(true);
        }
        assertEquals(top5[0], e.top5(), 1e-12);
    }
}
