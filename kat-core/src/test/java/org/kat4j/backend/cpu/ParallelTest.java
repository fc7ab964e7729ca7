package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every item runs exactly once, whatever the count; a failing item's exception reaches the caller. */
class ParallelTest {
    @Test
    void eachItemRunsOnce() {
        for (int count : new int[] {0, 1, 2, 3, 7, 74, 1000}) {
            AtomicIntegerArray runs = new AtomicIntegerArray(count);
            Parallel.forEach(count, runs::incrementAndGet);
            for (int i = 0; i < count; i++) {
                assertEquals(1, runs.get(i), "item " + i + " of " + count);
            }
        }
    }

    @Test
    void failuresPropagate() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Parallel.forEach(50, i -> {
            if (i == 17) {
                throw new IllegalStateException("item 17");
            }
        }));
        // thrown on a pool thread, the fork-join pool rethrows a copy whose message names the original
        assertTrue(e.getMessage().contains("item 17"), e.getMessage());
    }
}
