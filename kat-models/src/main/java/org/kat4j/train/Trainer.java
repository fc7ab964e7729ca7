package org.kat4j.train;

import org.kat4j.autograd.Autocast;
import org.kat4j.autograd.Losses;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.kat4j.autograd.Autograd;
import org.kat4j.autograd.Ops;
import org.kat4j.data.Batcher;
import org.kat4j.data.ImageDataset;
import org.kat4j.io.Safetensors;
import org.kat4j.models.VisionTransformer;
import org.kat4j.nn.DataParallel;
import org.kat4j.optim.AdamW;
import org.kat4j.io.AtomicFiles;
import org.kat4j.io.RunLock;
import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.backend.Recording;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Trains a VisionTransformer on an image data set: per epoch progress (an animated bar on a
 * terminal, a plain line every {@link #LINE_INTERVAL_SECONDS} seconds otherwise: loss, accuracy,
 * images/s), then a test evaluation; writes metrics.csv and the best and last weights as
 * safetensors (atomically) after every epoch, and the loss/accuracy plot (curves.png) after the
 * run's first and last epochs and after any epoch that ends {@link #CURVES_INTERVAL_SECONDS} or
 * more after the plot before it (drawing it took 50-85 ms a time, 420 ms the first, and C2
 * compiled about 300 rendering methods beside the training threads; 2 cores of an AMD EPYC Zen 5,
 * 2026-12-07). Every epoch's numbers are in metrics.csv.
 */
public final class Trainer {
    /** One epoch's numbers. */
    public record EpochResult(int epoch, double trainLoss, double trainAcc, double testLoss, double testAcc, double lr,
                              double imagesPerSecond, double seconds) {
    }

    private final VisionTransformer model;
    private final TrainConfig cfg;
    private final PrintStream log;
    private double mixupAlpha;
    private double cutmixAlpha;
    private Progress progress = Progress.AUTO;
    private int replicas;
    private boolean bf16;
    private boolean recorded;

    /** Progress shown during an epoch (the per-epoch summary line is always printed). */
    public enum Progress {
        /** The bar when the JVM has a terminal, plain lines when its output goes to a file or pipe. */
        AUTO,
        /** The animated bar, on stderr. */
        BAR,
        /** A plain line on the log every {@link #LINE_INTERVAL_SECONDS} seconds. */
        LINES,
        /** Nothing during an epoch. */
        NONE
    }

    /** Seconds between plain progress lines. */
    public static final double LINE_INTERVAL_SECONDS = 30;

    /** Least seconds between two drawings of curves.png, except after a run's first and last epochs. */
    public static final double CURVES_INTERVAL_SECONDS = 30;

    private double lineInterval = LINE_INTERVAL_SECONDS;
    private String label = "";

    /** Sets how progress is shown during an epoch ({@code cfg.progress() == false} means NONE). */
    public Trainer withProgress(Progress p) {
        return withProgress(p, LINE_INTERVAL_SECONDS);
    }

    /** As {@link #withProgress(Progress)}, with plain lines every {@code lineIntervalSeconds}. */
    public Trainer withProgress(Progress p, double lineIntervalSeconds) {
        this.progress = p;
        this.lineInterval = lineIntervalSeconds;
        return this;
    }

    /**
     * Starts every line this trainer prints, and its progress bar, with {@code label} (for runs
     * whose lines interleave, as in {@code kat compare}); empty (the default) for none.
     */
    public Trainer withLabel(String label) {
        this.label = label;
        return this;
    }

    private String prefix() {
        return label.isEmpty() ? "" : label + "  ";
    }

    private Progress progressStyle() {
        if (!cfg.progress()) {
            return Progress.NONE;
        }
        if (progress == Progress.AUTO) {
            return System.console() != null ? Progress.BAR : Progress.LINES;
        }
        return progress;
    }

    /**
     * Turns on Mixup/CutMix (alphas of their Beta distributions; 0 = off). Training accuracy is
     * then counted against the original labels.
     */
    public Trainer withMixup(double mixupAlpha, double cutmixAlpha) {
        this.mixupAlpha = mixupAlpha;
        this.cutmixAlpha = cutmixAlpha;
        return this;
    }

    /**
     * Trains with {@code n} replicas of the model, each on its own part of every batch, on one
     * thread per core at most ({@link DataParallel}); 0 (the default) means {@link #replicasFor}
     * decides. Results depend on the count (each part's sums round on their own), not on threads.
     */
    public Trainer withReplicas(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("replicas " + n + ", expected 0 (automatic) or more");
        }
        this.replicas = n;
        return this;
    }

    /**
     * Trains under bf16 autocast ({@link Autocast}): the matrix products of every step's forward and
     * backward on bfloat16-rounded operands, summed in float32; weights, optimizer state and
     * evaluation stay float32. What it is for: a GPU's tensor cores; on the CPU it changes the
     * numbers, not the speed.
     */
    public Trainer withAutocast(boolean bf16) {
        this.bf16 = bf16;
        return this;
    }

    /**
     * Records a full batch's whole training step (forward, backward, gradient clip, AdamW, EMA)
     * once, as a CUDA graph, and replays that recording for every later full batch
     * ({@link Backend#capture}): one host call instead of one per kernel, for models whose kernels
     * are shorter than their launches. The first full batch runs eagerly; a smaller last batch of
     * an epoch does too. Each replay takes the batch's images and targets into the recorded inputs,
     * gives the masks new seeds from the model's stream ({@link VisionTransformer#nextSeed}) and
     * runs AdamW's host side for the step's numbers ({@link Recording#replay(java.util.function.LongSupplier,
     * Runnable)}), so the run's numbers are those of a run without it, bit for bit. Needs a model on
     * a device whose backend {@link Backend#canCapture() records} (CUDA) and one replica.
     */
    public Trainer withCudaGraphs(boolean on) {
        this.recorded = on;
        return this;
    }

    /**
     * The replicas a run uses: {@code requested} when positive; otherwise one per core with at
     * least {@link DataParallel#MIN_PART} images each, for a model on the CPU, and 1 elsewhere.
     */
    public static int replicasFor(VisionTransformer model, int batchSize, int requested) {
        if (requested > 0) {
            return requested;
        }
        return Device.CPU.equals(model.device()) ? DataParallel.defaultReplicas(batchSize) : 1;
    }

    /** Replicas of {@code model} for {@code n} threads (weights shared, see {@link DataParallel}). */
    public static DataParallel<VisionTransformer> replicate(VisionTransformer model, int n) {
        return new DataParallel<>(model, n, () -> new VisionTransformer(model.config(), 0));
    }

    public Trainer(VisionTransformer model, TrainConfig cfg, PrintStream log) {
        this.model = model;
        this.cfg = cfg;
        this.log = log;
    }

    /** The parameters AdamW does not decay: 1-D ones (norms), biases, cls_token, pos_embed. */
    public static Set<Tensor> noDecay(VisionTransformer m) {
        Set<Tensor> s = new java.util.HashSet<>();
        for (var e : m.namedParameters().entrySet()) {
            String k = e.getKey();
            if (e.getValue().rank() <= 1 || k.endsWith(".bias") || k.equals("cls_token") || k.equals("pos_embed")) {
                s.add(e.getValue());
            }
        }
        return s;
    }

    public List<EpochResult> fit(ImageDataset train, ImageDataset test) throws IOException {
        return fit(train, test, null);
    }

    /**
     * Trains; with {@code resume} (a last.safetensors of an earlier run with the same settings)
     * continues after its epoch with its weights, optimizer moments and step count. Shuffling,
     * augmentation and dropout are reseeded per epoch, so the resumed epochs repeat the losses of
     * an uninterrupted run. The earlier epochs' rows of metrics.csv come from the checkpoint's
     * directory; where that is not this run's output directory, its best.safetensors is copied
     * there too, so the new directory holds the whole run.
     */
    public List<EpochResult> fit(ImageDataset train, ImageDataset test, Path resume) throws IOException {
        return fit(train, test, resume, cfg.epochs());
    }

    /** As {@link #fit(ImageDataset, ImageDataset, Path)}, stopping after {@code stopAfter} epochs (of the planned schedule). */
    public List<EpochResult> fit(ImageDataset train, ImageDataset test, Path resume, int stopAfter) throws IOException {
        try (Run run = start(train, test, resume, stopAfter)) {
            while (run.hasNext()) {
                run.epoch();
            }
            return run.results();
        }
    }

    /**
     * Opens a run that trains one epoch per {@link Run#epoch()} call, as {@link #fit(ImageDataset,
     * ImageDataset, Path, int)} does in a loop (the same numbers): for callers that interleave
     * runs, as {@code kat compare} does with its two models. The run holds its output directory's
     * lock and its replicas' threads until {@link Run#close()}.
     */
    public Run start(ImageDataset train, ImageDataset test, Path resume, int stopAfter) throws IOException {
        return new Run(train, test, resume, stopAfter);
    }

    /** A training run opened by {@link #start}: its epochs one call at a time. */
    public final class Run implements AutoCloseable {
        private final ImageDataset train;
        private final ImageDataset test;
        private final Batcher batches;
        private final int perEpoch;
        private final CosineSchedule schedule;
        private final AdamW opt;
        private final ModelEma ema;
        private final Random mixRng;
        private final org.kat4j.data.Mixup mixup;
        private final List<EpochResult> results = new ArrayList<>();
        private final int lastEpoch;
        private final int firstEpoch;
        private final RunLock lock;
        private final DataParallel<VisionTransformer> dp;
        /** The recorded step (withCudaGraphs), or null. */
        private final RecordedStep recordedStep;
        private double best = -1;
        private int epoch;
        private int step;
        private long curvesAt;

        private Run(ImageDataset train, ImageDataset test, Path resume, int stopAfter) throws IOException {
            if (recorded) {
                Backend be = Backends.forDevice(model.device());
                if (!be.canCapture()) {
                    throw new IllegalArgumentException("CUDA graphs record a CUDA device's work; the model is on " + model.device());
                }
                int n = replicasFor(model, cfg.batchSize(), Trainer.this.replicas);
                if (n != 1) {
                    throw new IllegalArgumentException("CUDA graphs record one replica's step; " + n + " replicas asked for");
                }
            }
            this.train = train;
            this.test = test;
            batches = new Batcher(train, cfg.batchSize(), true, cfg.augmentPad(), cfg.augmentFlip(), new Random(cfg.seed()));
            perEpoch = batches.batchesPerEpoch();
            schedule = new CosineSchedule(cfg.lr(), cfg.minLr(), cfg.warmupSteps(), perEpoch * cfg.epochs());
            opt = AdamW.builder(model.parameters()).lr(cfg.lr()).weightDecay(cfg.weightDecay()).noDecay(noDecay(model)).build();
            Files.createDirectories(cfg.out());
            ema = cfg.emaDecay() > 0 ? new ModelEma(model, cfg.emaDecay()) : null;
            mixRng = new Random(cfg.seed() + 17);
            mixup = mixupAlpha > 0 || cutmixAlpha > 0
                    ? new org.kat4j.data.Mixup(mixupAlpha, cutmixAlpha, cfg.labelSmoothing(), train.classes(), mixRng) : null;
            int first = 1;
            Path carriedBest = null;
            if (resume != null) {
                Checkpoint.Loaded c = Checkpoint.load(resume, model, opt, ema);
                first = c.epoch() + 1;
                best = c.bestAcc();
                // the run's earlier rows and best weights live beside the checkpoint, which may be in
                // another directory than this run's
                Path from = resume.toAbsolutePath().normalize().getParent();
                results.addAll(Checkpoint.readMetrics(from.resolve("metrics.csv"), c.epoch()));
                if (!from.equals(cfg.out().toAbsolutePath().normalize())) {
                    carriedBest = from.resolve("best.safetensors");
                }
                log.printf(Locale.ROOT, "%sresumed from %s after epoch %d (best test accuracy %.2f%%)%n", prefix(), resume,
                        c.epoch(), 100 * best);
            }
            firstEpoch = first;
            epoch = first - 1;
            step = (first - 1) * perEpoch;
            lastEpoch = Math.min(cfg.epochs(), stopAfter);
            // one run per directory; metrics.csv is replaced whole after each epoch (the rows up to the
            // resumed epoch, then the new ones), so an old run's rows survive any failure of this one
            lock = RunLock.acquire(cfg.out());
            DataParallel<VisionTransformer> replicas = null;
            try {
                replicas = replicate(model, replicasFor(model, cfg.batchSize(), Trainer.this.replicas));
                AtomicFiles.removeStale(cfg.out());
                if (carriedBest != null && Files.isRegularFile(carriedBest)) {
                    Path src = carriedBest;
                    AtomicFiles.writeStream(cfg.out().resolve("best.safetensors"), o -> Files.copy(src, o));
                }
            } catch (IOException | RuntimeException e) {
                if (replicas != null) {
                    replicas.close();
                }
                try {
                    lock.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
            dp = replicas;
            recordedStep = recorded ? new RecordedStep() : null;
            curvesAt = System.nanoTime();
        }

        /** Whether an epoch is left. */
        public boolean hasNext() {
            return epoch < lastEpoch;
        }

        /** All epochs' numbers so far (a resumed run's earlier epochs first). */
        public List<EpochResult> results() {
            return List.copyOf(results);
        }

        /**
         * Trains the next epoch, evaluates it on the test set, prints its line and writes
         * metrics.csv, the checkpoints and (as the class comment says) curves.png.
         */
        public EpochResult epoch() throws IOException {
            if (!hasNext()) {
                throw new IllegalStateException("the run has no epoch left (" + lastEpoch + " of " + cfg.epochs() + " done)");
            }
            epoch++;
            model.train(true);
            batches.reseed(cfg.seed() * 1_000_003L + epoch);
            for (int r = 0; r < dp.size(); r++) {
                // replica 0 (the model) keeps the stream a single-replica run has
                dp.replica(r).reseed(cfg.seed() * 998_244_353L + epoch + r * 0x9E3779B97F4A7C15L);
            }
            batches.startEpoch();
            mixRng.setSeed(cfg.seed() * 31L + epoch);
            long t0 = System.nanoTime();
            double lossSum = 0;
            long correct = 0;
            long seen = 0;
            double lr = 0;
            Progress style = progressStyle();
            long lastLine = t0;
            int stepInEpoch = 0;
            try (ProgressBar pb = style == Progress.BAR ? progressBar(prefix() + "epoch " + epoch + "/" + cfg.epochs(), perEpoch)
                    : null) {
                while (batches.hasNext()) {
                    Batcher.Batch b = batches.next();
                    lr = schedule.at(step++);
                    opt.lr(lr);
                    try (Scope s = Scope.open()) {
                        var mixed = mixup != null ? mixup.apply(b) : null;
                        int rows = b.labels().length;
                        Tensor images = mixed != null ? mixed.images() : b.images();
                        Tensor targets = mixed != null ? mixed.targets() : null;
                        double[] r = recordedStep != null && rows == cfg.batchSize()
                                ? recordedStep.run(images, b.labels(), targets)
                                : eagerStep(images, b.labels(), targets);
                        double l = r[0];
                        correct += (long) r[1];
                        if (!Double.isFinite(l)) {
                            throw new IllegalStateException("loss became " + l + " at epoch " + epoch + " step " + step
                                    + ": lower --lr or raise --warmup");
                        }
                        lossSum += l * rows;
                        seen += rows;
                    }
                    stepInEpoch++;
                    long now = System.nanoTime();
                    double secs = (now - t0) / 1e9;
                    if (pb != null) {
                        pb.step();
                        pb.setExtraMessage(String.format(Locale.ROOT, "loss %.3f acc %.1f%% %.0f img/s", lossSum / seen,
                                100.0 * correct / seen, seen / secs));
                    } else if (style == Progress.LINES && (now - lastLine) / 1e9 >= lineInterval && stepInEpoch < perEpoch) {
                        lastLine = now;
                        log.printf(Locale.ROOT, "%sepoch %d/%d  step %d/%d  loss %.4f acc %.2f%%  %.0f img/s  %.0f s%n", prefix(),
                                epoch, cfg.epochs(), stepInEpoch, perEpoch, lossSum / seen, 100.0 * correct / seen, seen / secs,
                                secs);
                    }
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            if (ema != null) {
                ema.swapIn(model);
            }
            double[] eval = evaluate(dp, test, cfg.evalBatchSize());
            EpochResult r = new EpochResult(epoch, lossSum / seen, (double) correct / seen, eval[0], eval[1], lr, seen / secs, secs);
            results.add(r);
            Checkpoint.writeMetricsFile(cfg.out().resolve("metrics.csv"), results);
            log.printf(Locale.ROOT, "%sepoch %d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  %.0f img/s  %.1f s%n",
                    prefix(), epoch, cfg.epochs(), r.trainLoss(), 100 * r.trainAcc(), r.testLoss(), 100 * r.testAcc(),
                    r.imagesPerSecond(), secs);
            if (r.testAcc() > best) {
                best = r.testAcc();
                // the evaluated weights: the EMA's when it is on
                Safetensors.write(cfg.out().resolve("best.safetensors"), model.namedParameters(), metadata(r, best, opt, train));
            }
            if (ema != null) {
                ema.swapOut(model);
            }
            Checkpoint.save(cfg.out().resolve("last.safetensors"), model, opt, ema, metadata(r, best, opt, train));
            if (epoch == firstEpoch || epoch == lastEpoch || (System.nanoTime() - curvesAt) / 1e9 >= CURVES_INTERVAL_SECONDS) {
                Plots.writeCurves(results, cfg.out().resolve("curves.png"), cfg.model());
                curvesAt = System.nanoTime();
            }
            return r;
        }

        /** A training step as it runs without a recording: {mean loss, correct predictions}. */
        private double[] eagerStep(Tensor images, int[] labels, Tensor targets) {
            opt.zeroGrad();
            double[] r = forwardBackward(dp, images, labels, targets, cfg.labelSmoothing(), bf16);
            clip();
            optimizerStep();
            return r;
        }

        /** The configured gradient clip, if any ({@link #clipGradients}). */
        private void clip() {
            if (cfg.clipGrad() > 0) {
                clipGradients(model.parameters(), cfg.clipGrad());
            }
        }

        /** AdamW's step, then the EMA's update when there is one. */
        private void optimizerStep() {
            opt.step();
            if (ema != null) {
                ema.update(model);
            }
        }

        /** Stops the replicas' threads and releases the output directory. */
        @Override
        public void close() throws IOException {
            try {
                if (recordedStep != null) {
                    recordedStep.close();
                }
                dp.close();
            } finally {
                lock.close();
            }
        }

        /**
         * A full batch's whole training step (forward, backward, clip, AdamW, EMA), recorded on the
         * second full batch (the first runs eagerly, so gradients, optimizer state and the memory
         * cache exist) and replayed after: each replay draws the masks' seeds from the model's
         * stream and runs the optimizer's host side, whose numbers (step count, learning rate) go
         * into the recording's table. Between replays the gradients stay as the replay wrote them
         * (no zeroGrad: the recorded backward writes them whole), and the recorded inputs, outputs
         * and activations keep their device memory until the run closes.
         */
        private final class RecordedStep implements AutoCloseable {
            private boolean warm;
            private Recording recording;
            private Tensor images;
            private Tensor targets;
            private Tensor logits;
            private Tensor loss;

            double[] run(Tensor x, int[] labels, Tensor soft) {
                if (!warm) {
                    warm = true;
                    return eagerStep(x, labels, soft);
                }
                Tensor t = soft != null ? soft : Losses.targets(labels, model.config().numClasses(), cfg.labelSmoothing());
                if (recording == null) {
                    Device d = model.device();
                    images = Scope.detached(() -> x.to(d));
                    targets = Scope.detached(() -> t.to(d));
                    opt.zeroGrad();
                    recording = Scope.detached(() -> Backends.forDevice(d).capture(() -> {
                        try (Autocast ac = bf16 ? Autocast.bf16() : null) {
                            logits = model.forward(images);
                            loss = Losses.crossEntropySoft(logits, targets);
                            loss.backward();
                        }
                        clip(); // on the device, nothing read back
                        optimizerStep();
                    }));
                    recording.replay(); // with the masks and optimizer numbers of the recording
                } else {
                    images.assign(x);
                    targets.assign(t);
                    recording.replay(model::nextSeed, Run.this::optimizerStep);
                }
                return new double[]{loss.item(), countCorrect(logits, labels)};
            }

            @Override
            public void close() {
                if (recording != null) {
                    recording.close();
                    recording = null;
                }
            }
        }
    }

    private Map<String, String> metadata(EpochResult r, double best, AdamW opt, ImageDataset train) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "pt");
        m.put("kat4j.model", cfg.model());
        m.put("kat4j.config", model.config().toString());
        m.put("kat4j.train", cfg.toString());
        m.put("kat4j.epoch", String.valueOf(r.epoch()));
        m.put("kat4j.test_acc", String.format(Locale.ROOT, "%.6f", r.testAcc()));
        m.put("kat4j.best_acc", Double.toString(best));
        m.put("kat4j.adam_steps", String.valueOf(opt.stepCount()));
        // what a predictor needs to feed the model images as training did (Checkpoint.dataNormalization)
        m.put(Checkpoint.DATA, train.name());
        m.put(Checkpoint.DATA_MEAN, Checkpoint.floats(train.mean()));
        m.put(Checkpoint.DATA_STD, Checkpoint.floats(train.std()));
        if (!train.classNames().isEmpty()) {
            m.put(Checkpoint.DATA_CLASSES, Checkpoint.names(train.classNames()));
        }
        return m;
    }

    private ProgressBar progressBar(String task, int total) {
        return new ProgressBarBuilder().setTaskName(task).setInitialMax(total).setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(250).continuousUpdate().setConsumer(
                        new me.tongfei.progressbar.ConsoleProgressBarConsumer(System.err, 110)).build();
    }

    /**
     * The forward and backward half of a training step, each replica on its part of the batch:
     * adds the gradients of the batch's mean cross-entropy (against {@code targets} [B, classes]
     * when given, as after Mixup, else against {@code labels} with {@code smoothing}) into the
     * model's parameters, and returns {mean loss, predictions equal to {@code labels}}. Each part's
     * mean loss is weighted by its share of the batch, so the summed gradients are the whole
     * batch's. The caller clears the gradients before and steps the optimizer after.
     */
    public static double[] forwardBackward(DataParallel<VisionTransformer> dp, Tensor images, int[] labels, Tensor targets,
                                           double smoothing) {
        return forwardBackward(dp, images, labels, targets, smoothing, false);
    }

    /** As {@link #forwardBackward(DataParallel, Tensor, int[], Tensor, double)}, under bf16 autocast when {@code bf16}. */
    public static double[] forwardBackward(DataParallel<VisionTransformer> dp, Tensor images, int[] labels, Tensor targets,
                                           double smoothing, boolean bf16) {
        int rows = labels.length;
        double loss = 0;
        long correct = 0;
        for (double[] part : dp.run(rows, (replica, start, length) -> {
            // autocast belongs to a thread: each replica's own
            try (Autocast ac = bf16 ? Autocast.bf16() : null) {
                int[] y = rows(labels, start, length);
                Tensor logits = replica.forward(onDeviceOf(replica, rows(images, start, length)));
                Tensor l = targets != null
                        ? Losses.crossEntropySoft(logits, onDeviceOf(replica, rows(targets, start, length)))
                        : Losses.crossEntropy(logits, y, smoothing);
                if (length != rows) {
                    l = l.mul((double) length / rows);
                }
                l.backward();
                return new double[]{l.item(), countCorrect(logits, y)};
            }
        })) {
            loss += part[0];
            correct += (long) part[1];
        }
        return new double[]{loss, correct};
    }

    /** t on the device of {@code model}'s parameters (the data sets make CPU tensors). */
    static Tensor onDeviceOf(VisionTransformer model, Tensor t) {
        return t.to(model.device());
    }

    /** Rows [start, start + length) of t along dim 0 (t itself when that is all of it). */
    private static Tensor rows(Tensor t, long start, long length) {
        return start == 0 && length == t.size(0) ? t : t.narrow(0, start, length);
    }

    private static int[] rows(int[] a, long start, long length) {
        return start == 0 && length == a.length ? a : Arrays.copyOfRange(a, (int) start, (int) (start + length));
    }

    /**
     * {@link #clipGradNorm} without reading the norm: where every gradient is on one device, that
     * device's {@link Backend#clipNorm} (on a GPU the norm never leaves it, so the clip can be part
     * of a recorded step). The same rule; on the CPU the same bits, on a GPU the norm is summed in
     * another order than {@code clipGradNorm}'s, so its last bits can differ.
     */
    public static void clipGradients(List<Tensor> params, double max) {
        List<Storage> grads = new ArrayList<>();
        Backend one = null;
        for (Tensor p : params) {
            Storage g = p.gradBuffer();
            if (g != null) {
                if (one != null && g.backend() != one) {
                    clipGradNorm(params, max);
                    return;
                }
                one = g.backend();
                grads.add(g);
            }
        }
        if (one != null) {
            one.clipNorm(grads, max);
        }
    }

    /** Scales all gradients so their global L2 norm is at most {@code max}; returns the norm before. */
    public static double clipGradNorm(List<Tensor> params, double max) {
        // per backend, in parameter order: one read back per device, not one per parameter
        java.util.Map<org.kat4j.backend.Backend, List<Storage>> grads = new LinkedHashMap<>();
        for (Tensor p : params) {
            Storage g = p.gradBuffer();
            if (g != null) {
                grads.computeIfAbsent(g.backend(), b -> new ArrayList<>()).add(g);
            }
        }
        double sq = 0;
        for (var e : grads.entrySet()) {
            sq += e.getKey().sumOfSquares(e.getValue());
        }
        double norm = Math.sqrt(sq);
        if (norm > max) {
            double f = max / (norm + 1e-6);
            for (Tensor p : params) {
                Storage g = p.gradBuffer();
                if (g != null) {
                    g.backend().scaleInPlace(g, f);
                }
            }
        }
        return norm;
    }

    /** How many rows of logits [N, C] have their first maximum at the label. */
    static long countCorrect(Tensor logits, int[] labels) {
        return java.util.Arrays.stream(ranks(logits, labels)).filter(r -> r == 0).count();
    }

    /**
     * Where each row's label ranks among its logits: 0 where it is the first-ranked class (the
     * highest logit, the lowest index among equal ones), k where k classes rank before it (higher
     * logits, or equal ones at lower indices).
     */
    static int[] ranks(Tensor logits, int[] labels) {
        float[] v = logits.toFloatArray();
        int classes = Math.toIntExact(logits.size(1));
        int[] out = new int[labels.length];
        for (int i = 0; i < labels.length; i++) {
            float mine = v[i * classes + labels[i]];
            int before = 0;
            for (int k = 0; k < classes; k++) {
                float o = v[i * classes + k];
                if (o > mine || (o == mine && k < labels[i])) {
                    before++;
                }
            }
            out[i] = before;
        }
        return out;
    }

    /**
     * Mean loss (no smoothing) and accuracy on a data set, in evaluation mode without a graph, with
     * {@link #replicasFor} replicas.
     */
    public static double[] evaluate(VisionTransformer model, ImageDataset data, int batchSize) {
        Evaluation e = evaluation(model, data, batchSize);
        return new double[]{e.loss(), e.accuracy()};
    }

    /** As {@link #evaluate(VisionTransformer, ImageDataset, int)}, each batch split over {@code dp}'s replicas. */
    public static double[] evaluate(DataParallel<VisionTransformer> dp, ImageDataset data, int batchSize) {
        Evaluation e = evaluation(dp, data, batchSize);
        return new double[]{e.loss(), e.accuracy()};
    }

    /**
     * What {@link #evaluate(VisionTransformer, ImageDataset, int)} measures, the top-5 accuracy (the
     * label among the five highest logits), and per class: how many images carry each label
     * ({@code seen}) and how many of those the model ranked first ({@code correct}).
     */
    public record Evaluation(double loss, double accuracy, double top5, long[] seen, long[] correct) {
        /** The accuracy on the images labelled {@code k}; NaN where there are none. */
        public double classAccuracy(int k) {
            return seen[k] == 0 ? Double.NaN : (double) correct[k] / seen[k];
        }
    }

    /** As {@link #evaluate(VisionTransformer, ImageDataset, int)}, with the per-class counts. */
    public static Evaluation evaluation(VisionTransformer model, ImageDataset data, int batchSize) {
        try (DataParallel<VisionTransformer> dp = replicate(model, replicasFor(model, batchSize, 0))) {
            return evaluation(dp, data, batchSize);
        }
    }

    /** As {@link #evaluation(VisionTransformer, ImageDataset, int)}, each batch split over {@code dp}'s replicas. */
    public static Evaluation evaluation(DataParallel<VisionTransformer> dp, ImageDataset data, int batchSize) {
        VisionTransformer model = dp.replica(0);
        model.train(false);
        Batcher b = new Batcher(data, batchSize, false, 0, false, new Random(0));
        double loss = 0;
        long[] seen = new long[data.classes()];
        long[] correct = new long[data.classes()];
        long total = 0;
        long top5 = 0;
        try (var ng = Autograd.noGrad()) {
            while (b.hasNext()) {
                Batcher.Batch batch = b.next();
                int[] labels = batch.labels();
                try (Scope s = Scope.open()) {
                    // each part: its loss sum, then the rank of each row's label among its logits
                    int row = 0;
                    for (double[] part : dp.run(labels.length, (replica, start, length) -> {
                        int[] y = rows(labels, start, length);
                        Tensor logits = replica.forward(onDeviceOf(replica, rows(batch.images(), start, length)));
                        int[] rank = ranks(logits, y);
                        double[] out = new double[1 + rank.length];
                        out[0] = Losses.crossEntropy(logits, y, 0).item() * length;
                        for (int i = 0; i < rank.length; i++) {
                            out[1 + i] = rank[i];
                        }
                        return out;
                    })) {
                        loss += part[0];
                        for (int i = 1; i < part.length; i++, row++) {
                            seen[labels[row]]++;
                            if (part[i] == 0) {
                                correct[labels[row]]++;
                            }
                            if (part[i] < 5) {
                                top5++;
                            }
                        }
                    }
                    total += labels.length;
                }
            }
        }
        model.train(true);
        long right = java.util.Arrays.stream(correct).sum();
        return new Evaluation(loss / total, (double) right / total, (double) top5 / total, seen, correct);
    }
}
