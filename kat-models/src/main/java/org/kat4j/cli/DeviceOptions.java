package org.kat4j.cli;

import org.kat4j.backend.Backend;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import picocli.CommandLine.Option;

import java.io.PrintStream;

/** Which device a command runs the model on (train, eval, compare, predict). */
final class DeviceOptions {
    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N, or auto (the GPU when one works,"
            + " else the CPU). Default ${DEFAULT-VALUE}.")
    String device;

    /** The device asked for, with one line saying which when {@code auto} chose; refuses one that does not work here. */
    Device resolve(PrintStream out) {
        String d = device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.equals("auto")) {
            Backend b = Backends.best();
            out.println("device: " + b.device() + " (auto: " + b.describe() + ")");
            return b.device();
        }
        Device asked;
        try {
            asked = Device.parse(d);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--device '" + device + "': expected cpu, cuda, cuda:N or auto");
        }
        if (!Backends.devices().contains(asked)) {
            throw new IllegalArgumentException("--device " + asked + " is not available here: devices " + Backends.devices()
                    + " (" + String.join("; ", Backends.report()) + ")");
        }
        return asked;
    }

    /** Whether the device came from {@code --device auto}. */
    boolean auto() {
        return device.trim().equalsIgnoreCase("auto");
    }
}
