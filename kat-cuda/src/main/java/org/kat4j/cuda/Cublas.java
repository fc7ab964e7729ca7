package org.kat4j.cuda;

import org.bytedeco.javacpp.Loader;

/**
 * Whether cuBLAS 13 can be used, found once: kat-cuda binds it through JavaCPP's CUDA presets
 * ({@code org.bytedeco:cuda}), whose JNI library links against {@code libcublas.so.13} and
 * {@code libcudart.so.13} from the machine's CUDA 13 install. Where they are missing this says
 * what to install, in one line, and matrix products stay on the CPU.
 */
public final class Cublas {
    /** What to install when the libraries are missing. */
    static final String INSTALL = "install the CUDA 13 toolkit, or the nvidia-cublas wheel for CUDA 13 (PyTorch installs"
            + " it) and put its lib directory on LD_LIBRARY_PATH";

    /** The probe's result: whether it loaded, the version (major * 10000 + minor * 100 + patch), and one line. */
    public record Status(boolean available, int version, String line) {
    }

    private static volatile Status status;

    private Cublas() {
    }

    /** cuBLAS's status, probed on first call (loading the library; no GPU work). */
    public static Status status() {
        Status s = status;
        if (s == null) {
            synchronized (Cublas.class) {
                s = status;
                if (s == null) {
                    s = probe();
                    status = s;
                }
            }
        }
        return s;
    }

    private static Status probe() {
        try {
            Loader.load(org.bytedeco.cuda.global.cublas.class);
            int[] major = new int[1];
            int[] minor = new int[1];
            int[] patch = new int[1];
            org.bytedeco.cuda.global.cublas.cublasGetProperty(org.bytedeco.cuda.global.cudart.MAJOR_VERSION, major);
            org.bytedeco.cuda.global.cublas.cublasGetProperty(org.bytedeco.cuda.global.cudart.MINOR_VERSION, minor);
            org.bytedeco.cuda.global.cublas.cublasGetProperty(org.bytedeco.cuda.global.cudart.PATCH_LEVEL, patch);
            int v = major[0] * 10000 + minor[0] * 100 + patch[0];
            return new Status(true, v, "cuBLAS " + major[0] + "." + minor[0] + "." + patch[0]);
        } catch (Throwable t) {
            String why = reason(t);
            if (why.startsWith("libcuda.so")) {
                return new Status(false, 0, "cuBLAS not usable (no NVIDIA driver: " + why + "); matrix products run on the CPU");
            }
            return new Status(false, 0, "cuBLAS 13 not found (" + why + "): " + INSTALL + "; matrix products run on the CPU");
        }
    }

    /** The missing library's name where the loader's message names one, else the message's first line. */
    static String reason(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = String.valueOf(root.getMessage());
        // "<jni library>: libcuda.so.1: cannot open shared object file": the library the loader could not find
        java.util.regex.Matcher lib = java.util.regex.Pattern.compile("(lib[\\w+-]*\\.so[\\w.]*): cannot open shared object file")
                .matcher(m);
        String first = m.lines().findFirst().orElse(m);
        return lib.find() ? lib.group(1) + " missing" : first.length() > 120 ? first.substring(0, 120) + "..." : first;
    }
}
