package org.kat4j.cli;

import org.junit.jupiter.api.Test;
import org.kat4j.backend.Device;
import org.kat4j.backend.SimBackend;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --device: cpu, a device found here, auto (with a line saying which), and clear refusals. */
class DeviceOptionsTest {
    private static Device resolve(String value, PrintStream out) {
        DeviceOptions o = new DeviceOptions();
        o.device = value;
        return o.resolve(out);
    }

    @Test
    void resolvesWhatWorksAndRefusesTheRest() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(buf, true);
        assertEquals(Device.CPU, resolve("cpu", out));
        assertEquals(SimBackend.DEVICE, resolve("SIM:0", out), "the test device is found like a GPU would be");
        assertEquals("", buf.toString(), "an explicit device prints nothing");
        Device auto = resolve("auto", out);
        assertTrue(!auto.isCpu(), "auto prefers an accelerator: " + auto);
        assertTrue(buf.toString().startsWith("device: " + auto + " (auto: "), buf.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> resolve("cuda:3", out));
        assertTrue(e.getMessage().startsWith("--device cuda:3 is not available here: devices [cpu, ") && e.getMessage().contains("sim:0"),
                e.getMessage());
        assertTrue(e.getMessage().contains("cpu: available"), e.getMessage());
        assertTrue(e.getMessage().contains("cuda: "), "the CUDA provider says why: " + e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resolve("cuda:x", out));
        assertEquals("--device 'cuda:x': expected cpu, cuda, cuda:N or auto", e.getMessage());
    }

    /**
     * --cuda-graphs: kept on a device that records (the emulated CUDA device), refused with one line
     * on one that does not, or for several replicas, and dropped with a line where auto chose it.
     */
    @Test
    void cudaGraphsNeedADeviceThatRecords() {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(buf, true);
        DeviceOptions cpu = new DeviceOptions();
        cpu.device = "cpu";
        DeviceOptions auto = new DeviceOptions();
        auto.device = "Auto";
        assertEquals(false, TrainCommand.cudaGraphs(false, cpu, Device.CPU, 2, out), "not asked for: nothing to check");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainCommand.cudaGraphs(true, cpu, Device.CPU, 2, out));
        assertEquals("--cuda-graphs records a CUDA device's work; the model is on cpu (add --device cuda)", e.getMessage());
        assertEquals(false, TrainCommand.cudaGraphs(true, auto, SimBackend.DEVICE, 1, out));
        assertEquals("--cuda-graphs: not on sim:0 (auto found no CUDA device); the steps run eagerly", buf.toString().strip());
        Device emu = new Device("emu", 0);
        if (org.kat4j.backend.Backends.devices().contains(emu)) {
            assertEquals(true, TrainCommand.cudaGraphs(true, auto, emu, 1, out));
            e = assertThrows(IllegalArgumentException.class, () -> TrainCommand.cudaGraphs(true, cpu, emu, 2, out));
            assertEquals("--cuda-graphs records one replica's step; --replicas 2 asked for more", e.getMessage());
        }
    }
}
