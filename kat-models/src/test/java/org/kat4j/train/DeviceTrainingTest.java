package org.kat4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.kat4j.backend.Device;
import org.kat4j.backend.SimBackend;
import org.kat4j.data.FashionMnist;
import org.kat4j.data.ImageDataset;
import org.kat4j.data.Splits;
import org.kat4j.io.Safetensors;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model trained on a device other than the CPU (the test device {@code sim:0}, the CPU's math on
 * storages that refuse to mix with CPU ones): the batches, targets, dropout masks, optimizer state
 * and checkpoints follow the model, a run resumed there repeats the uninterrupted one, and the
 * numbers equal a CPU run's.
 */
class DeviceTrainingTest {
    static ImageDataset head(ImageDataset d, int n) {
        return new ImageDataset(d.name() + " (first " + n + ")", Arrays.copyOf(d.pixels(), n * d.imageSize()),
                Arrays.copyOf(d.labels(), n), d.channels(), d.height(), d.width(), d.classes(), d.mean(), d.std());
    }

    private static List<Trainer.EpochResult> run(Device device, Path out) throws IOException {
        return run(device, out, null, 2);
    }

    private static List<Trainer.EpochResult> run(Device device, Path out, Path resume, int stopAfter) throws IOException {
        return run(device, out, resume, stopAfter, false);
    }

    private static List<Trainer.EpochResult> run(Device device, Path out, Path resume, int stopAfter, boolean bf16)
            throws IOException {
        return run(device, out, resume, stopAfter, bf16, false, 192, true);
    }

    private static List<Trainer.EpochResult> run(Device device, Path out, Path resume, int stopAfter, boolean bf16, boolean graphs,
                                                 int images, boolean mixup) throws IOException {
        Splits s = FashionMnist.load(null, true);
        ImageDataset train = head(s.train(), images);
        ImageDataset test = head(s.test(), 64);
        Map<String, Object> small = Map.of("depth", 2, "embed_dim", 16, "num_heads", 2, "drop_path_rate", 0.1);
        VisionTransformer m = Models.create("kat_micro_patch7_28", small, 3);
        m.to(device);
        TrainConfig cfg = new TrainConfig("kat_micro_patch7_28", 2, 32, 3e-3, 1e-5, 0.05, 2, 0.1, 1.0, 0.1, 1, true, 4, out, 64,
                false, 0.9);
        return new Trainer(m, cfg, new PrintStream(OutputStream.nullOutputStream())).withReplicas(1)
                .withMixup(mixup ? 0.8 : 0, mixup ? 1.0 : 0).withAutocast(bf16).withCudaGraphs(graphs).fit(train, test, resume, stopAfter);
    }

