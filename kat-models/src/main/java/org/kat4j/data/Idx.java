package org.kat4j.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;

/** Reader for the IDX files of MNIST/Fashion-MNIST (raw or gzip-compressed, detected by content). */
public final class Idx {
    static final int IMAGES_MAGIC = 0x00000803;
    static final int LABELS_MAGIC = 0x00000801;

    private Idx() {
    }

    /** Unsigned bytes of an images file: [n][rows][cols]. */
    public record Images(int count, int rows, int cols, byte[] pixels) {
    }

    static DataInputStream open(InputStream raw) throws IOException {
        BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
        in.mark(2);
        int b0 = in.read();
        int b1 = in.read();
        in.reset();
        InputStream s = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(in, 1 << 16) : in;
        return new DataInputStream(s);
    }

    public static Images readImages(InputStream raw, String name) throws IOException {
        try (DataInputStream in = open(raw)) {
            int magic = header(in, name);
            if (magic != IMAGES_MAGIC) {
                throw new IOException(name + ": magic 0x" + Integer.toHexString(magic) + ", expected 0x803 (IDX images)");
            }
            int n = in.readInt();
            int rows = in.readInt();
            int cols = in.readInt();
            if (n < 0 || rows <= 0 || cols <= 0 || (long) n * rows * cols > Integer.MAX_VALUE) {
                throw new IOException(name + ": implausible dimensions " + n + " x " + rows + " x " + cols);
            }
            byte[] px = readDeclared(in, n * rows * cols, name, "pixels of " + n + " images");
            return new Images(n, rows, cols, px);
        }
    }

    public static int[] readLabels(InputStream raw, String name) throws IOException {
        try (DataInputStream in = open(raw)) {
            int magic = header(in, name);
            if (magic != LABELS_MAGIC) {
                throw new IOException(name + ": magic 0x" + Integer.toHexString(magic) + ", expected 0x801 (IDX labels)");
            }
            int n = in.readInt();
            if (n < 0) {
                throw new IOException(name + ": negative label count " + n);
            }
            byte[] b = readDeclared(in, n, name, n + " labels");
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = b[i] & 0xff;
            }
            return out;
        }
    }

    private static int header(DataInputStream in, String name) throws IOException {
        try {
            return in.readInt();
        } catch (EOFException e) {
            throw new IOException(name + ": truncated: no IDX header", e);
        }
    }

    /**
     * Reads the {@code total} bytes a header declares. The buffer grows with the data that actually
     * arrives (from 1 MB, doubling), so a small or truncated file claiming millions of images is
     * refused having allocated about its own size, not the claimed one.
     */
    static byte[] readDeclared(DataInputStream in, int total, String name, String what) throws IOException {
        byte[] b = new byte[Math.min(total, 1 << 20)];
        int off = 0;
        while (off < total) {
            if (off == b.length) {
                b = java.util.Arrays.copyOf(b, (int) Math.min(total, 2L * b.length));
            }
            int r = in.read(b, off, b.length - off);
            if (r < 0) {
                throw new IOException(name + ": truncated: " + off + " of " + total + " bytes of " + what);
            }
            off += r;
        }
        return b;
    }
}
