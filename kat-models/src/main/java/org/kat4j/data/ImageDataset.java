package org.kat4j.data;

import java.util.Arrays;
import java.util.List;

/**
 * Labelled images in memory: unsigned bytes [n][channels][height][width] and class labels.
 *
 * @param mean       per-channel mean of pixel/255 used for normalisation
 * @param std        per-channel standard deviation of pixel/255
 * @param classNames the classes' names, label by label, or an empty list where they are not known
 */
public record ImageDataset(String name, byte[] pixels, int[] labels, int channels, int height, int width, int classes,
                           float[] mean, float[] std, List<String> classNames) {
    /** A data set whose classes have no names. */
    public ImageDataset(String name, byte[] pixels, int[] labels, int channels, int height, int width, int classes, float[] mean,
                        float[] std) {
        this(name, pixels, labels, channels, height, width, classes, mean, std, List.of());
    }

    public ImageDataset {
        classNames = List.copyOf(classNames);
        if (!classNames.isEmpty() && classNames.size() != classes) {
            throw new IllegalArgumentException(name + ": " + classNames.size() + " class names for " + classes + " classes");
        }
        if (pixels.length != (long) labels.length * channels * height * width) {
            throw new IllegalArgumentException(name + ": " + pixels.length + " pixel bytes for " + labels.length + " images of "
                    + channels + "x" + height + "x" + width);
        }
        for (int l : labels) {
            if (l < 0 || l >= classes) {
                throw new IllegalArgumentException(name + ": label " + l + " outside [0, " + classes + ")");
            }
        }
    }

    public int size() {
        return labels.length;
    }

    public int imageSize() {
        return channels * height * width;
    }

    /** Images per class. */
    public int[] classCounts() {
        int[] c = new int[classes];
        for (int l : labels) {
            c[l]++;
        }
        return c;
    }

    @Override
    public String toString() {
        return name + " (" + size() + " images " + channels + "x" + height + "x" + width + ", per class "
                + Arrays.toString(classCounts()) + ")";
    }
}
