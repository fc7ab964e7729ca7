package org.kat4j.backend.cpu;

import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.Storage;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A kernel reads its inputs through direct buffers that do not keep the storages alive: an input
 * made for the call alone and held by no one else must stay reachable until the kernel is done,
 * or a collection in between frees its memory under the kernel (results read from freed memory
 * appeared in about 1% of such calls under steady collections before the backend kept its inputs
 * reachable).
 */
class ReachabilityTest {
    @Test
    void inputsMadeForOneCallSurviveCollectionsDuringIt() throws InterruptedException {
        CpuBackend be = CpuBackend.INSTANCE;
        float[] x = new float[140 * 1001];
        float[] y = new float[1001];
        for (int i = 0; i < x.length; i++) {
            x[i] = 1 + i % 7;
        }
        java.util.Arrays.fill(y, 2);
        Thread collector = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                System.gc();
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        collector.setDaemon(true);
        collector.start();
        int wrong = 0;
        try {
            for (int it = 0; it < 1000; it++) {
                Storage product = be.binary(BinaryOp.MUL, be.fromFloats(x, 140, 1001), be.fromFloats(y, 1001));
                Storage scaled = be.narrow(be.concat(0, be.fromFloats(y, 1, 1001), be.fromFloats(y, 1, 1001)), 0, 1, 1);
                float[] r = be.toFloats(product);
                float[] s = be.toFloats(scaled);
                for (int i = 0; i < r.length; i++) {
                    if (r[i] != 2 * x[i] || s[i % 1001] != 2) {
                        wrong++;
                        break;
                    }
                }
            }
        } finally {
            collector.interrupt();
            collector.join();
        }
        assertEquals(0, wrong, "calls whose result read freed memory");
    }
}