    /**
     * Training with the step recorded as a CUDA graph and replayed (on the emulated CUDA backend,
     * whose graphs record and replay the same calls): two epochs with mixup, drop path, EMA and
     * clipping, and one on labels with smoothing (targets made on the host instead of by
     * {@code crossEntropy} on the device), each epoch ending in a smaller batch that runs eagerly,
     * give the eager runs' metrics and checkpoints bit for bit, in a small fraction of the host
     * calls that queue device work.
     */
    @Test
    void trainingWithRecordedStepsGivesTheEagerRunsNumbers(@TempDir Path dir) throws IOException {
        Device emu = new Device("emu", 0);
        org.junit.jupiter.api.Assumptions.assumeTrue(org.kat4j.backend.Backends.devices().contains(emu),
                String.join("; ", org.kat4j.backend.Backends.report()));
        org.kat4j.cuda.CudaBackend be = (org.kat4j.cuda.CudaBackend) org.kat4j.backend.Backends.forDevice(emu);
        for (boolean mixup : new boolean[]{true, false}) {
            int epochs = mixup ? 2 : 1;
            String tag = mixup ? "mixup" : "labels";
            long q0 = be.queuedCalls();
            List<Trainer.EpochResult> eager = run(emu, dir.resolve(tag + "-eager"), null, epochs, false, false, 200, mixup);
            long q1 = be.queuedCalls();
            List<Trainer.EpochResult> graphs = run(emu, dir.resolve(tag + "-graphs"), null, epochs, false, true, 200, mixup);
            long q2 = be.queuedCalls();
            System.out.printf("%d epoch(s) with %s on emu:0, 7 steps each: %d host calls queued device work eagerly, %d with"
                    + " recorded steps (evaluation and checkpoints included)%n", epochs, tag, q1 - q0, q2 - q1);
            for (int i = 0; i < epochs; i++) {
                Trainer.EpochResult a = eager.get(i);
                Trainer.EpochResult b = graphs.get(i);
                assertEquals(a.trainLoss(), b.trainLoss(), 0, tag + " epoch " + a.epoch() + " train loss");
                assertEquals(a.trainAcc(), b.trainAcc(), 0, tag + " epoch " + a.epoch() + " train accuracy");
                assertEquals(a.testLoss(), b.testLoss(), 0, tag + " epoch " + a.epoch() + " test loss");
            }
            Map<String, org.kat4j.tensor.Tensor> a = Safetensors.read(dir.resolve(tag + "-eager/last.safetensors")).tensors();
            Map<String, org.kat4j.tensor.Tensor> b = Safetensors.read(dir.resolve(tag + "-graphs/last.safetensors")).tensors();
            assertEquals(a.keySet(), b.keySet());
            for (String k : a.keySet()) {
                assertArrayEquals(a.get(k).toDoubleArray(), b.get(k).toDoubleArray(), 0, tag + ": " + k);
            }
            // replayed: steps 3-6 of the first epoch (1 eager, 2 recorded, 7 smaller), 1-6 of later ones
            int replays = 4 + 6 * (epochs - 1);
            double saved = (double) ((q1 - q0) - (q2 - q1)) / replays;
            assertTrue(saved > 180, tag + ": " + saved + " host calls saved per replayed step, of the ~200 this model's eager"
                    + " step (forward, backward, clip, AdamW, EMA) takes");
        }
    }

    /**
     * An epoch under bf16 autocast: on the emulated CUDA backend (bf16 operands into its GEMM) the
     * CPU's autocast losses to 1e-5 (measured: 1.3e-6; the two round operands alike but sum in
     * other orders), and within 1e-2 of float32's, yet not float32's.
     */
    @Test
    void bf16AutocastTrainingOnTheEmulatedCudaBackendFollowsTheCpu(@TempDir Path dir) throws IOException {
        Device emu = new Device("emu", 0);
        org.junit.jupiter.api.Assumptions.assumeTrue(org.kat4j.backend.Backends.devices().contains(emu),
                String.join("; ", org.kat4j.backend.Backends.report()));
        Trainer.EpochResult f32 = run(Device.CPU, dir.resolve("f32"), null, 1).get(0);
        Trainer.EpochResult cpu = run(Device.CPU, dir.resolve("cpu"), null, 1, true).get(0);
        Trainer.EpochResult cuda = run(emu, dir.resolve("emu"), null, 1, true).get(0);
        System.out.printf("bf16 epoch 1: train loss emu:0 %.7f, CPU %.7f, float32 %.7f; test loss %.7f, %.7f, %.7f%n",
                cuda.trainLoss(), cpu.trainLoss(), f32.trainLoss(), cuda.testLoss(), cpu.testLoss(), f32.testLoss());
        assertEquals(cpu.trainLoss(), cuda.trainLoss(), 1e-5 * cpu.trainLoss(), "train loss, emu:0 against the CPU");
        assertEquals(cpu.testLoss(), cuda.testLoss(), 1e-5 * cpu.testLoss(), "test loss, emu:0 against the CPU");
        assertEquals(f32.trainLoss(), cpu.trainLoss(), 1e-2 * f32.trainLoss(), "bf16 train loss against float32");
        assertTrue(f32.trainLoss() != cpu.trainLoss(), "the products were rounded");
    }

