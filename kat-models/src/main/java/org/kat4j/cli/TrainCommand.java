package org.kat4j.cli;

import org.kat4j.data.Splits;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.rational.RationalKernels;
import org.kat4j.train.TrainConfig;
import org.kat4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kat train}: trains a registered model on Fashion-MNIST, CIFAR-10 or images in class
 * folders. The defaults are tuned for the main job (kat_micro on the built-in subset in under 5
 * minutes on 2 cores): batches of 64,
 * horizontal flips, no label smoothing, no random crops learned best in that budget (one
 * shuffling order: 84.8% test accuracy; smoothing 0.1 84.7%, no flips 84.5%, crops and smoothing
 * at batch 128 79.8%); the paper's recipe (smoothing 0.1, crops, long schedules) is a flag away.
 */
@Command(name = "train", description = "Train a model on Fashion-MNIST (the built-in subset, or the Debian package's full set) or on"
        + " the Fashion-MNIST files, CIFAR-10 batches or class folders of images of a --data directory.")
final class TrainCommand implements Callable<Integer> {
    /** How n replicas run: one thread each, or on fewer threads than replicas. */
    static String threadsLine(int n) {
        int threads = org.kat4j.nn.DataParallel.defaultThreads(n);
        return threads == n ? "one thread each" : "on " + threads + " threads";
    }

    /** Refuses a whole-number flag value outside [lo, hi] with one line naming it. */
    static void range(String flag, long v, long lo, long hi) {
        if (v < lo || v > hi) {
            throw new IllegalArgumentException(flag + " " + v + ": expected a whole number in [" + lo + ", " + hi + "]");
        }
    }

    /** Refuses a flag value outside [lo, hi] (NaN and infinities included) with one line naming it. */
    static void range(String flag, double v, double lo, double hi) {
        if (!(v >= lo && v <= hi) || Double.isInfinite(v)) {
            String from = lo == Double.MIN_VALUE ? "(0" : "[" + lo;
            throw new IllegalArgumentException(flag + " " + v + ": expected a finite value in " + from + ", " + hi + "]");
        }
    }

    /** The options kat train and kat compare share, each refused outside its range (EMA 0 = off). */
    static void checkSchedule(int epochs, int batchSize, double lr, double ema) {
        range("--epochs", epochs, 1, 100_000);
        range("--batch-size", batchSize, 1, Integer.MAX_VALUE);
        range("--lr", lr, Double.MIN_VALUE, 10);
        if (ema != 0) {
            range("--ema", ema, Double.MIN_VALUE, 1 - 1e-12);
        }
    }

    /**
     * Whether to record the steps: {@code cudaGraphs}, refused where it cannot work (a device that
     * records nothing, several replicas), except that where {@code --device auto} chose such a
     * device it is dropped with one line.
     */
    static boolean cudaGraphs(boolean cudaGraphs, DeviceOptions options, org.kat4j.backend.Device device, int replicas,
                              PrintStream out) {
        if (cudaGraphs && !org.kat4j.backend.Backends.forDevice(device).canCapture()) {
            if (options.auto()) {
                out.println("--cuda-graphs: not on " + device + " (auto found no CUDA device); the steps run eagerly");
                return false;
            }
            throw new IllegalArgumentException("--cuda-graphs records a CUDA device's work; the model is on " + device
                    + " (add --device cuda)");
        }
        if (cudaGraphs && replicas != 1) {
            throw new IllegalArgumentException("--cuda-graphs records one replica's step; --replicas " + replicas + " asked for more");
        }
        return cudaGraphs;
    }

    /** The batch size, capped (with a line saying so) to the training images. */
    static int capBatch(int batchSize, org.kat4j.data.ImageDataset train) {
        if (batchSize <= train.size()) {
            return batchSize;
        }
        System.out.printf(Locale.ROOT, "batch size %d capped to the %d training images%n", batchSize, train.size());
        return train.size();
    }

