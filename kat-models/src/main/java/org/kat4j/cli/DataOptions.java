package org.kat4j.cli;

import org.kat4j.data.Cifar10;
import org.kat4j.data.FashionMnist;
import org.kat4j.data.ImageDataset;
import org.kat4j.data.ImageFolder;
import org.kat4j.data.Splits;
import org.kat4j.models.Models;
import org.kat4j.models.VitConfig;
import org.kat4j.train.Checkpoint;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Where the images come from (shared by train, eval, compare, inspect): Fashion-MNIST (the
 * built-in subset, Debian's full set, or IDX files in {@code --data}), CIFAR-10's binary batches
 * or image files in one folder per class ({@link ImageFolder}) in {@code --data}, told apart by
 * what the directory holds.
 */
final class DataOptions {
    /** The directory that the CIFAR-10 binary archive unpacks to. */
    static final String CIFAR_DIR = "cifar-10-batches-bin";

    @Option(names = "--data", description = "A directory with Fashion-MNIST's IDX files (train-/t10k-, raw or .gz),"
            + " CIFAR-10's binary batches (data_batch_N.bin, test_batch.bin, or the " + CIFAR_DIR + " directory holding"
            + " them), or images in class folders (train/CLASS/*.png|jpg and val/CLASS/..., resized to the model's input).")
    Path data;

    @Option(names = "--builtin", description = "Use the built-in subset even if the full set is installed.")
    boolean builtin;

    /**
     * The data's two splits; images in class folders are resized to {@code folderSize} (the
     * model's input size), the other formats have their own size.
     */
    Splits load(int folderSize) throws IOException {
        if (data == null) {
            return FashionMnist.load(null, builtin);
        }
        if (!Files.isDirectory(data)) {
            throw new IOException("--data " + data + ": not a directory");
        }
        if (ImageFolder.looksLikeOne(data)) {
            System.out.println("reading the images of " + data + " at " + folderSize + "x" + folderSize);
            long t0 = System.nanoTime();
            Splits s = ImageFolder.load(data, folderSize, Runtime.getRuntime().maxMemory() / 2, progress(t0));
            read(s.train().size() + s.test().size(), t0);
            return s;
        }
        if (has(data, "train-images-idx3-ubyte") || has(data, "t10k-images-idx3-ubyte")) {
            return FashionMnist.load(data, false);
        }
        if (has(data, "data_batch_") || has(data, "test_batch.bin")) {
            return Cifar10.load(data);
        }
        Path inner = data.resolve(CIFAR_DIR);
        if (Files.isDirectory(inner) && (has(inner, "data_batch_") || has(inner, "test_batch.bin"))) {
            return Cifar10.load(inner);
        }
        throw new IOException("--data " + data + ": neither Fashion-MNIST's IDX files (train-images-idx3-ubyte[.gz],"
                + " train-labels-idx1-ubyte[.gz], t10k-...), CIFAR-10's binary batches (data_batch_1.bin ..."
                + " data_batch_5.bin, test_batch.bin) nor image folders (train/CLASS/*.png|jpg, val/CLASS/...) are there");
    }

    /**
     * The test split for evaluating {@code l}. Class folders are read without their training
     * images, normalised as the checkpoint's training data was (its metadata), and refused where
     * the checkpoint names other classes; the other formats, and weights without that metadata,
     * as {@link #load}.
     */
    ImageDataset loadTest(ModelSource.Loaded l) throws IOException {
        int size = l.model().config().imgSize();
        if (data == null || !ImageFolder.looksLikeOne(data) || l.model().config().inChans() != 3
                || !l.metadata().containsKey(Checkpoint.DATA_MEAN)) {
            return load(size).test();
        }
        Path ckpt = Path.of(l.source());
        float[][] norm = Checkpoint.dataNormalization(ckpt, l.metadata(), 3);
        System.out.println("reading the test images of " + data + " at " + size + "x" + size);
        long t0 = System.nanoTime();
        ImageDataset test = ImageFolder.loadTest(data, size, Runtime.getRuntime().maxMemory() / 2, norm[0], norm[1],
                progress(t0));
        read(test.size(), t0);
        List<String> trained = Checkpoint.classNames(ckpt, l.metadata());
        if (!trained.isEmpty() && !trained.equals(test.classNames())) {
            throw new IllegalArgumentException(ckpt + " was trained on the classes " + String.join(", ", trained) + "; "
                    + data + " has " + String.join(", ", test.classNames()));
        }
        return test;
    }

    /** A line every 10 s while images are read. */
    private static ImageFolder.Progress progress(long t0) {
        java.util.concurrent.atomic.AtomicLong shown = new java.util.concurrent.atomic.AtomicLong(t0);
        return (done, total) -> {
            long now = System.nanoTime();
            long last = shown.get();
            if (now - last > 10_000_000_000L && shown.compareAndSet(last, now)) {
                System.out.printf(java.util.Locale.ROOT, "  %,d of %,d images read%n", done, total);
            }
        };
    }

    private static void read(int images, long t0) {
        System.out.printf(java.util.Locale.ROOT, "read %,d images in %.1f s%n", images, (System.nanoTime() - t0) / 1e9);
    }

    /** Whether a file in {@code dir} has a name starting with {@code prefix}. */
    private static boolean has(Path dir, String prefix) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.anyMatch(p -> p.getFileName().toString().startsWith(prefix));
        }
    }

    /** Whether --data or --builtin was given. */
    boolean given() {
        return data != null || builtin;
    }

    /**
     * The size suffix of the micro models made for these images: {@code micro_patch7_28} for
     * 28x28 grey images, {@code micro_patch4_32} for 32x32 colour ones, else null.
     */
    static String microSize(ImageDataset images) {
        if (images.height() == 28 && images.width() == 28 && images.channels() == 1) {
            return "micro_patch7_28";
        }
        if (images.height() == 32 && images.width() == 32 && images.channels() == 3) {
            return "micro_patch4_32";
        }
        return null;
    }

    /** The registered models whose names match {@code glob} and whose input is these images. */
    static List<String> fitting(String glob, ImageDataset images) {
        List<String> out = new ArrayList<>();
        for (String name : Models.list(glob)) {
            if (fits(Models.config(name, Map.of()), images)) {
                out.add(name);
            }
        }
        return out;
    }

    private static boolean fits(VitConfig cfg, ImageDataset images) {
        return images.channels() == cfg.inChans() && images.height() == cfg.imgSize() && images.width() == cfg.imgSize();
    }

    /** Refuses a model whose input size is not the images', naming the registered models that fit. */
    static void checkFits(String name, VitConfig cfg, ImageDataset images) {
        checkFits(name, cfg, images, null);
    }

    /** As above for a loaded model, naming the data its checkpoint records it was trained on. */
    static void checkFits(ModelSource.Loaded l, ImageDataset images) {
        String trainedOn = l.metadata().get(Checkpoint.DATA);
        checkFits(l.name(), l.model().config(), images, trainedOn == null ? null : "its weights were trained on " + trainedOn);
    }

    /** As above, with {@code hint} in brackets after the sizes (null: the registered models that fit). */
    static void checkFits(String name, VitConfig cfg, ImageDataset images, String hint) {
        if (!fits(cfg, images)) {
            if (hint == null) {
                List<String> fit = fitting("*", images);
                hint = fit.isEmpty() ? "no registered model takes them" : "these take them: " + String.join(", ", fit);
            }
            throw new IllegalArgumentException("model " + name + " takes " + cfg.inChans() + "x" + cfg.imgSize() + "x"
                    + cfg.imgSize() + " images, the data has " + images.channels() + "x" + images.height() + "x"
                    + images.width() + " (" + hint + ")");
        }
    }
}