    /**
     * The CUDA backend on the emulation of its kernels (kat-cuda's test device {@code emu:0}): one
     * short epoch with mixup, drop path, EMA and gradient clipping gives the CPU's numbers to float
     * rounding.
     */
    @Test
    void trainingOnTheEmulatedCudaBackendGivesTheCpuNumbers(@TempDir Path dir) throws IOException {
        Device emu = new Device("emu", 0);
        org.junit.jupiter.api.Assumptions.assumeTrue(org.kat4j.backend.Backends.devices().contains(emu),
                String.join("; ", org.kat4j.backend.Backends.report()));
        List<Trainer.EpochResult> cpu = run(Device.CPU, dir.resolve("cpu"), null, 1);
        List<Trainer.EpochResult> cuda = run(emu, dir.resolve("emu"), null, 1);
        Trainer.EpochResult a = cpu.get(0);
        Trainer.EpochResult b = cuda.get(0);
        System.out.printf("emu:0 epoch 1: train loss %.7f (CPU %.7f), test loss %.7f (CPU %.7f)%n", b.trainLoss(), a.trainLoss(),
                b.testLoss(), a.testLoss());
        assertEquals(a.trainLoss(), b.trainLoss(), 1e-6 * a.trainLoss(), "train loss");
        assertEquals(a.testLoss(), b.testLoss(), 1e-6 * a.testLoss(), "test loss");
    }

    @Test
    void trainingOnAnotherDeviceGivesTheCpuNumbers(@TempDir Path dir) throws IOException {
        List<Trainer.EpochResult> cpu = run(Device.CPU, dir.resolve("cpu"));
        List<Trainer.EpochResult> sim = run(SimBackend.DEVICE, dir.resolve("sim"));
        assertEquals(cpu.size(), sim.size());
        for (int i = 0; i < cpu.size(); i++) {
            Trainer.EpochResult a = cpu.get(i);
            Trainer.EpochResult b = sim.get(i);
            assertEquals(a.trainLoss(), b.trainLoss(), 0, "epoch " + a.epoch() + " train loss");
            assertEquals(a.trainAcc(), b.trainAcc(), 0, "epoch " + a.epoch() + " train accuracy");
            assertEquals(a.testLoss(), b.testLoss(), 0, "epoch " + a.epoch() + " test loss");
            assertEquals(a.testAcc(), b.testAcc(), 0, "epoch " + a.epoch() + " test accuracy");
        }
        // stopped after epoch 1 on the device and resumed there: the uninterrupted run's second epoch
        run(SimBackend.DEVICE, dir.resolve("resumed"), null, 1);
        List<Trainer.EpochResult> resumed = run(SimBackend.DEVICE, dir.resolve("resumed"),
                dir.resolve("resumed/last.safetensors"), 2);
        assertEquals(2, resumed.size(), "the resumed run reports both epochs");
        assertEquals(cpu.get(1).trainLoss(), resumed.get(1).trainLoss(), 0, "resumed epoch 2 train loss");
        assertEquals(cpu.get(1).testAcc(), resumed.get(1).testAcc(), 0, "resumed epoch 2 test accuracy");
        // the same tensors (weights, optimizer moments, EMA) saved from either device
        Map<String, org.kat4j.tensor.Tensor> a = Safetensors.read(dir.resolve("cpu/last.safetensors")).tensors();
        Map<String, org.kat4j.tensor.Tensor> b = Safetensors.read(dir.resolve("sim/last.safetensors")).tensors();
        assertEquals(a.keySet(), b.keySet());
        assertTrue(a.size() > 20, a.keySet().toString());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k).toDoubleArray(), b.get(k).toDoubleArray(), 0, k);
        }
    }
}
