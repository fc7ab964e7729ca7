package org.kat4j.models;

import org.junit.jupiter.api.Test;
import org.kat4j.autograd.Autocast;
import org.kat4j.autograd.Losses;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.cuda.CudaBackend;
import org.kat4j.cuda.CudaGraph;
import org.kat4j.optim.AdamW;
import org.kat4j.train.ModelEma;
import org.kat4j.train.Trainer;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One kat_micro training step (dropout and drop path on) on a {@link CudaBackend} against the same
 * step on the CPU: loss and every parameter gradient within 1e-4 relative (L2), repeated steps bit-identical, a fixed
 * handful of host copies per step, and no device allocation and the same memory in use over 500 steps (6 on the
 * emulation) once the first three have run. On the
 * GPU ({@link CudaTrainingStepGpuTest}) and on the kernels' CPU emulation ({@link EmulatedTrainingStepTest}).
 */
abstract class TrainingStepChecks {
    /** The device of a CUDA backend, or a skipped test saying why there is none. */
    abstract Device device();

    /** Images per step. */
    int batch() {
        return 16;
    }

    /** Training steps over which device memory must stay flat (the first three warm the cache). */
    int steps() {
        return 500;
    }

    private static double relativeL2(double[] expected, double[] got) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < expected.length; i++) {
            num += (got[i] - expected[i]) * (got[i] - expected[i]);
            den += expected[i] * expected[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-300));
    }

    /** Loss of one forward + backward on the batch; the gradients stay in the model. */
    private static double step(VisionTransformer m, Tensor images, int[] labels) {
        m.zeroGrad();
        m.reseed(11); // the same dropout and drop-path masks in every step
        Tensor loss = Losses.crossEntropy(m.forward(images.to(m.device())), labels, 0.1);
        loss.backward();
        return loss.item();
    }

    /** {@link #step} under bf16 autocast (forward and backward). */
    private static double bf16Step(VisionTransformer m, Tensor images, int[] labels) {
        try (Autocast ac = Autocast.bf16()) {
            return step(m, images, labels);
        }
    }

    private static List<double[]> grads(VisionTransformer m) {
        List<double[]> out = new ArrayList<>();
        for (Tensor p : m.parameters()) {
            out.add(p.grad().toDoubleArray());
        }
        return out;
    }

    /** A batch, and the same kat_micro on the CPU and on the device under test. */
    private record Pair(Device dev, CudaBackend be, Tensor images, int[] labels, VisionTransformer cpu, VisionTransformer gpu) {
    }

    private Pair pair(long imageSeed, int labelStep) {
        Device dev = device();
        CudaBackend be = (CudaBackend) Backends.forDevice(dev);
        // a batch of noise images (the GPU bundle carries no data set)
        Tensor images = Tensor.randn(new Random(imageSeed), DType.FLOAT32, batch(), 1, 28, 28);
        int[] labels = new int[batch()];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = (i * labelStep) % 10;
        }
        // dropout and drop path on: their masks are made on the device, from the same seeds as on the CPU
        Map<String, Object> options = Map.of("num_classes", 10, "drop_rate", 0.1, "drop_path_rate", 0.1);
        VisionTransformer cpu = Models.create("kat_micro_patch7_28", options, 5);
        VisionTransformer gpu = Models.create("kat_micro_patch7_28", options, 5);
        gpu.to(dev);
        assertEquals(dev, gpu.device());
        return new Pair(dev, be, images, labels, cpu, gpu);
    }

    @Test
    void katMicroStepMatchesTheCpuAndRepeatsBitForBit() {
        Pair p = pair(0, 7);
        Device dev = p.dev();
        CudaBackend be = p.be();
        Tensor images = p.images();
        int[] labels = p.labels();
        VisionTransformer cpu = p.cpu();
        VisionTransformer gpu = p.gpu();

        double expected;
        List<double[]> g0;
        try (Scope sc = Scope.open()) {
            expected = step(cpu, images, labels);
            g0 = grads(cpu);
        }
        double got;
        List<double[]> g1;
        long transfers;
        try (Scope sc = Scope.open()) {
            long t0 = be.transfers();
            got = step(gpu, images, labels);
            transfers = be.transfers() - t0;
            g1 = grads(gpu);
        }
        assertEquals(expected, got, 1e-4 * Math.abs(expected), "loss");
        List<String> names = new ArrayList<>(cpu.namedParameters().keySet());
        double worst = 0;
        for (int i = 0; i < g0.size(); i++) {
            double e = relativeL2(g0.get(i), g1.get(i));
            assertTrue(e <= 1e-4, names.get(i) + ": relative L2 error " + e);
            worst = Math.max(worst, e);
        }
        System.out.printf("kat_micro step on %s: loss %.6f vs CPU %.6f, worst gradient error %.2e, %d host copies%n", dev, got,
                expected, worst, transfers);
        // images in, targets in, the loss out; no dropout mask crosses
        assertTrue(transfers <= 4, transfers + " host copies in one step");

        AdamW opt = AdamW.builder(gpu.parameters()).lr(1e-3).build();
        long allocations = -1;
        long inUse = -1;
        for (int i = 0; i < steps(); i++) {
            double again;
            List<double[]> g2;
            try (Scope sc = Scope.open()) {
                again = step(gpu, images, labels);
                g2 = i == 0 ? grads(gpu) : null;
                opt.step();
            }
            if (i == 0) {
                assertEquals(Double.doubleToRawLongBits(got), Double.doubleToRawLongBits(again), "the same step, the same loss bits");
                for (int k = 0; k < g1.size(); k++) {
                    assertArrayEquals(g1.get(k), g2.get(k), 0, names.get(k) + ": the same step, the same gradient bits");
                }
            }
            if (i == 2) {
                allocations = be.driverAllocations();
                inUse = be.memoryInUse();
            }
        }
        assertEquals(allocations, be.driverAllocations(), "steps 4 to " + steps() + " allocated nothing from the driver");
        assertEquals(inUse, be.memoryInUse(), "device memory in use after step 3 and after step " + steps());
    }

    /**
     * The step under bf16 autocast: the device's bf16 GEMMs against the CPU's products of the same
     * rounded operands, loss within 1e-4 and each gradient within 1e-2 relative L2. The two sides
     * sum in different orders, and an operand that then lands on the other side of a rounding
     * boundary moves by a whole bfloat16 step (2^-8): the gradients differ by 1e-7 in the last block
     * and by up to 4.2e-3 in the first (kat_micro, batch 4, on the emulation), where the backward
     * has passed through every product. The loss is within 1e-2 of float32's, and the step makes
     * no host copy more than in float32.
     */
    @Test
    void katMicroStepUnderBf16AutocastMatchesTheCpu() {
        Pair p = pair(1, 3);
        double float32;
        double cpuBf16;
        List<double[]> g32;
        List<double[]> gCpu;
        try (Scope sc = Scope.open()) {
            float32 = step(p.cpu(), p.images(), p.labels());
            g32 = grads(p.cpu());
        }
        try (Scope sc = Scope.open()) {
            cpuBf16 = bf16Step(p.cpu(), p.images(), p.labels());
            gCpu = grads(p.cpu());
        }
        double got;
        List<double[]> gDev;
        long transfers;
        try (Scope sc = Scope.open()) {
            long t0 = p.be().transfers();
            got = bf16Step(p.gpu(), p.images(), p.labels());
            transfers = p.be().transfers() - t0;
            gDev = grads(p.gpu());
        }
        List<String> names = new ArrayList<>(p.cpu().namedParameters().keySet());
        double worstDev = 0;
        double worst32 = 0;
        for (int i = 0; i < gCpu.size(); i++) {
            double e = relativeL2(gCpu.get(i), gDev.get(i));
            assertTrue(e <= 1e-2, names.get(i) + ": relative L2 error against the CPU's bf16 step " + e);
            worstDev = Math.max(worstDev, e);
            worst32 = Math.max(worst32, relativeL2(g32.get(i), gCpu.get(i)));
        }
        System.out.printf("kat_micro bf16 step on %s: loss %.6f vs CPU bf16 %.6f vs float32 %.6f; worst gradient error %.2e"
                + " (vs float32 %.2e), %d host copies%n", p.dev(), got, cpuBf16, float32, worstDev, worst32, transfers);
        assertEquals(cpuBf16, got, 1e-4 * Math.abs(cpuBf16), "loss against the CPU's bf16 step");
        assertEquals(float32, cpuBf16, 1e-2 * Math.abs(float32), "bf16 loss against float32");
        assertTrue(transfers <= 4, transfers + " host copies in one step");
    }

    /** One-hot targets for {@code labels}, smoothed by 0.1. */
    private static Tensor targets(int[] labels) {
        float[] t = new float[labels.length * 10];
        for (int i = 0; i < labels.length; i++) {
            for (int c = 0; c < 10; c++) {
                t[i * 10 + c] = c == labels[i] ? 0.91f : 0.01f;
            }
        }
        return Tensor.of(t, labels.length, 10);
    }

    /**
     * A training loop whose forward and backward are recorded once and replayed with the seeds the
     * eager loop draws ({@code replay(model::nextSeed)}), AdamW stepping after each replay: every
     * step's loss and the weights after it, bit for bit, with dropout and drop-path masks new at
     * every step. The first step runs eagerly (gradients, optimizer state and the memory cache
     * exist before the recording).
     */
    @Test
    void katMicroLoopReplayedWithNewMaskSeedsMatchesTheEagerLoop() {
        replayedLoopMatchesTheEagerLoop(false);
    }

    /**
     * The whole step recorded (forward, backward, clip, AdamW, EMA) and replayed with the host part
     * of the optimizer's calls ({@code replay(model::nextSeed, () -> {opt.step(); ema.update(m);})}):
     * the step count and learning rate (changed at every step) reach the recorded AdamW through
     * the recording's table, and the losses, weights and EMA match the eager loop's bit for bit. A
     * host part that skips the recorded calls or queues other work is refused with a message.
     */
    @Test
    void katMicroWholeStepRecordedMatchesTheEagerLoop() {
        replayedLoopMatchesTheEagerLoop(true);
    }

    private void replayedLoopMatchesTheEagerLoop(boolean wholeStep) {
        Pair p = pair(5, 3);
        Device dev = p.dev();
        Map<String, Object> options = Map.of("num_classes", 10, "drop_rate", 0.1, "drop_path_rate", 0.1);
        VisionTransformer eager = p.gpu();
        VisionTransformer replayed = Models.create("kat_micro_patch7_28", options, 5);
        replayed.to(dev);
        Tensor[] batches = {Tensor.randn(new Random(6), DType.FLOAT32, batch(), 1, 28, 28),
            Tensor.randn(new Random(7), DType.FLOAT32, batch(), 1, 28, 28)};
        Tensor[] batchTargets = {targets(p.labels()), targets(new int[batch()])};
        int steps = 5;

        AdamW optE = AdamW.builder(eager.parameters()).lr(1e-3).weightDecay(0.05).build();
        ModelEma emaE = new ModelEma(eager, 0.9);
        eager.reseed(11);
        double[] eagerLoss = new double[steps];
        for (int s = 0; s < steps; s++) {
            optE.lr(1e-3 * (s + 1)); // a schedule: the recorded step must take each step's rate
            try (Scope sc = Scope.open()) {
                eager.zeroGrad();
                Tensor loss = Losses.crossEntropySoft(eager.forward(batches[s % 2].to(dev)), batchTargets[s % 2].to(dev));
                loss.backward();
                eagerLoss[s] = loss.item();
                if (wholeStep) {
                    Trainer.clipGradients(eager.parameters(), 0.5);
                }
                optE.step();
                if (wholeStep) {
                    emaE.update(eager);
                }
            }
        }

        AdamW optR = AdamW.builder(replayed.parameters()).lr(1e-3).weightDecay(0.05).build();
        ModelEma emaR = new ModelEma(replayed, 0.9);
        Runnable optimizer = () -> {
            optR.step();
            emaR.update(replayed);
        };
        replayed.reseed(11);
        Tensor images = batches[0].to(dev);
        Tensor targets = batchTargets[0].to(dev);
        double[] replayedLoss = new double[steps];
        Tensor[] loss = new Tensor[1];
        CudaGraph graph = null;
        Scope outer = Scope.open();
        try {
            for (int s = 0; s < steps; s++) {
                optR.lr(1e-3 * (s + 1));
                images.assign(batches[s % 2]);
                targets.assign(batchTargets[s % 2]);
                if (s == 0) {
                    try (Scope sc = Scope.open()) {
                        replayed.zeroGrad();
                        Tensor l = Losses.crossEntropySoft(replayed.forward(images), targets);
                        l.backward();
                        replayedLoss[s] = l.item();
                        if (wholeStep) {
                            Trainer.clipGradients(replayed.parameters(), 0.5);
                            optimizer.run();
                        }
                    }
                } else {
                    if (graph == null) {
                        replayed.zeroGrad();
                        graph = CudaGraph.capture(dev, () -> {
                            loss[0] = Losses.crossEntropySoft(replayed.forward(images), targets);
                            loss[0].backward();
                            if (wholeStep) {
                                Trainer.clipGradients(replayed.parameters(), 0.5);
                                optimizer.run();
                            }
                        });
                        assertTrue(graph.seeds() > 0, "the step's dropout and drop-path masks read their seeds from the table");
                        graph.replay(); // the seeds (and optimizer numbers) the recording drew
                    } else if (wholeStep) {
                        graph.replay(replayed::nextSeed, optimizer);
                    } else {
                        graph.replay(replayed::nextSeed);
                    }
                    replayedLoss[s] = loss[0].item();
                }
                if (!wholeStep) {
                    try (Scope sc = Scope.open()) {
                        optR.step();
                    }
                }
            }
            if (wholeStep) {
                CudaGraph g = graph;
                IllegalStateException none = assertThrows(IllegalStateException.class, () -> g.replay(null, () -> { }));
                assertTrue(none.getMessage().contains("made 0 of the"), none.getMessage());
                IllegalStateException other = assertThrows(IllegalStateException.class,
                        () -> g.replay(null, () -> images.mul(2.0)));
                assertTrue(other.getMessage().contains("queued device work"), other.getMessage());
            }
        } finally {
            outer.close();
            if (graph != null) {
                graph.close();
            }
        }
        for (int s = 0; s < steps; s++) {
            assertEquals(Double.doubleToRawLongBits(eagerLoss[s]), Double.doubleToRawLongBits(replayedLoss[s]),
                    "step " + s + ": eager loss " + eagerLoss[s] + ", replayed " + replayedLoss[s]);
        }
        assertNotEquals(eagerLoss[1], eagerLoss[3], "the same batch, new masks and weights: another loss");
        List<Tensor> pe = eager.parameters();
        List<Tensor> pr = replayed.parameters();
        for (int i = 0; i < pe.size(); i++) {
            assertArrayEquals(pe.get(i).toFloatArray(), pr.get(i).toFloatArray(), 0f, "weights after " + steps + " steps, " + i);
        }
        if (wholeStep) {
            Map<String, Tensor> ae = emaE.tensors();
            Map<String, Tensor> ar = emaR.tensors();
            for (String k : ae.keySet()) {
                assertArrayEquals(ae.get(k).toFloatArray(), ar.get(k).toFloatArray(), 0f, "EMA after " + steps + " steps, " + k);
            }
        }
    }

    /**
     * The forward and backward of a step recorded as a CUDA graph ({@link CudaGraph}) and replayed on
     * new inputs written into the recorded ones: the eager step's loss and gradients to the bit,
     * no host copy while recording, eager work between replays leaves the graph's memory alone,
     * and a body that copies to the host is refused with a message and leaves the device usable.
     */
    @Test
    void katMicroStepRecordedAsACudaGraphReplaysTheEagerStep() {
        Pair p = pair(2, 3);
        VisionTransformer m = p.gpu();
        Device dev = p.dev();
        Tensor[] batches = {Tensor.randn(new Random(3), DType.FLOAT32, batch(), 1, 28, 28),
            Tensor.randn(new Random(4), DType.FLOAT32, batch(), 1, 28, 28)};
        int[][] labels = {p.labels(), new int[batch()]};
        Tensor images = batches[0].to(dev);
        Tensor targets = targets(labels[0]).to(dev);
        double[] eager = new double[2];
        List<List<double[]>> eagerGrads = new ArrayList<>();
        for (int b = 0; b < 2; b++) {
            images.assign(batches[b]);
            targets.assign(targets(labels[b]));
            try (Scope sc = Scope.open()) {
                m.zeroGrad();
                m.reseed(11);
                Tensor loss = Losses.crossEntropySoft(m.forward(images), targets);
                loss.backward();
                eager[b] = loss.item();
                eagerGrads.add(grads(m));
            }
        }
        assertNotEquals(eager[0], eager[1], "two batches, two losses");

        m.zeroGrad();
        m.reseed(11);
        Tensor[] loss = new Tensor[1];
        long t0 = p.be().transfers();
        // the body's tensors belong to this scope: it stays open while their values are read
        Scope outer = Scope.open();
        CudaGraph step = CudaGraph.capture(dev, () -> {
            loss[0] = Losses.crossEntropySoft(m.forward(images), targets);
            loss[0].backward();
        });
        try {
            assertEquals(t0, p.be().transfers(), "no host copy while recording");
            for (int round = 0; round < 2; round++) {
                for (int b = 0; b < 2; b++) {
                    images.assign(batches[b]);
                    targets.assign(targets(labels[b]));
                    step.replay();
                    assertEquals(Double.doubleToRawLongBits(eager[b]), Double.doubleToRawLongBits(loss[0].item()),
                            "replay of batch " + b + ": the eager loss bits");
                    List<double[]> g = grads(m);
                    for (int k = 0; k < g.size(); k++) {
                        assertArrayEquals(eagerGrads.get(b).get(k), g.get(k), 0, "replay of batch " + b + ", gradient " + k);
                    }
                }
                // eager work between replays takes and gives back memory: none of the graph's
                try (Scope sc = Scope.open()) {
                    step(p.gpu(), p.images(), p.labels());
                }
            }
            outer.close(); // the body's storages go: their memory stays the graph's
            // tensors made between replays, of every size class the step used, outlive a replay unchanged
            List<Tensor> kept = new ArrayList<>();
            for (int size = 1; size <= (1 << 17); size *= 2) {
                for (int copies = 0; copies < 3; copies++) {
                    kept.add(Tensor.randn(new Random(size + copies), DType.FLOAT32, size).to(dev).mul(1.0));
                }
            }
            List<float[]> before = new ArrayList<>();
            for (Tensor t : kept) {
                before.add(t.toFloatArray());
            }
            step.replay();
            for (int i = 0; i < kept.size(); i++) {
                assertArrayEquals(before.get(i), kept.get(i).toFloatArray(), 0f, "a tensor made between replays, " + i);
            }
        } finally {
            outer.close();
            step.close();
        }

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaGraph.capture(dev,
                () -> Losses.crossEntropy(m.forward(images), labels[0], 0.0).item()));
        assertTrue(e.getMessage().contains("inside a CUDA graph capture"), e.getMessage());
        images.assign(batches[0]);
        targets.assign(targets(labels[0]));
        try (Scope sc = Scope.open()) {
            m.zeroGrad();
            m.reseed(11);
            Tensor l = Losses.crossEntropySoft(m.forward(images), targets);
            l.backward();
            assertEquals(Double.doubleToRawLongBits(eager[0]), Double.doubleToRawLongBits(l.item()), "eager again after a refused capture");
        }
    }
}
