package org.kat4j.nn;

import org.kat4j.autograd.Autograd;
import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Replicas of a module on the CPU that share its weights and each compute one part of a batch,
 * every op of a replica single-threaded on the thread that runs its part; their gradients are then
 * added into the module's, replica by replica in a fixed order. By default the parts run on one
 * thread per core at most ({@link #defaultThreads}): where replicas outnumber the cores, a thread
 * done early takes the next part, so threads never outnumber cores. Four replicas of the main job's model on 2 cores took 10.0-12.9 s
 * for epochs 3-6 this way, against 11.2-13.1 s with a thread each (AMD EPYC Zen 5, 2026-12-07,
 * alternating runs, the same bits).
 *
 * <p>On few cores and small tensors this beats splitting every op across the cores: the micro
 * models' ops touch ~65K elements each, and handing each of them to a second thread costs as
 * much as it saves. Two replicas of kat_micro_patch7_28 at batch 64 (32 images each) took 31-38 ms
 * a training step where one replica with 2-thread ops took 42-58 ms (2 cores of a Zen 3, 2026-12-02).
 *
 * <pre>{@code
 * try (var dp = new DataParallel<>(model, 2, () -> new VisionTransformer(model.config(), 0))) {
 *     long batch = images.size(0);
 *     opt.zeroGrad();
 *     List<Double> losses = dp.run(batch, (replica, start, length) -> {
 *         Tensor logits = replica.forward(images.narrow(0, start, length));
 *         int[] y = Arrays.copyOfRange(labels, (int) start, (int) (start + length));
 *         Tensor loss = Losses.crossEntropy(logits, y, 0.1).mul((double) length / batch);
 *         loss.backward();
 *         return loss.item();
 *     });
 *     opt.step();   // on model's parameters, which now hold the summed gradients
 * }
 * }</pre>
 *
 * <p>Replica 0 is the module itself; the calling thread runs parts too. While a DataParallel of two
 * or more replicas is open, the CPU backend's native libraries (OpenBLAS, ND4J) run
 * single-threaded, process-wide. Results depend on the replica count (each part's sums are
 * rounded on their own) but not on the threads or their timing: part r is always replica r's, and
 * the same count gives the same bits on every run.
 * With one replica, {@link #run} is a plain call on the calling thread.
 *
 * @param <M> the module type
 */
public final class DataParallel<M extends Module> implements AutoCloseable {
    /** The least batch part {@link #defaultReplicas} gives a replica. */
    public static final int MIN_PART = 8;

    /** One replica's work on rows {@code [start, start + length)} of the batch. */
    @FunctionalInterface
    public interface Part<M, T> {
        T apply(M replica, long start, long length);
    }

    private final List<M> replicas;
    private final List<List<Tensor>> params;
    /** Threads that run the parts: the caller's and {@code threads - 1} of the pool. */
    private final int threads;
    private final ExecutorService pool;
    private final AutoCloseable nativeThreads;
    private final Backend backend;
    private boolean closed;

    /**
     * {@code count} replicas of {@code model} on one thread per core, at most one per replica:
     * {@code factory} makes each further one (a module of the same architecture; its own initial
     * weights are dropped for {@code model}'s).
     */
    public DataParallel(M model, int count, Supplier<? extends M> factory) {
        this(model, count, defaultThreads(count), factory);
    }

    /** The threads {@code count} replicas run on by default: one per core, at most one per replica. */
    public static int defaultThreads(int count) {
        return Math.max(1, Math.min(count, Runtime.getRuntime().availableProcessors()));
    }

    /**
     * {@code count} replicas of {@code model} whose parts run on {@code threads} threads (the
     * calling one included, at most one per replica), each thread taking the next part not yet
     * taken: where replicas outnumber the threads, a thread that is done early takes a part more.
     */
    public DataParallel(M model, int count, int threads, Supplier<? extends M> factory) {
        if (count < 1) {
            throw new IllegalArgumentException("DataParallel: " + count + " replicas, expected at least 1");
        }
        if (threads < 1 || threads > count) {
            throw new IllegalArgumentException("DataParallel: " + threads + " threads for " + count
                    + " replicas, expected 1 to " + count);
        }
        if (count > 1 && !Device.CPU.equals(model.device())) {
            throw new IllegalArgumentException("DataParallel: " + count + " replicas need the model on the CPU; it is on "
                    + model.device());
        }
        this.backend = Backends.forDevice(model.device());
        this.replicas = new ArrayList<>(List.of(model));
        this.params = new ArrayList<>(List.of(model.parameters()));
        Map<String, Tensor> mine = model.namedParameters();
        for (int r = 1; r < count; r++) {
            M replica = factory.get();
            Map<String, Tensor> theirs = replica.namedParameters();
            if (!theirs.keySet().equals(mine.keySet())) {
                throw new IllegalArgumentException("DataParallel: the factory's module has parameters " + theirs.keySet()
                        + ", the model " + mine.keySet());
            }
            for (var e : mine.entrySet()) {
                Tensor t = theirs.get(e.getKey());
                if (!Arrays.equals(t.shape(), e.getValue().shape()) || t.dtype() != e.getValue().dtype()) {
                    throw new IllegalArgumentException("DataParallel: parameter " + e.getKey() + " is " + t.dtype()
                            + Arrays.toString(t.shape()) + " in the factory's module, " + e.getValue().dtype()
                            + Arrays.toString(e.getValue().shape()) + " in the model");
                }
                t.shareValues(e.getValue());
            }
            replicas.add(replica);
            params.add(replica.parameters());
        }
        this.threads = threads;
        if (count > 1) {
            int[] made = {0};
            pool = threads == 1 ? null : Executors.newFixedThreadPool(threads - 1, body -> {
                Thread t = new Thread(body, "kat4j-replica-" + (++made[0]));
                t.setDaemon(true);
                return t;
            });
            nativeThreads = backend.ownThreads();
        } else {
            pool = null;
            nativeThreads = null;
        }
    }

    /**
     * Replicas for a batch of {@code batch} on this machine: one per core, but no more than leave
     * each at least {@link #MIN_PART} rows, and at least one.
     */
    public static int defaultReplicas(int batch) {
        return Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), batch / MIN_PART));
    }

    /** How many replicas there are, the module included. */
    public int size() {
        return replicas.size();
    }

    /** Replica {@code i}; 0 is the module itself. */
    public M replica(int i) {
        return replicas.get(i);
    }

    /**
     * Splits rows 0 .. batch - 1 into one contiguous part per replica (sizes differ by at most one,
     * the larger first; replicas left without a row do not run), runs {@code work} for every part
     * at once, each on its replica's thread inside its own {@link Scope} and with the caller's grad
     * mode and the module's training mode, and returns the results in part order. Then adds each
     * replica's parameter gradients into the module's, in replica order (the module's own
     * gradients accumulate as under a plain backward: clear them before, as usual).
     * The first failure of a part is rethrown once every part has finished.
     */
    public <T> List<T> run(long batch, Part<? super M, ? extends T> work) {
        if (closed) {
            throw new IllegalStateException("DataParallel used after close()");
        }
        if (batch < 1) {
            throw new IllegalArgumentException("DataParallel.run: batch of " + batch + " rows, expected at least 1");
        }
        int parts = (int) Math.min(replicas.size(), batch);
        if (parts == 1) {
            return List.of(work.apply(replicas.get(0), 0, batch));
        }
        boolean grad = Autograd.isGradEnabled();
        for (int r = 1; r < parts; r++) {
            follow(r);
        }
        // part r is replica r's, whichever thread takes it: the bits do not depend on the timing
        Object[] results = new Object[parts];
        Throwable[] failures = new Throwable[parts];
        AtomicInteger next = new AtomicInteger();
        Runnable take = () -> {
            for (int r = next.getAndIncrement(); r < parts; r = next.getAndIncrement()) {
                long start = partStart(batch, parts, r);
                try {
                    results[r] = inPart(work, replicas.get(r), start, partStart(batch, parts, r + 1) - start, grad);
                } catch (RuntimeException | Error e) {
                    failures[r] = e;
                }
            }
        };
        List<Future<?>> helpers = new ArrayList<>();
        for (int t = 1; t < Math.min(threads, parts); t++) {
            helpers.add(pool.submit(take));
        }
        take.run();
        for (Future<?> f : helpers) {
            try {
                getUninterruptibly(f);
            } catch (ExecutionException e) {
                throw new IllegalStateException("DataParallel: a thread failed: " + e.getCause(), e.getCause());
            }
        }
        Throwable failure = null;
        for (Throwable f : failures) {
            failure = failure == null ? f : failure;
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
        if (failure != null) {
            throw new IllegalStateException("DataParallel: a replica failed: " + failure, failure);
        }
        reduceGradients(parts);
        @SuppressWarnings("unchecked")
        List<T> list = (List<T>) new ArrayList<>(Arrays.asList(results));
        return list;
    }

    /** Gives replica r the module's training mode and which parameters require grad, and clears its gradients. */
    private void follow(int r) {
        M replica = replicas.get(r);
        boolean training = replicas.get(0).isTraining();
        if (replica.isTraining() != training) {
            replica.train(training);
        }
        List<Tensor> mine = params.get(0);
        List<Tensor> theirs = params.get(r);
        for (int i = 0; i < mine.size(); i++) {
            Tensor t = theirs.get(i);
            t.requiresGrad(mine.get(i).requiresGrad());
            t.zeroGrad();
        }
    }

    private <T> T inPart(Part<? super M, ? extends T> work, M replica, long start, long length, boolean grad) {
        return backend.onCallingThread(() -> {
            try (Scope s = Scope.open(); Autograd.NoGrad ng = grad ? null : Autograd.noGrad()) {
                return work.apply(replica, start, length);
            }
        });
    }

    private static <T> T getUninterruptibly(Future<T> f) throws ExecutionException {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The first row of part {@code p} of {@code parts} over {@code batch} rows (part sizes differ by at most one). */
    static long partStart(long batch, int parts, int p) {
        long base = batch / parts;
        long extra = batch % parts;
        return p * base + Math.min(p, extra);
    }

    private void reduceGradients(int parts) {
        List<Tensor> target = params.get(0);
        for (int r = 1; r < parts; r++) {
            List<Tensor> source = params.get(r);
            for (int i = 0; i < target.size(); i++) {
                // a buffer kept from an earlier run and not written in this one holds nothing to add
                Tensor p = source.get(i);
                if (p.hasFreshGrad()) {
                    target.get(i).addToGrad(p.grad());
                }
            }
        }
    }

    /** Stops the replicas' threads and gives the native libraries their thread counts back. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (pool != null) {
            pool.shutdownNow();
        }
        if (nativeThreads != null) {
            try {
                nativeThreads.close();
            } catch (Exception e) {
                throw new IllegalStateException("DataParallel: restoring the native thread counts failed: " + e, e);
            }
        }
    }
}
