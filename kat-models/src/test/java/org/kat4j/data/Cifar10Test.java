package org.kat4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Cifar10Test {
    static byte[] records(int... labels) {
        byte[] b = new byte[labels.length * Cifar10.RECORD];
        for (int i = 0; i < labels.length; i++) {
            b[i * Cifar10.RECORD] = (byte) labels[i];
            b[i * Cifar10.RECORD + 1] = (byte) (10 + i);          // first red pixel
            b[i * Cifar10.RECORD + 1 + 1024] = (byte) (100 + i);  // first green pixel
        }
        return b;
    }

    @Test
    void readsBatchesChannelsFirst(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve("data_batch_1.bin"), records(3, 9));
        Files.write(dir.resolve("data_batch_2.bin"), records(0));
        Files.write(dir.resolve("test_batch.bin"), records(7));
        Splits s = Cifar10.load(dir);
        assertEquals(3, s.train().size());
        assertArrayEquals(new int[]{3, 9, 0}, s.train().labels());
        assertEquals(3, s.train().channels());
        assertEquals(11, s.train().pixels()[3072]);          // image 1, red (0, 0)
        assertEquals(101, s.train().pixels()[3072 + 1024]);  // image 1, green (0, 0)
        assertEquals(1, s.test().size());
        Batcher b = new Batcher(s.train(), 2, false, 0, false, new java.util.Random(0));
        assertArrayEquals(new long[]{2, 3, 32, 32}, b.next().images().shape());
    }

    @Test
    void truncatedOrBadFilesAreRefused(@TempDir Path dir) throws IOException {
        byte[] r = records(1, 2);
        Files.write(dir.resolve("data_batch_1.bin"), java.util.Arrays.copyOf(r, r.length - 10));
        Files.write(dir.resolve("test_batch.bin"), records(7));
        var e = assertThrows(IOException.class, () -> Cifar10.load(dir));
        assertTrue(e.getMessage().contains("data_batch_1.bin") && e.getMessage().contains("3073"), e.getMessage());
        r[Cifar10.RECORD] = (byte) 12;
        Files.write(dir.resolve("data_batch_1.bin"), r);
        e = assertThrows(IOException.class, () -> Cifar10.load(dir));
        assertTrue(e.getMessage().contains("label 12"), e.getMessage());
        assertThrows(IOException.class, () -> Cifar10.load(dir.resolve("missing")));
    }
}
