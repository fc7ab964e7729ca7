package org.kat4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * CIFAR-10 in its binary version ({@code data_batch_1..5.bin}, {@code test_batch.bin}): records of
 * one label byte and 3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, row-major 32x32).
 */
public final class Cifar10 {
    static final int RECORD = 1 + 3 * 32 * 32;
    public static final String[] CLASSES = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
            "truck"};

    private Cifar10() {
    }

    /** The training batches and the test batch of a directory. */
    public static Splits load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("CIFAR-10: " + dir + " is not a directory");
        }
        List<Path> train = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().matches("data_batch_\\d+\\.bin")).sorted().forEach(train::add);
        }
        if (train.isEmpty()) {
            throw new IOException("CIFAR-10: no data_batch_N.bin in " + dir);
        }
        Path test = dir.resolve("test_batch.bin");
        if (!Files.exists(test)) {
            throw new IOException("CIFAR-10: no test_batch.bin in " + dir);
        }
        return new Splits(read("cifar-10 train", train), read("cifar-10 test", List.of(test)), "CIFAR-10 in " + dir);
    }

    /** Concatenates batch files into one data set. */
    public static ImageDataset read(String name, List<Path> files) throws IOException {
        List<byte[]> parts = new ArrayList<>();
        long records = 0;
        for (Path f : files) {
            byte[] b = Files.readAllBytes(f);
            if (b.length == 0 || b.length % RECORD != 0) {
                throw new IOException(f + ": " + b.length + " bytes is not a whole number of " + RECORD
                        + "-byte CIFAR-10 records (truncated or not a CIFAR-10 binary batch)");
            }
            for (int off = 0; off < b.length; off += RECORD) {
                int label = b[off] & 0xff;
                if (label > 9) {
                    throw new IOException(f + ": record " + off / RECORD + " has label " + label + ", expected 0..9");
                }
            }
            parts.add(b);
            records += b.length / RECORD;
        }
        int n = Math.toIntExact(records);
        byte[] pixels = new byte[n * (RECORD - 1)];
        int[] labels = new int[n];
        int k = 0;
        for (byte[] b : parts) {
            for (int off = 0; off < b.length; off += RECORD, k++) {
                labels[k] = b[off] & 0xff;
                System.arraycopy(b, off + 1, pixels, k * (RECORD - 1), RECORD - 1);
            }
        }
        return new ImageDataset(name, pixels, labels, 3, 32, 32, 10, new float[]{0.4914f, 0.4822f, 0.4465f},
                new float[]{0.2470f, 0.2435f, 0.2616f}, List.of(CLASSES));
    }
}
