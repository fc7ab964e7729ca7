package org.kat4j.cuda;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Backends;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The caching allocator's graph pools, on the emulated device's memory. */
class DeviceMemoryTest {
    @Test
    void aGraphKeepsTheBlocksItTookUntilItCloses() {
        assumeTrue(Backends.devices().contains(EmuGpu.DEVICE), String.join("; ", Backends.report()));
        DeviceMemory m = new DeviceMemory(new EmuGpu());
        DeviceMemory.Raw before = m.take(1000);
        m.give(before);

        m.beginGraph();
        DeviceMemory.Raw a = m.take(1000);
        assertEquals(before, a, "the recording takes from the cache");
        m.give(a);
        DeviceMemory.Raw b = m.take(1000);
        assertEquals(a, b, "and takes back what it gave back while recording");
        DeviceMemory.Raw scratch = m.take(5000);
        m.give(scratch);
        DeviceMemory.GraphPool pool = m.endGraph();

        m.give(b); // its storage released after the recording: still the graph's
        DeviceMemory.Raw eager = m.take(1000);
        assertNotEquals(b, eager, "a block the graph uses is not handed out");
        DeviceMemory.Raw eager2 = m.take(5000);
        assertNotEquals(scratch, eager2, "nor is the recording's scratch");
        assertEquals(2 * 1024 + 2 * 5120, m.inUse(), "the graph's two blocks and the two eager ones are in use");
        m.give(eager);
        m.give(eager2);

        m.closeGraph(pool);
        assertEquals(0, m.inUse());
        long drivers = m.driverAllocations();
        m.take(1000);
        m.take(1000);
        m.take(5000);
        m.take(5000);
        assertEquals(drivers, m.driverAllocations(), "closed: its blocks are back in the cache");
    }
}
