package org.kat4j.tensor;

import org.kat4j.autograd.Losses;
import org.junit.jupiter.api.Test;
import org.kat4j.autograd.Ops;
import org.kat4j.nn.Linear;
import org.kat4j.optim.SGD;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * 500 training steps of a small 2-layer network keep the process's resident memory flat, after
 * 500 warm-up steps (JIT compilation and ND4J's shape caches settle during those). Runs in its own
 * JVM with a fixed pre-touched heap (see the pom), so the number is native memory. Without the
 * step Scope the same loop grows to over 1 GB before the garbage collector frees buffers.
 */
class MemoryTest {
    static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void residentMemoryStaysFlatOver500Steps() throws IOException {
        Random rng = new Random(0);
        Linear fc1 = new Linear("fc1", 64, 256, true, rng);
        Linear fc2 = new Linear("fc2", 256, 10, true, rng);
        List<Tensor> params = new ArrayList<>(fc1.parameters());
        params.addAll(fc2.parameters());
        SGD opt = new SGD(params, 0.05, 0.9, 0);
        Tensor x = Tensor.randn(new Random(1), DType.FLOAT32, 256, 64);
        int[] labels = new int[256];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 10;
        }
        long warm = 0;
        double firstLoss = 0;
        double lastLoss = 0;
        for (int step = 0; step < 1000; step++) {
            try (Scope s = Scope.open()) {
                Tensor loss = Losses.crossEntropy(fc2.forward(fc1.forward(x).gelu()), labels, 0.0);
                opt.zeroGrad();
                loss.backward();
                opt.step();
                lastLoss = loss.item();
                if (step == 0) {
                    firstLoss = lastLoss;
                }
            }
            if (step == 500) {
                System.gc();
                warm = rssKb();
            }
        }
        System.gc();
        long end = rssKb();
        double growth = (end - warm) / (double) warm;
        System.out.printf("RSS after 500 warm-up steps %d kB, after 500 more %d kB (%.2f%%); loss %.4f -> %.4f%n",
                warm, end, 100 * growth, firstLoss, lastLoss);
        assertTrue(growth < 0.05, "resident memory grew " + 100 * growth + "%");
        assertTrue(lastLoss < firstLoss * 0.5, "the network should learn: " + firstLoss + " -> " + lastLoss);
    }
}
