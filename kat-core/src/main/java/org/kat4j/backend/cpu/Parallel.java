package org.kat4j.backend.cpu;

import org.nd4j.linalg.factory.Environment;
import org.nd4j.linalg.factory.Nd4j;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import java.util.stream.IntStream;

/**
 * Runs numbered work items on all cores. Each thread owns a contiguous run of items and takes them
 * one at a time, in order (streaming kernels keep their memory locality: items handed out
 * round-robin made the rational forward 0.84 instead of 0.69 ms at 32x197x768); a thread that
 * finishes its run takes the remaining items of the others, so the work stays balanced however
 * late a thread starts. (A parallel stream over the items splits them into a few fixed blocks up
 * front, about 4 on 2 cores; in some runs of the rational backward they split 3:1, 2868 chunks on
 * one thread against 8382 on the other over 150 calls, and one core waited for the other for
 * most of each call.) Items are told apart by their number, never by the thread that runs them,
 * so per-item partial results combined in item order are the same on every run.
 */
public final class Parallel {
    /** Per thread: true while {@link #onCallingThread} runs, so that forEach does every item itself. */
    private static final ThreadLocal<boolean[]> ALONE = ThreadLocal.withInitial(() -> new boolean[1]);
    private static int nativeHolders;
    private static int savedNd4jThreads;
    private static int savedNd4jMasterThreads;

    private Parallel() {
    }

    /**
     * Runs {@code body} with every {@link #forEach} it reaches on this thread done by this thread
     * alone: for threads that each have a core to themselves, where handing items to the pool
     * would only make the threads queue for the same cores.
     */
    public static <T> T onCallingThread(Supplier<T> body) {
        boolean[] alone = ALONE.get();
        boolean before = alone[0];
        alone[0] = true;
        try {
            return body.get();
        } finally {
            alone[0] = before;
        }
    }

    /**
     * Sets ND4J's element-wise ops to one thread until the returned handle closes (process-wide;
     * the last of overlapping handles to close restores the counts that were set before), for
     * several threads that each run ops at once. OpenBLAS always runs on one thread ({@link Blas}
     * splits large products over this class's threads, which {@link #onCallingThread} turns off);
     * with OpenBLAS's own 2 threads two replicas of the micro KAT took 63-80 ms a step, its threads
     * serialising the two callers' GEMMs and spinning between them, against 31-38 ms
     * single-threaded (2 cores of a Zen 3, 2026-12-02).
     */
    static AutoCloseable nativeSingleThreaded() {
        synchronized (Parallel.class) {
            if (nativeHolders++ == 0) {
                Environment env = Nd4j.getEnvironment();
                savedNd4jThreads = env.maxThreads();
                savedNd4jMasterThreads = env.maxMasterThreads();
                env.setMaxThreads(1);
                env.setMaxMasterThreads(1);
            }
        }
        boolean[] closed = new boolean[1];
        return () -> {
            synchronized (Parallel.class) {
                if (closed[0]) {
                    return;
                }
                closed[0] = true;
                if (--nativeHolders == 0) {
                    Environment env = Nd4j.getEnvironment();
                    env.setMaxThreads(savedNd4jThreads);
                    env.setMaxMasterThreads(savedNd4jMasterThreads);
                }
            }
        };
    }

    /** How many threads {@link #forEach} spreads items over when called from this thread. */
    public static int threads() {
        return ALONE.get()[0] ? 1 : ForkJoinPool.getCommonPoolParallelism() + 1;
    }

    /** Calls {@code body} once for each item 0 .. count - 1, in parallel; returns when all are done. */
    public static void forEach(int count, IntConsumer body) {
        int threads = Math.min(count, threads());
        if (threads <= 1) {
            for (int i = 0; i < count; i++) {
                body.accept(i);
            }
            return;
        }
        AtomicInteger[] next = new AtomicInteger[threads];
        int[] end = new int[threads];
        for (int t = 0; t < threads; t++) {
            next[t] = new AtomicInteger((int) ((long) count * t / threads));
            end[t] = (int) ((long) count * (t + 1) / threads);
        }
        IntStream.range(0, threads).parallel().forEach(t -> {
            for (int r = 0; r < threads; r++) {
                int region = (t + r) % threads;
                for (int i = next[region].getAndIncrement(); i < end[region]; i = next[region].getAndIncrement()) {
                    body.accept(i);
                }
            }
        });
    }
}
