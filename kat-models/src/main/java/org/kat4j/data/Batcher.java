package org.kat4j.data;

import org.kat4j.tensor.Tensor;

import java.util.Random;

/**
 * Mini-batches of normalised images [B, C, H, W] (float32) and labels, shuffled each epoch by a
 * seeded Random, with optional augmentation for small images: random crop after zero padding
 * and horizontal flip.
 */
public final class Batcher {
    private final ImageDataset data;
    private final int batchSize;
    private final boolean shuffle;
    private final int pad;
    private final boolean flip;
    private final Random rng;
    private int[] order;
    private int next;
    private float[][] levels;

    /** One mini-batch. */
    public record Batch(Tensor images, int[] labels) {
    }

    public Batcher(ImageDataset data, int batchSize, boolean shuffle, int pad, boolean flip, Random rng) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size " + batchSize + ", expected >= 1");
        }
        this.data = data;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.pad = pad;
        this.flip = flip;
        this.rng = rng;
        startEpoch();
    }

    /** Batches per epoch (the last one may be smaller). */
    public int batchesPerEpoch() {
        return (data.size() + batchSize - 1) / batchSize;
    }

    /** Restarts the shuffling/augmentation random stream (per epoch, so a resumed run repeats it). */
    public void reseed(long seed) {
        rng.setSeed(seed);
    }

    /** Reshuffles (if enabled) and rewinds. */
    public void startEpoch() {
        int n = data.size();
        order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (shuffle) {
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        next = 0;
    }

    /**
     * Per channel, the normalised value of each of the 256 pixel levels, (level / 255 - mean) / std
     * computed as the per-pixel formula does (so the same bits): one table read per pixel.
     */
    private float[][] levels() {
        if (levels == null) {
            float[][] t = new float[data.channels()][256];
            for (int ch = 0; ch < t.length; ch++) {
                float mean = data.mean()[ch];
                float inv = 1f / data.std()[ch];
                for (int p = 0; p < 256; p++) {
                    t[ch][p] = (p / 255f - mean) * inv;
                }
            }
            levels = t;
        }
        return levels;
    }

    public boolean hasNext() {
        return next < order.length;
    }

    public Batch next() {
        int b = Math.min(batchSize, order.length - next);
        int c = data.channels();
        int h = data.height();
        int w = data.width();
        int size = data.imageSize();
        float[] out = new float[b * size];
        int[] labels = new int[b];
        byte[] px = data.pixels();
        float[][] lut = levels();
        for (int k = 0; k < b; k++) {
            int idx = order[next + k];
            labels[k] = data.labels()[idx];
            int dy = pad > 0 ? rng.nextInt(2 * pad + 1) - pad : 0;
            int dx = pad > 0 ? rng.nextInt(2 * pad + 1) - pad : 0;
            boolean mirror = flip && rng.nextBoolean();
            for (int ch = 0; ch < c; ch++) {
                float[] level = lut[ch];
                int src = idx * size + ch * h * w;
                int dst = k * size + ch * h * w;
                for (int y = 0; y < h; y++) {
                    int sy = y + dy;
                    int row = dst + y * w;
                    if (sy < 0 || sy >= h) {
                        java.util.Arrays.fill(out, row, row + w, level[0]); // padding: a pixel of 0
                        continue;
                    }
                    int from = src + sy * w;
                    for (int x = 0; x < w; x++) {
                        int sx = (mirror ? w - 1 - x : x) + dx;
                        out[row + x] = sx < 0 || sx >= w ? level[0] : level[px[from + sx] & 0xff];
                    }
                }
            }
        }
        next += b;
        return new Batch(Tensor.of(out, b, c, h, w), labels);
    }
}
