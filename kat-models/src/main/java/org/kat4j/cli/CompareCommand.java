package org.kat4j.cli;

import org.kat4j.data.Splits;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.train.Plots;
import org.kat4j.train.TrainConfig;
import org.kat4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code kat compare}: the ViT and the KAT of one size, same data, seed and budget, side by side.
 * The two train in one process epoch by epoch in turn ({@link Trainer#start}), so that a shared
 * machine's drift falls on both alike; each trains to the same bits as alone. On 2 cores of an AMD
 * EPYC Zen 5 (2026-12-07), the KAT's images/s over epochs 2-5 was 0.88-1.01x the ViT's in nine
 * 5-epoch comparisons, against 0.82-1.31x in eight that trained one model after the other.
 */
@Command(name = "compare", description = "Train vit_<size> and kat_<size> with identical settings and print a side-by-side table and plot.")
final class CompareCommand implements Callable<Integer> {
    @picocli.CommandLine.Mixin
    DataOptions dataOptions = new DataOptions();
    @picocli.CommandLine.Mixin
    DeviceOptions deviceOptions = new DeviceOptions();

    @Option(names = "--size", description = "Model size suffix. Default: the micro size made for the data's images,"
            + " micro_patch7_28 for Fashion-MNIST, micro_patch4_32 for CIFAR-10 and class folders.")
    String size;
    @Option(names = "--epochs", defaultValue = "20", description = "Default ${DEFAULT-VALUE}.")
    int epochs;
    @Option(names = "--batch-size", defaultValue = "64", description = "Default ${DEFAULT-VALUE}.")
    int batchSize;
    @Option(names = "--lr", defaultValue = "3e-3", description = "Default ${DEFAULT-VALUE}.")
    double lr;
    @Option(names = "--ema", defaultValue = "0", description = "Model EMA decay (0 = off). Default ${DEFAULT-VALUE}.")
    double ema;
    @Option(names = "--seed", defaultValue = "0", description = "Default ${DEFAULT-VALUE}.")
    long seed;
    @Option(names = "--out", defaultValue = "runs/compare", description = "Default ${DEFAULT-VALUE}.")
    Path out;
    @Option(names = {"--quiet", "--no-progress"}, description = "No progress during an epoch, only the epoch lines.")
    boolean noProgress;
    @Option(names = "--cuda-graphs", description = "Each model's full-batch step recorded once as a CUDA graph and replayed"
            + " (with --device cuda; the same numbers, as kat train --cuda-graphs).")
    boolean cudaGraphs;

    @Override
    public Integer call() throws Exception {
        TrainCommand.checkSchedule(epochs, batchSize, lr, ema);
        List<String> sizes = sizes();
        if (size != null && !sizes.contains(size)) {
            throw new IllegalArgumentException("--size " + size + ": expected one of " + String.join(", ", sizes)
                    + " (the sizes with both a vit_ and a kat_ model)");
        }
        Splits splits = dataOptions.load(size == null ? 32 : Models.config("kat_" + size, Map.of()).imgSize());
        if (size == null) {
            String micro = DataOptions.microSize(splits.train());
            size = micro == null ? "micro_patch7_28" : micro;
        }
        List<String> fit = new ArrayList<>();
        for (String kat : DataOptions.fitting("kat_*", splits.train())) {
            if (sizes.contains(kat.substring("kat_".length()))) {
                fit.add(kat.substring("kat_".length()));
            }
        }
        for (String kind : new String[]{"vit", "kat"}) {
            DataOptions.checkFits(kind + "_" + size, Models.config(kind + "_" + size, Map.of()), splits.train(),
                    fit.isEmpty() ? "no size takes them" : "try --size " + String.join(" or --size ", fit));
        }
        batchSize = TrainCommand.capBatch(batchSize, splits.train());
        org.kat4j.backend.Device device = deviceOptions.resolve(System.out);
        Map<String, Trainer.Run> open = new LinkedHashMap<>();
        Map<String, Long> params = new LinkedHashMap<>();
        Map<String, List<Trainer.EpochResult>> runs = new LinkedHashMap<>();
        try {
            for (String kind : new String[]{"vit", "kat"}) {
                String name = kind + "_" + size;
                VisionTransformer m = Models.create(name, Map.of("num_classes", splits.train().classes()), seed);
                m.to(device);
                cudaGraphs = TrainCommand.cudaGraphs(cudaGraphs, deviceOptions, device, Trainer.replicasFor(m, batchSize, 0),
                        System.out);
                params.put(name, m.parameterCount());
                System.out.printf(Locale.ROOT, "== %s: %,d parameters on %s, %s%n", name, m.parameterCount(), device, splits.source());
                TrainConfig cfg = new TrainConfig(name, epochs, batchSize, lr, 1e-5, 0.05, 100, 0.0, 1.0, 0.0, 0, true, seed,
                        out.resolve(name), 500, !noProgress, ema);
                open.put(name, new Trainer(m, cfg, System.out).withLabel(name).withCudaGraphs(cudaGraphs)
                        .start(splits.train(), splits.test(), null, epochs));
            }
            // epoch by epoch in turn, so that the machine's drift over the run falls on both models alike
            for (int e = 0; e < epochs; e++) {
                for (Trainer.Run run : open.values()) {
                    run.epoch();
                }
            }
            open.forEach((name, run) -> runs.put(name, run.results()));
        } finally {
            for (Trainer.Run run : open.values()) {
                run.close();
            }
        }
        String table = table(runs, params);
        Files.createDirectories(out);
        org.kat4j.io.AtomicFiles.writeString(out.resolve("compare.md"), table);
        Plots.writeComparison(new ArrayList<>(runs.keySet()), new ArrayList<>(runs.values()), out.resolve("compare.png"));
        System.out.print(table);
        System.out.println("wrote " + out.resolve("compare.md") + " and " + out.resolve("compare.png"));
        return 0;
    }

    /** The size suffixes that name both a registered ViT ({@code vit_<size>}) and a KAT ({@code kat_<size>}). */
    static List<String> sizes() {
        List<String> kats = Models.list("kat_*");
        List<String> out = new ArrayList<>();
        for (String vit : Models.list("vit_*")) {
            String size = vit.substring("vit_".length());
            if (kats.contains("kat_" + size)) {
                out.add(size);
            }
        }
        return out;
    }

    /**
     * The side-by-side table. Images/s is the mean over the epochs after the first when there are
     * two or more: the first carries the JIT's compilation of the kernels, most of which falls on
     * whichever model trains first (the ViT's first epoch 7.7 s against the KAT's 4.3 s in a
     * 1-epoch comparison of the micro models, 2 cores of an AMD EPYC Zen 5, 2026-12-07). Train time
     * is all epochs.
     */
    static String table(Map<String, List<Trainer.EpochResult>> runs, Map<String, Long> params) {
        int epochs = runs.values().stream().mapToInt(List::size).min().orElse(0);
        StringBuilder table = new StringBuilder();
        table.append("| model | params | test acc (last) | test acc (best) | test loss | train loss | ")
                .append(epochs > 2 ? "images/s (epochs 2-" + epochs + ")" : epochs == 2 ? "images/s (epoch 2)" : "images/s").append(" | train time |\n");
        table.append("|---|---|---|---|---|---|---|---|\n");
        for (var e : runs.entrySet()) {
            List<Trainer.EpochResult> r = e.getValue();
            Trainer.EpochResult last = r.get(r.size() - 1);
            double best = r.stream().mapToDouble(Trainer.EpochResult::testAcc).max().orElse(0);
            double secs = r.stream().mapToDouble(Trainer.EpochResult::seconds).sum();
            double ips = r.stream().skip(r.size() >= 2 ? 1 : 0).mapToDouble(Trainer.EpochResult::imagesPerSecond).average().orElse(0);
            table.append(String.format(Locale.ROOT, "| %s | %,d | %.2f%% | %.2f%% | %.4f | %.4f | %.0f | %.0f s |%n", e.getKey(),
                    params.get(e.getKey()), 100 * last.testAcc(), 100 * best, last.testLoss(), last.trainLoss(), ips, secs));
        }
        return table.toString();
    }
}
