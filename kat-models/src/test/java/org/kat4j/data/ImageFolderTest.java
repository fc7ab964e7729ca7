package org.kat4j.data;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ImageFolderTest {
    @Test
    void meanAndStdPerChannelMatchADirectFloat64Sum() {
        int plane = 5;
        byte[] px = new byte[3 * 3 * plane];
        new Random(2).nextBytes(px);
        float[][] got = ImageFolder.meanStd(px, plane);
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            double sq = 0;
            for (int img = 0; img < 3; img++) {
                for (int p = 0; p < plane; p++) {
                    double v = (px[img * 3 * plane + c * plane + p] & 0xff) / 255.0;
                    sum += v;
                    sq += v * v;
                }
            }
            double mean = sum / (3 * plane);
            assertEquals((float) mean, got[0][c], 1e-7, "mean of channel " + c);
            assertEquals((float) Math.sqrt(sq / (3 * plane) - mean * mean), got[1][c], 1e-6, "std of channel " + c);
        }
        // a constant channel keeps a unit-scale floor instead of a zero
        assertEquals(1e-3f, ImageFolder.meanStd(new byte[3 * plane], plane)[1][0], 0);
    }
}
