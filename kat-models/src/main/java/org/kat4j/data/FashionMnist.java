package org.kat4j.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Fashion-MNIST (Zalando, MIT licence). {@link #load} finds, in order: a directory given by the
 * user, the full set of Debian's {@code dataset-fashion-mnist} package, or the subset that ships
 * inside kat4j (12,000 training and 2,000 test images, balanced).
 */
public final class FashionMnist {
    /** Where Debian's dataset-fashion-mnist installs the IDX files. */
    public static final Path DEBIAN_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    static final float MEAN = 0.2860f;
    static final float STD = 0.3530f;
    public static final String[] CLASSES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
            "Sneaker", "Bag", "Ankle boot"};

    private FashionMnist() {
    }

    /**
     * @param dir     a directory with train-/t10k- IDX files (raw or .gz), or null
     * @param builtin use the shipped subset even when the full set is installed
     */
    public static Splits load(Path dir, boolean builtin) throws IOException {
        if (dir != null) {
            if (!Files.isDirectory(dir)) {
                throw new IOException(dir + ": not a directory");
            }
            return new Splits(fromDir(dir, "train"), fromDir(dir, "t10k"), "Fashion-MNIST in " + dir);
        }
        if (!builtin && Files.isDirectory(DEBIAN_DIR)) {
            return new Splits(fromDir(DEBIAN_DIR, "train"), fromDir(DEBIAN_DIR, "t10k"), DEBIAN_DIR + " (full set)");
        }
        return new Splits(fromResource("train"), fromResource("t10k"), "built-in subset");
    }

    private static Path find(Path dir, String prefix, String kind) throws IOException {
        for (String suffix : new String[]{"-" + kind + "-idx" + (kind.equals("images") ? 3 : 1) + "-ubyte.gz",
                "-" + kind + "-idx" + (kind.equals("images") ? 3 : 1) + "-ubyte"}) {
            Path p = dir.resolve(prefix + suffix);
            if (Files.exists(p)) {
                return p;
            }
        }
        throw new IOException(dir + ": no " + prefix + "-" + kind + "-idx?-ubyte[.gz] file");
    }

    static ImageDataset fromDir(Path dir, String prefix) throws IOException {
        Path ip = find(dir, prefix, "images");
        Path lp = find(dir, prefix, "labels");
        Idx.Images im;
        int[] labels;
        try (InputStream in = Files.newInputStream(ip)) {
            im = Idx.readImages(in, ip.toString());
        }
        try (InputStream in = Files.newInputStream(lp)) {
            labels = Idx.readLabels(in, lp.toString());
        }
        return build(prefix + " (" + dir + ")", im, labels, ip + " / " + lp);
    }

    static ImageDataset fromResource(String prefix) throws IOException {
        String base = "/org/kat4j/data/fashion-mnist/" + prefix;
        Idx.Images im;
        int[] labels;
        try (InputStream in = open(base + "-images-idx3-ubyte.gz")) {
            im = Idx.readImages(in, base + "-images-idx3-ubyte.gz");
        }
        try (InputStream in = open(base + "-labels-idx1-ubyte.gz")) {
            labels = Idx.readLabels(in, base + "-labels-idx1-ubyte.gz");
        }
        return build(prefix + " (built-in subset)", im, labels, base);
    }

    private static InputStream open(String resource) throws IOException {
        InputStream in = FashionMnist.class.getResourceAsStream(resource);
        if (in == null) {
            throw new IOException("resource " + resource + " missing from the kat-models jar");
        }
        return in;
    }

    private static ImageDataset build(String name, Idx.Images im, int[] labels, String files) throws IOException {
        if (im.count() != labels.length) {
            throw new IOException(files + ": " + im.count() + " images but " + labels.length + " labels");
        }
        try {
            return new ImageDataset("fashion-mnist " + name, im.pixels(), labels, 1, im.rows(), im.cols(), 10,
                    new float[]{MEAN}, new float[]{STD}, List.of(CLASSES));
        } catch (IllegalArgumentException e) {
            throw new IOException(files + ": " + e.getMessage(), e);
        }
    }
}
