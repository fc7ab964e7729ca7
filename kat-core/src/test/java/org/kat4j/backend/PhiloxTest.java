package org.kat4j.backend;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Philox4x32-10 against Random123's published known-answer vectors (its tests/kat_vectors). */
class PhiloxTest {
    @Test
    void knownAnswers() {
        assertArrayEquals(new int[]{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                Philox.block(new int[]{0, 0, 0, 0}, new int[]{0, 0}));
        assertArrayEquals(new int[]{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                Philox.block(new int[]{-1, -1, -1, -1}, new int[]{-1, -1}));
        assertArrayEquals(new int[]{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1},
                Philox.block(new int[]{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, new int[]{0xa4093822, 0x299f31d0}));
    }

    @Test
    void streamWordsAndUniforms() {
        // word i of the stream of seed 0 is word i mod 4 of the block with counter i / 4
        assertEquals(0x6627e8d5, Philox.word(0, 0));
        assertEquals(0x9b00dbd8, Philox.word(0, 3));
        assertEquals(Philox.block(new int[]{1, 0, 0, 0}, new int[]{0, 0})[2], Philox.word(0, 6));
        assertEquals(0.5 / (1 << 24), Philox.uniform(0), 0);
        assertEquals(1 - 0.5 / (1 << 24), Philox.uniform(-1), 0);
        double[] u = new double[8];
        Philox.fill(u, 0, 0, false, 0, 1);
        assertEquals(Philox.uniform(0x6627e8d5), u[0], 0);
        assertEquals(Philox.uniform(Philox.word(0, 5)), u[5], 0);
    }

    @Test
    void wordRangesMatchSingleWords() {
        for (long offset : new long[]{0, 1, 3, 4, 0xFFFFFFFFL * 4 + 2}) {
            int[] w = new int[11];
            Philox.words(77, offset, w, w.length);
            for (int j = 0; j < w.length; j++) {
                assertEquals(Philox.word(77, offset + j), w[j], "word " + (offset + j));
            }
        }
    }

    @Test
    void dropThresholdDecidesAsTheUniformDoes() {
        double[] ps = {0, 1e-9, 0.1, 0.25, 0.3, 0.5, 0.7, 0.999, 1 - 1e-9, 1, 0.5 / (1 << 24), 1.5 / (1 << 24)};
        java.util.Random r = new java.util.Random(3);
        for (int i = 0; i < 100; i++) {
            ps = java.util.Arrays.copyOf(ps, ps.length + 1);
            ps[ps.length - 1] = r.nextDouble();
        }
        for (double p : ps) {
            int t = Philox.dropThreshold(p);
            // the two 24-bit values either side of the threshold decide like the uniform
            for (int u : new int[]{t - 1, t}) {
                if (u >= 0 && u < (1 << 24)) {
                    assertEquals(Philox.uniform(u << 8) < p, u < t, "p " + p + ", u " + u);
                }
            }
        }
        assertEquals(0, Philox.dropThreshold(0));
        assertEquals(1 << 24, Philox.dropThreshold(1));
        assertThrows(IllegalArgumentException.class, () -> Philox.dropThreshold(Double.NaN));
    }
}
