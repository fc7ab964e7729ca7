package org.kat4j.backend;

/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011), the
 * counter-based generator that cuRAND and PyTorch's CUDA generator use: 10 rounds of a keyed
 * bijection on a 128-bit counter. Output block k of a stream depends only on (key, k), so any
 * element can be computed on its own, in any order, on any device: the same seed gives the same
 * values on the CPU and on a GPU.
 *
 * <p>Stream layout used by {@link Backend#random}: element i takes 32-bit word (i mod 4) of the
 * block with counter (offset + i) / 4 (offset a multiple of 4 keeps blocks aligned); the key is
 * the 64-bit seed. Uniforms are ((word &gt;&gt;&gt; 8) + 0.5) * 2^-24, in (0, 1). Normals take Box-Muller
 * of two uniforms: words 2 (i mod 2) and 2 (i mod 2) + 1 of block i / 2 in a second counter range
 * (counter word 2 set to 1), so element i of a normal stream is again a function of i alone.
 */
public final class Philox {
    private static final int M0 = 0xD2511F53;
    private static final int M1 = 0xCD9E8D57;
    private static final int W0 = 0x9E3779B9;
    private static final int W1 = 0xBB67AE85;

    private Philox() {
    }

    /** One Philox4x32-10 block: the four output words for counter {@code ctr} and key {@code key}. */
    public static int[] block(int[] ctr, int[] key) {
        int[] out = new int[4];
        block(ctr, key, out);
        return out;
    }

    /** {@link #block(int[], int[])} into {@code out} (four words): no array per block in the stream loops. */
    private static void block(int[] ctr, int[] key, int[] out) {
        int c0 = ctr[0];
        int c1 = ctr[1];
        int c2 = ctr[2];
        int c3 = ctr[3];
        int k0 = key[0];
        int k1 = key[1];
        for (int r = 0; r < 10; r++) {
            long p0 = (M0 & 0xFFFFFFFFL) * (c0 & 0xFFFFFFFFL);
            long p1 = (M1 & 0xFFFFFFFFL) * (c2 & 0xFFFFFFFFL);
            int n0 = (int) (p1 >>> 32) ^ c1 ^ k0;
            int n1 = (int) p1;
            int n2 = (int) (p0 >>> 32) ^ c3 ^ k1;
            int n3 = (int) p0;
            c0 = n0;
            c1 = n1;
            c2 = n2;
            c3 = n3;
            k0 += W0;
            k1 += W1;
        }
        out[0] = c0;
        out[1] = c1;
        out[2] = c2;
        out[3] = c3;
    }

    /** Word {@code i} of the stream of {@code seed} (block i / 4, word i mod 4). */
    public static int word(long seed, long i) {
        long blockIndex = i >>> 2;
        int[] out = block(new int[]{(int) blockIndex, (int) (blockIndex >>> 32), 0, 0}, new int[]{(int) seed, (int) (seed >>> 32)});
        return out[(int) (i & 3)];
    }

    /**
     * Words {@code offset .. offset + count - 1} of the stream of {@code seed} into {@code out[0 .. count)}:
     * one Philox block per four words, so a range costs a quarter of {@link #word} calls.
     */
    public static void words(long seed, long offset, int[] out, int count) {
        int[] key = {(int) seed, (int) (seed >>> 32)};
        int[] ctr = new int[4];
        int[] w = new int[4];
        int j = 0;
        while (j < count) {
            long i = offset + j;
            long b = i >>> 2;
            ctr[0] = (int) b;
            ctr[1] = (int) (b >>> 32);
            block(ctr, key, w);
            for (int q = (int) (i & 3); q < 4 && j < count; q++) {
                out[j++] = w[q];
            }
        }
    }

    /**
     * Dropout from the stream: element i of a mask is dropped when {@code uniform(word(seed, i)) < p},
     * the same as {@code (word >>> 8) < dropThreshold(p)} in integers, which is how every device
     * decides it (no float rounding between them).
     */
    public static int dropThreshold(double p) {
        if (!(p >= 0 && p <= 1)) {
            throw new IllegalArgumentException("dropout probability " + p + ", expected 0 <= p <= 1");
        }
        // ((u + 0.5) / 2^24 < p) <=> (u < p 2^24 - 0.5) <=> (u < ceil(p 2^24 - 0.5)) for integer u; exact in double
        return (int) Math.max(0, Math.ceil(p * (1 << 24) - 0.5));
    }

    /** A uniform in (0, 1) from a 32-bit word: its top 24 bits plus one half, times 2^-24. */
    public static double uniform(int word) {
        return ((word >>> 8) + 0.5) * (1.0 / (1 << 24));
    }

    /**
     * Fills {@code out} with element offset .. offset + n - 1 of the stream: uniform in [lo, hi)
     * or, when {@code normal}, normal with mean lo and standard deviation hi.
     */
    public static void fill(double[] out, long seed, long offset, boolean normal, double lo, double hi) {
        int[] key = {(int) seed, (int) (seed >>> 32)};
        int[] ctr = new int[4];
        long cachedBlock = -1;
        int[] words = new int[4];
        for (int j = 0; j < out.length; j++) {
            long i = offset + j;
            if (!normal) {
                long b = i >>> 2;
                if (b != cachedBlock) {
                    ctr[0] = (int) b;
                    ctr[1] = (int) (b >>> 32);
                    block(ctr, key, words);
                    cachedBlock = b;
                }
                out[j] = lo + (hi - lo) * uniform(words[(int) (i & 3)]);
            } else {
                // two words per element: block i / 2, words 2 (i mod 2) and 2 (i mod 2) + 1
                long b = i >>> 1;
                if (b != cachedBlock) {
                    ctr[0] = (int) b;
                    ctr[1] = (int) (b >>> 32);
                    ctr[2] = 1; // a different counter range from the uniform stream
                    block(ctr, key, words);
                    ctr[2] = 0;
                    cachedBlock = b;
                }
                int w = (int) (i & 1) * 2;
                double u1 = uniform(words[w]);
                double u2 = uniform(words[w + 1]);
                out[j] = lo + hi * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
            }
        }
    }
}
