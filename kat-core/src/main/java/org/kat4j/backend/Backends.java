package org.kat4j.backend;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * The backends of this process, found once through {@link BackendProvider}s: {@link #cpu()} always
 * works; {@link #forDevice(Device)} finds the one serving a device, {@link #report()} says what was
 * found and why a device is not used.
 */
public final class Backends {
    private static final Logger LOG = LoggerFactory.getLogger(Backends.class);
    private static volatile Registry registry;

    private Backends() {
    }

    private record Registry(Backend cpu, Map<Device, Backend> byDevice, List<String> report) {
    }

    private static Registry registry() {
        Registry r = registry;
        if (r == null) {
            synchronized (Backends.class) {
                if (registry == null) {
                    registry = discover();
                }
                r = registry;
            }
        }
        return r;
    }

    private static Registry discover() {
        Map<Device, Backend> byDevice = new LinkedHashMap<>();
        List<String> report = new ArrayList<>();
        Throwable cpuFailure = null;
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            List<Backend> found;
            try {
                found = p.backends();
            } catch (Throwable t) {
                report.add(p.type() + ": failed (" + t + ")");
                if (p.type().equals("cpu")) {
                    cpuFailure = t;
                }
                continue;
            }
            report.add(p.type() + ": " + p.status());
            for (Backend b : found) {
                byDevice.putIfAbsent(b.device(), b);
            }
        }
        Backend cpu = byDevice.get(Device.CPU);
        if (cpu == null && cpuFailure != null) {
            Throwable root = cpuFailure;
            while (root instanceof ExceptionInInitializerError && root.getCause() != null) {
                root = root.getCause(); // the class initialiser's own message
            }
            throw new IllegalStateException("the CPU backend did not start: " + root.getMessage(), cpuFailure);
        }
        if (cpu == null) {
            throw new IllegalStateException("no CPU backend found: kat-core's META-INF/services/"
                    + BackendProvider.class.getName() + " is missing from the class path");
        }
        for (Backend b : byDevice.values()) {
            if (!b.device().isCpu()) {
                LOG.info("backend found: {} ({})", b.device(), b.describe());
            }
        }
        return new Registry(cpu, Map.copyOf(byDevice), List.copyOf(report));
    }

    /** The CPU backend. */
    public static Backend cpu() {
        return registry().cpu();
    }

    /** The backend serving {@code device}, or an error listing the devices that work. */
    public static Backend forDevice(Device device) {
        if (device.isCpu()) {
            return cpu();
        }
        Backend b = registry().byDevice().get(device);
        if (b == null) {
            throw new IllegalArgumentException("device " + device + " is not available; devices: " + devices()
                    + " (" + String.join("; ", report()) + ")");
        }
        return b;
    }

    /** The devices with a working backend, the CPU first. */
    public static List<Device> devices() {
        List<Device> out = new ArrayList<>();
        out.add(Device.CPU);
        for (Device d : registry().byDevice().keySet()) {
            if (!d.isCpu()) {
                out.add(d);
            }
        }
        return out;
    }

    /** The first accelerator's backend if one works, else the CPU's. */
    public static Backend best() {
        for (Backend b : registry().byDevice().values()) {
            if (!b.device().isCpu()) {
                return b;
            }
        }
        return cpu();
    }

    /** Every working backend, the CPU first (for {@link org.kat4j.tensor.Scope}). */
    public static List<Backend> all() {
        List<Backend> out = new ArrayList<>();
        for (Device d : devices()) {
            out.add(forDevice(d));
        }
        return out;
    }

    /** One line per provider found, with its status: for {@code kat info}. */
    public static List<String> report() {
        return registry().report();
    }
}