    @picocli.CommandLine.Mixin
    DataOptions dataOptions = new DataOptions();

    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--model", description = "Registered model (kat models). Default: the --resume checkpoint's, else the"
            + " micro KAT made for the data's images, kat_micro_patch7_28 for Fashion-MNIST, kat_micro_patch4_32 for CIFAR-10"
            + " and class folders.")
    String model;
    @Option(names = "--epochs", defaultValue = "20", description = "Default ${DEFAULT-VALUE}.")
    int epochs;
    @Option(names = "--batch-size", defaultValue = "64", description = "Default ${DEFAULT-VALUE}.")
    int batchSize;
    @Option(names = "--lr", defaultValue = "3e-3", description = "Peak learning rate. Default ${DEFAULT-VALUE}.")
    double lr;
    @Option(names = "--min-lr", defaultValue = "1e-5", description = "Default ${DEFAULT-VALUE}.")
    double minLr;
    @Option(names = "--wd", defaultValue = "0.05", description = "AdamW weight decay. Default ${DEFAULT-VALUE}.")
    double wd;
    @Option(names = "--warmup", defaultValue = "100", description = "Warmup steps. Default ${DEFAULT-VALUE}.")
    int warmup;
    @Option(names = "--smoothing", defaultValue = "0.0", description = "Label smoothing. Default ${DEFAULT-VALUE}.")
    double smoothing;
    @Option(names = "--clip-grad", defaultValue = "1.0", description = "Global gradient-norm clip (0 = off). Default ${DEFAULT-VALUE}.")
    double clip;
    @Option(names = "--drop-path", defaultValue = "0.0", description = "Stochastic depth. Default ${DEFAULT-VALUE}.")
    double dropPath;
    @Option(names = "--augment-pad", defaultValue = "0", description = "Random-crop padding in pixels (0 = off). Default ${DEFAULT-VALUE}.")
    int augmentPad;
    @Option(names = "--no-flip", description = "No random horizontal flips (on by default).")
    boolean noFlip;
    @Option(names = "--seed", defaultValue = "0", description = "Default ${DEFAULT-VALUE}.")
    long seed;
    @Option(names = "--out", defaultValue = "runs/train", description = "Output directory. Default ${DEFAULT-VALUE}.")
    Path out;
    @Option(names = "--mixup", defaultValue = "0", description = "Mixup alpha (0 = off; the paper: 0.8). Default ${DEFAULT-VALUE}.")
    double mixupAlpha;
    @Option(names = "--cutmix", defaultValue = "0", description = "CutMix alpha (0 = off; the paper: 1.0). Default ${DEFAULT-VALUE}.")
    double cutmixAlpha;
    @Option(names = "--ema", defaultValue = "0", description = "Model EMA decay (0 = off, e.g. 0.998); evaluation uses the average. Default ${DEFAULT-VALUE}.")
    double ema;
    @Option(names = "--replicas", defaultValue = "0", description = "Model replicas, each with its own part of every batch,"
            + " run on one thread per core at most (0 = one per core, with at least 8 images each). Results depend on the"
            + " count, not on threads or timing. Default ${DEFAULT-VALUE}.")
    int replicas;
    @Option(names = "--autocast", defaultValue = "none", description = "bf16: every step's matrix products on bfloat16-rounded"
            + " operands, summed in float32 (for a GPU's tensor cores; weights, optimizer and evaluation stay float32); none:"
            + " float32. Default ${DEFAULT-VALUE}.")
    String autocast;
    @Option(names = "--cuda-graphs", description = "Record a full batch's whole step (forward, backward, clip, AdamW) once as a CUDA"
            + " graph and replay it for every later full batch: one host call instead of one per kernel, the same numbers"
            + " (with --device cuda).")
    boolean cudaGraphs;
    @Option(names = "--resume", description = "Continue from a last.safetensors of a run with the same settings.")
    Path resume;
    @Option(names = {"--quiet", "--no-progress"}, description = "No progress during an epoch, only the epoch lines.")
    boolean noProgress;
    @Option(names = "--progress", description = "The animated progress bar even when the output is not a terminal"
            + " (by default: the bar on a terminal, a plain line every 30 s otherwise).")
    boolean forceBar;

    @Override
    public Integer call() throws Exception {
        checkSchedule(epochs, batchSize, lr, ema);
        range("--min-lr", minLr, 0, lr);
        range("--wd", wd, 0, 10);
        range("--warmup", warmup, 0, Integer.MAX_VALUE);
        range("--smoothing", smoothing, 0, 0.999);
        range("--clip-grad", clip, 0, Double.MAX_VALUE);
        range("--drop-path", dropPath, 0, 0.999);
        range("--augment-pad", augmentPad, 0, 64);
        range("--mixup", mixupAlpha, 0, 100);
        range("--cutmix", cutmixAlpha, 0, 100);
        range("--replicas", replicas, 0, 1024);
        if (!autocast.equals("none") && !autocast.equals("bf16")) {
            throw new IllegalArgumentException("--autocast " + autocast + ": expected bf16 or none");
        }
        boolean bf16 = autocast.equals("bf16");
        if (resume != null && !java.nio.file.Files.isRegularFile(resume)) {
            throw new java.io.IOException("--resume " + resume + ": no such file");
        }
        String trainedOn = null;
        if (resume != null) {
            // a resumed run continues the checkpoint's model unless --model names one
            Map<String, String> meta = org.kat4j.io.Safetensors.readMetadata(resume);
            model = model == null ? meta.get("kat4j.model") : model;
            trainedOn = meta.get(org.kat4j.train.Checkpoint.DATA);
            String done = meta.get("kat4j.epoch");
            if (done != null && done.matches("\\d{1,9}") && Integer.parseInt(done) >= epochs) {
                System.out.println("nothing to do: " + resume + " is at epoch " + done + " of " + epochs + " (a larger --epochs"
                        + " continues it)");
                return 0;
            }
        }
        // class folders are read at the model's size: the default model's, 32, where none is named
        Splits splits = dataOptions.load(model == null ? 32 : Models.config(model, Map.of()).imgSize());
        batchSize = capBatch(batchSize, splits.train());
        if (model == null) {
            String size = DataOptions.microSize(splits.train());
            model = size == null ? "kat_micro_patch7_28" : "kat_" + size;
        }
        org.kat4j.backend.Device device = deviceOptions.resolve(System.out);
        VisionTransformer m = Models.create(model, Map.of("num_classes", splits.train().classes(), "drop_path_rate", dropPath),
                seed);
        DataOptions.checkFits(model, m.config(), splits.train(), trainedOn == null ? null
                : "--resume " + resume + " was trained on " + trainedOn);
        m.to(device);
        int n = Trainer.replicasFor(m, batchSize, replicas);
        cudaGraphs = cudaGraphs(cudaGraphs, deviceOptions, device, n, System.out);
        System.out.printf(Locale.ROOT, "model %s: %,d parameters on %s; data: %s, %d train / %d test; rational kernel: %s; %s%s%n",
                model, m.parameterCount(), device, splits.source(), splits.train().size(), splits.test().size(),
                device.isCpu() ? RationalKernels.get().name() : "the device's",
                n == 1 ? "1 replica" : n + " replicas of " + (batchSize / n) + (batchSize % n == 0 ? "" : "-" + (batchSize / n + 1))
                        + " images, " + threadsLine(n), (bf16 ? "; bf16 autocast" : "") + (cudaGraphs ? "; CUDA graphs" : ""));
        String earlier = resume == null ? earlierRun(out.resolve("last.safetensors")) : null;
        if (earlier != null) {
            System.out.println(earlier);
        }
        TrainConfig cfg = new TrainConfig(model, epochs, batchSize, lr, minLr, wd, warmup, smoothing, clip, dropPath, augmentPad,
                !noFlip, seed, out, 500, !noProgress, ema);
        long t0 = System.nanoTime();
        List<Trainer.EpochResult> r = new Trainer(m, cfg, System.out).withMixup(mixupAlpha, cutmixAlpha).withReplicas(n)
                .withAutocast(bf16).withCudaGraphs(cudaGraphs)
                .withProgress(forceBar ? Trainer.Progress.BAR : Trainer.Progress.AUTO).fit(splits.train(), splits.test(), resume);
        Trainer.EpochResult last = r.get(r.size() - 1);
        double best = r.stream().mapToDouble(Trainer.EpochResult::testAcc).max().orElse(0);
        System.out.printf(Locale.ROOT, "done: %s, %d epoch%s in %.1f s, test accuracy %.2f%% (best %.2f%%); %s/{metrics.csv,"
                        + "curves.png,best.safetensors,last.safetensors}%n", model, epochs, epochs == 1 ? "" : "s",
                (System.nanoTime() - t0) / 1e9, 100 * last.testAcc(), 100 * best, out);
        return 0;
    }

    /**
     * A line saying that {@code last} is an earlier run's checkpoint, whose files this run
     * replaces, or null when there is none.
     */
    static String earlierRun(Path last) {
        if (!java.nio.file.Files.isRegularFile(last)) {
            return null;
        }
        String what;
        try {
            Map<String, String> meta = org.kat4j.io.Safetensors.readMetadata(last);
            what = meta.getOrDefault("kat4j.model", "a model") + " at epoch " + meta.getOrDefault("kat4j.epoch", "?")
                    + (meta.containsKey("kat4j.best_acc") ? String.format(Locale.ROOT, ", best %.2f%%",
                    100 * Double.parseDouble(meta.get("kat4j.best_acc"))) : "");
        } catch (java.io.IOException | RuntimeException e) {
            what = "a checkpoint that does not read: " + e.getMessage();
        }
        return "note: " + last.getParent() + " holds an earlier run (" + what + "); its files are replaced as this run's"
                + " epochs end (--out DIR trains elsewhere, --resume continues it)";
    }
}
