package org.kat4j.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Image files in one folder per class, as torchvision's {@code ImageFolder} reads them:
 * {@code DIR/train/CLASS/*.png} and {@code DIR/val/CLASS/*.jpg} (or {@code test} for {@code val}).
 * The classes are the training folder's sub-folders in name order; every image is resized
 * (bicubic) so that its shorter side is the model's input size, centre-cropped to a square and
 * kept as RGB bytes; the mean and standard deviation of the training images, per channel, become
 * the normalisation. Files whose names do not end in an image extension, and files and folders
 * whose names start with a dot, are left out.
 */
public final class ImageFolder {
    /** File name endings read as images (case-insensitive): what ImageIO decodes. */
    static final Set<String> EXTENSIONS = Set.of("png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "wbmp");

    private ImageFolder() {
    }

    /** Whether {@code dir} has the layout: a {@code train} folder and a {@code val} or {@code test} folder. */
    public static boolean looksLikeOne(Path dir) {
        return Files.isDirectory(dir.resolve("train")) && (Files.isDirectory(dir.resolve("val"))
                || Files.isDirectory(dir.resolve("test")));
    }

    /**
     * The training and validation images of {@code dir} at {@code size} x {@code size}.
     *
     * @param maxBytes the most pixel memory the two splits may take; a larger data set is refused
     *                 before any image is decoded
     */
    public static Splits load(Path dir, int size, long maxBytes) throws IOException {
        return load(dir, size, maxBytes, (done, total) -> {
        });
    }

    /** Told how many of the images have been read, from the reading threads. */
    @FunctionalInterface
    public interface Progress {
        void read(int done, int total);
    }

    /** As {@link #load(Path, int, long)}, telling {@code progress} after every image. */
    public static Splits load(Path dir, int size, long maxBytes, Progress progress) throws IOException {
        Listing l = listing(dir, size);
        l.checkMemory(dir, size, maxBytes, true);
        Runnable tick = l.ticker(progress, true);
        byte[] trainPixels = read(l.trainFiles, size, tick);
        float[][] norm = meanStd(trainPixels, size * size);
        ImageDataset train = new ImageDataset("folder train (" + l.trainDir + ")", trainPixels, ints(l.trainLabels), 3, size,
                size, l.classes.size(), norm[0], norm[1], l.classes);
        return new Splits(train, l.val(size, norm[0], norm[1], tick), "image folders in " + dir + " (" + l.classes.size()
                + " classes)");
    }

    /**
     * The validation images of {@code dir} alone, normalised with the given per-channel mean and
     * standard deviation (those of the data a model was trained on): for evaluating a model
     * without decoding the training images. The labels follow the training folder's class folders.
     */
    public static ImageDataset loadTest(Path dir, int size, long maxBytes, float[] mean, float[] std, Progress progress)
            throws IOException {
        Listing l = listing(dir, size);
        l.checkMemory(dir, size, maxBytes, false);
        return l.val(size, mean, std, l.ticker(progress, false));
    }

    /** The classes and the files of both splits, listed but not read. */
    private record Listing(Path trainDir, Path valDir, List<String> classes, List<Path> trainFiles, List<Integer> trainLabels,
                           List<Path> valFiles, List<Integer> valLabels) {
        void checkMemory(Path dir, int size, long maxBytes, boolean withTrain) throws IOException {
            int n = (withTrain ? trainFiles.size() : 0) + valFiles.size();
            long bytes = (long) n * 3 * size * size;
            if (bytes > maxBytes) {
                throw new IOException(String.format(Locale.ROOT, "%s: %,d images at 3x%dx%d take %,d MB in memory, more than"
                        + " the %,d MB this JVM can spare (-Xmx raises it)", dir, n, size, size, bytes >> 20, maxBytes >> 20));
            }
            for (List<Path> split : withTrain ? List.of(trainFiles, valFiles) : List.of(valFiles)) {
                long splitBytes = (long) split.size() * 3 * size * size;
                if (splitBytes > Integer.MAX_VALUE - 8) {
                    throw new IOException(String.format(Locale.ROOT, "%s: %,d images at 3x%dx%d take %,d MB, more than the"
                            + " 2,047 MB that one split of an in-memory data set can hold (use fewer images or a smaller"
                            + " model input)", split == trainFiles ? trainDir : valDir, split.size(), size, size,
                            splitBytes >> 20));
                }
            }
        }

        Runnable ticker(Progress progress, boolean withTrain) {
            int total = (withTrain ? trainFiles.size() : 0) + valFiles.size();
            java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
            return () -> progress.read(done.incrementAndGet(), total);
        }

        ImageDataset val(int size, float[] mean, float[] std, Runnable tick) throws IOException {
            return new ImageDataset("folder " + valDir.getFileName() + " (" + valDir + ")", read(valFiles, size, tick),
                    ints(valLabels), 3, size, size, classes.size(), mean, std, classes);
        }
    }

    private static Listing listing(Path dir, int size) throws IOException {
        if (size < 1) {
            throw new IllegalArgumentException("image size " + size + ", expected >= 1");
        }
        Path trainDir = dir.resolve("train");
        Path valDir = Files.isDirectory(dir.resolve("val")) ? dir.resolve("val") : dir.resolve("test");
        if (!Files.isDirectory(trainDir) || !Files.isDirectory(valDir)) {
            throw new IOException(dir + ": expected a train folder and a val (or test) folder, each with one folder of"
                    + " images per class");
        }
        List<String> classes = new ArrayList<>();
        try (Stream<Path> s = Files.list(trainDir)) {
            s.filter(ImageFolder::isClassFolder).map(p -> p.getFileName().toString()).sorted().forEach(classes::add);
        }
        if (classes.size() < 2) {
            throw new IOException(trainDir + ": " + classes.size() + " class folder" + (classes.size() == 1 ? "" : "s")
                    + ", expected at least 2");
        }
        Listing l = new Listing(trainDir, valDir, classes, new ArrayList<>(), new ArrayList<>(), new ArrayList<>(),
                new ArrayList<>());
        list(trainDir, classes, l.trainFiles, l.trainLabels, true);
        try (Stream<Path> s = Files.list(valDir)) {
            for (Path p : (Iterable<Path>) s.filter(ImageFolder::isClassFolder).sorted()::iterator) {
                if (!classes.contains(p.getFileName().toString())) {
                    throw new IOException(p + ": a class that " + trainDir + " does not have (its classes: "
                            + String.join(", ", classes) + ")");
                }
            }
        }
        list(valDir, classes, l.valFiles, l.valLabels, false);
        if (l.valFiles.isEmpty()) {
            throw new IOException(valDir + ": no images");
        }
        return l;
    }

    /** The image files of each class folder of {@code split} in name order, with their labels. */
    private static void list(Path split, List<String> classes, List<Path> files, List<Integer> labels, boolean everyClass)
            throws IOException {
        for (int c = 0; c < classes.size(); c++) {
            Path folder = split.resolve(classes.get(c));
            if (!Files.isDirectory(folder)) {
                continue;
            }
            List<Path> images;
            try (Stream<Path> s = Files.list(folder)) {
                images = s.filter(p -> Files.isRegularFile(p) && isImage(p)).sorted().toList();
            }
            if (images.isEmpty() && everyClass) {
                throw new IOException(folder + ": no images (" + String.join(", ", EXTENSIONS.stream().sorted().toList())
                        + ")");
            }
            for (Path p : images) {
                files.add(p);
                labels.add(c);
            }
        }
    }

    /** A file with an image extension whose name does not start with a dot (hidden files, macOS's ._ files). */
    static boolean isImage(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 && !n.startsWith(".") && EXTENSIONS.contains(n.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    /** A directory whose name does not start with a dot (.ipynb_checkpoints and the like are no class). */
    private static boolean isClassFolder(Path p) {
        return Files.isDirectory(p) && !p.getFileName().toString().startsWith(".");
    }

    /** Every file decoded, resized and cropped into [n][3][size][size] bytes, on all cores. */
    private static byte[] read(List<Path> files, int size, Runnable tick) throws IOException {
        int plane = size * size;
        byte[] out = new byte[files.size() * 3 * plane];
        try {
            IntStream.range(0, files.size()).parallel().forEach(i -> {
                BufferedImage img;
                try {
                    img = Images.resizeAndCrop(Images.read(files.get(i)), size, size);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                } catch (IllegalArgumentException e) {
                    throw new UncheckedIOException(new IOException(files.get(i) + ": " + e.getMessage(), e));
                }
                int base = i * 3 * plane;
                int[] rgb = img.getRGB(0, 0, size, size, null, 0, size);
                for (int p = 0; p < plane; p++) {
                    out[base + p] = (byte) (rgb[p] >> 16);
                    out[base + plane + p] = (byte) (rgb[p] >> 8);
                    out[base + 2 * plane + p] = (byte) rgb[p];
                }
                tick.run();
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return out;
    }

    /** Per-channel mean and standard deviation of pixel/255 over images of 3 planes. */
    static float[][] meanStd(byte[] pixels, int plane) {
        // a histogram of byte values per channel: exact sums, and no arithmetic per pixel
        long[][] counts = new long[3][256];
        for (int base = 0; base < pixels.length; base += 3 * plane) {
            for (int c = 0; c < 3; c++) {
                long[] h = counts[c];
                for (int i = base + c * plane, end = i + plane; i < end; i++) {
                    h[pixels[i] & 0xff]++;
                }
            }
        }
        long n = pixels.length / 3;
        float[][] out = new float[2][3];
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            double sq = 0;
            for (int v = 0; v < 256; v++) {
                sum += counts[c][v] * (v / 255.0);
                sq += counts[c][v] * (v / 255.0) * (v / 255.0);
            }
            double mean = sum / n;
            out[0][c] = (float) mean;
            // a constant channel keeps a unit scale rather than dividing by zero
            out[1][c] = (float) Math.max(Math.sqrt(Math.max(sq / n - mean * mean, 0)), 1e-3);
        }
        return out;
    }

    private static int[] ints(List<Integer> l) {
        return l.stream().mapToInt(Integer::intValue).toArray();
    }
}
