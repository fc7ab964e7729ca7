package org.kat4j.backend;

import java.util.Locale;

/**
 * Where a tensor's values live: {@code cpu}, or an accelerator such as {@code cuda:0}. Every
 * {@link Backend} serves one device; {@link Backends} finds them.
 *
 * @param type  the kind of device ("cpu", "cuda")
 * @param index the device number within its kind (0 for the CPU)
 */
public record Device(String type, int index) {
    /** Host memory, served by the ND4J CPU backend that kat-core brings. */
    public static final Device CPU = new Device("cpu", 0);

    public Device {
        if (type == null || type.isBlank()) {
            throw new IllegalArgumentException("device type is empty, expected cpu or cuda");
        }
        type = type.toLowerCase(Locale.ROOT);
        if (index < 0) {
            throw new IllegalArgumentException("device " + type + ":" + index + ": index must be >= 0");
        }
    }

    /** {@code cuda:n}. */
    public static Device cuda(int index) {
        return new Device("cuda", index);
    }

    /** Parses {@code cpu}, {@code cuda} (device 0) or {@code cuda:N}. */
    public static Device parse(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        int colon = t.indexOf(':');
        if (colon < 0) {
            return new Device(t, 0);
        }
        try {
            return new Device(t.substring(0, colon), Integer.parseInt(t.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("device '" + s + "': expected cpu, cuda or cuda:N");
        }
    }

    /** The fastest device with a working backend: an accelerator when one works, else the CPU. */
    public static Device best() {
        return Backends.best().device();
    }

    public boolean isCpu() {
        return type.equals("cpu");
    }

    @Override
    public String toString() {
        return isCpu() ? "cpu" : type + ":" + index;
    }
}
