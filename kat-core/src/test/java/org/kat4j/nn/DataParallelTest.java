package org.kat4j.nn;

import org.junit.jupiter.api.Test;
import org.kat4j.autograd.Autograd;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataParallelTest {
    static final int BATCH = 13;

    static GrKan block(long seed) {
        return new GrKan(16, 32, 16, 0.0, new Random(seed));
    }

    /** Mean of y^2 over a part, weighted by the part's share of the batch; backward; returns the loss. */
    static double partLoss(Module m, Tensor x, long start, long length) {
        Tensor part = length == x.size(0) ? x : x.narrow(0, start, length);
        Tensor y = m.forward(part);
        Tensor loss = y.mul(y).mean().mul((double) length / x.size(0));
        loss.backward();
        return loss.item();
    }

    static List<float[]> grads(Module m) {
        List<float[]> g = new ArrayList<>();
        for (Tensor p : m.parameters()) {
            g.add(p.grad() == null ? null : p.grad().toFloatArray());
        }
        return g;
    }

    static double loss(DataParallel<GrKan> dp, Tensor x) {
        dp.replica(0).zeroGrad();
        try (Scope s = Scope.open()) {
            return dp.run(x.size(0), (r, start, length) -> partLoss(r, x, start, length)).stream()
                    .mapToDouble(Double::doubleValue).sum();
        }
    }

    @Test
    void replicasGiveTheWholeBatchsGradientsAndRepeatToTheBit() {
        Tensor x = Tensor.randn(new Random(1), DType.FLOAT32, BATCH, 5, 16);
        GrKan single = block(0);
        double expected;
        try (Scope s = Scope.open()) {
            expected = partLoss(single, x, 0, BATCH);
        }
        List<float[]> want = grads(single);
        for (int n : new int[]{2, 3}) {
            GrKan model = block(0);
            try (DataParallel<GrKan> dp = new DataParallel<>(model, n, () -> block(99))) {
                double got = loss(dp, x);
                assertEquals(expected, got, 2e-7 * expected, n + " replicas: loss");
                List<float[]> g = grads(model);
                for (int i = 0; i < want.size(); i++) {
                    float[] a = want.get(i);
                    float[] b = g.get(i);
                    double scale = 0;
                    for (float v : a) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    for (int j = 0; j < a.length; j++) {
                        // float32 sums of 13 rows split in parts: rounding of a few ulps of the largest entry
                        assertEquals(a[j], b[j], 1e-6 * scale, n + " replicas, parameter " + i + " element " + j);
                    }
                }
                // the same count gives the same bits, and the replicas' own gradients start over each run
                double again = loss(dp, x);
                assertEquals(got, again, 0.0, n + " replicas: repeated loss");
                List<float[]> g2 = grads(model);
                for (int i = 0; i < g.size(); i++) {
                    assertArrayEquals(g.get(i), g2.get(i), n + " replicas: repeated gradient " + i);
                }
            }
        }
    }

    @Test
    void replicasSeeTheModelsWeightsAndItsFrozenParameters() {
        Tensor x = Tensor.randn(new Random(2), DType.FLOAT32, 8, 16);
        GrKan model = block(0);
        try (DataParallel<GrKan> dp = new DataParallel<>(model, 2, () -> block(5))) {
            try (Scope s = Scope.open()) {
                Tensor w = model.namedParameters().get("fc2.weight");
                w.assign(w.mul(2.0));   // as an optimizer step writes it
                float[] mine = model.forward(x.narrow(0, 4, 4)).toFloatArray();
                float[] theirs = dp.run(8, (r, start, length) -> r.forward(x.narrow(0, start, length)).toFloatArray()).get(1);
                assertArrayEquals(mine, theirs, "replica 1 computes with the model's weights");
            }
            // trained first, so that the replica keeps a gradient buffer for it, then frozen
            assertEquals(2, dp.run(8, (r, start, length) -> partLoss(r, x, start, length)).size());
            Tensor frozen = model.namedParameters().get("fc1.bias");
            frozen.requiresGrad(false);
            frozen.clearGrad();
            model.zeroGrad();
            assertEquals(2, dp.run(8, (r, start, length) -> partLoss(r, x, start, length)).size());
            assertNull(frozen.grad(), "a parameter that does not require grad gets none from the replicas");
            assertTrue(model.namedParameters().get("fc1.weight").grad() != null);
        }
    }

    @Test
    void partsRunOnTheirOwnThreadsWithTheCallersGradModeAndFailuresComeBack() {
        GrKan model = block(0);
        try (DataParallel<GrKan> dp = new DataParallel<>(model, 3, 3, () -> block(1))) {
            List<String> threads = Collections.synchronizedList(new ArrayList<>());
            // each part waits until all three have started: a thread done early would otherwise
            // take the next part too (as it should), and an instant part leaves that to timing
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(3);
            List<long[]> parts = dp.run(10, (r, start, length) -> {
                threads.add(Thread.currentThread().getName());
                started.countDown();
                try {
                    assertTrue(started.await(30, java.util.concurrent.TimeUnit.SECONDS), "all three parts at once");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return new long[]{start, length};
            });
            assertEquals(List.of(0L, 4L, 4L, 3L, 7L, 3L), parts.stream().flatMap(p -> List.of(p[0], p[1]).stream()).toList());
            assertEquals(3, threads.stream().distinct().count(), threads.toString());
            assertTrue(threads.contains(Thread.currentThread().getName()) && threads.contains("kat4j-replica-2"), threads.toString());
            assertEquals(2, dp.run(2, (r, start, length) -> length).size(), "a batch smaller than the replicas runs fewer parts");
            try (var ng = Autograd.noGrad()) {
                assertEquals(List.of(false, false, false), dp.run(3, (r, start, length) -> Autograd.isGradEnabled()));
            }
            assertEquals(List.of(true, true, true), dp.run(3, (r, start, length) -> Autograd.isGradEnabled()));
            var e = assertThrows(IllegalStateException.class, () -> dp.run(3, (r, start, length) -> {
                if (start == 2) {
                    throw new IllegalStateException("part at row 2 failed");
                }
                return length;
            }));
            assertEquals("part at row 2 failed", e.getMessage());
            assertEquals(3, dp.run(3, (r, start, length) -> length).size(), "usable after a failed part");
        }
    }

    @Test
    void replicasOutnumberingTheThreadsShareThemAndGiveTheSameBits() {
        Tensor x = Tensor.randn(new Random(3), DType.FLOAT32, 24, 5, 16);
        double first = Double.NaN;
        List<float[]> firstGrads = null;
        for (int threads : new int[]{4, 2, 1}) {
            GrKan model = block(0);
            try (DataParallel<GrKan> dp = new DataParallel<>(model, 4, threads, () -> block(7))) {
                List<String> names = Collections.synchronizedList(new ArrayList<>());
                List<GrKan> ran = dp.run(24, (r, start, length) -> {
                    names.add(Thread.currentThread().getName());
                    return r;
                });
                assertEquals(List.of(dp.replica(0), dp.replica(1), dp.replica(2), dp.replica(3)), ran,
                        "part r runs on replica r, on " + threads + " threads");
                assertTrue(names.stream().distinct().count() <= threads, names.toString());
                double got = loss(dp, x);
                List<float[]> g = grads(model);
                if (firstGrads == null) {
                    first = got;
                    firstGrads = g;
                    continue;
                }
                assertEquals(first, got, 0.0, "4 replicas on " + threads + " threads: loss");
                for (int i = 0; i < g.size(); i++) {
                    assertArrayEquals(firstGrads.get(i), g.get(i), "4 replicas on " + threads + " threads: gradient " + i);
                }
            }
        }
    }

    @Test
    void badArgumentsAreRefused() {
        GrKan model = block(0);
        var e = assertThrows(IllegalArgumentException.class, () -> new DataParallel<>(model, 0, () -> block(1)));
        assertTrue(e.getMessage().contains("0 replicas"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DataParallel<>(model, 2, 3, () -> block(1)));
        assertTrue(e.getMessage().contains("3 threads for 2 replicas, expected 1 to 2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DataParallel<>(model, 2, 0, () -> block(1)));
        assertTrue(e.getMessage().contains("0 threads"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> new DataParallel<Module>(model, 2, () -> new GrKan(16, 64, 16, 0.0, new Random(1))));
        assertTrue(e.getMessage().contains("fc1.weight") && e.getMessage().contains("[64, 16]"), e.getMessage());
        DataParallel<GrKan> dp = new DataParallel<>(model, 2, () -> block(1));
        e = assertThrows(IllegalArgumentException.class, () -> dp.run(0, (r, start, length) -> length));
        assertTrue(e.getMessage().contains("batch of 0 rows"), e.getMessage());
        dp.close();
        var s = assertThrows(IllegalStateException.class, () -> dp.run(4, (r, start, length) -> length));
        assertTrue(s.getMessage().contains("after close"), s.getMessage());
        assertEquals(Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), 3)), DataParallel.defaultReplicas(24));
        assertEquals(1, DataParallel.defaultReplicas(7));
    }
}
