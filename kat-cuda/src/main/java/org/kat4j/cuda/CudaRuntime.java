package org.kat4j.cuda;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The process's CUDA device (device 0, primary context) and the rational kernel module, found
 * once. Probing never throws: no libcuda, no device, an old driver or a module that will not load
 * all mean "no GPU", with the reason in {@link #status()} and logged once at INFO.
 */
public final class CudaRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(CudaRuntime.class);
    private static final Object LOCK = new Object();
    private static volatile boolean probed;
    private static CudaRuntime instance;
    private static String status = "not probed";

    final CUdevice device;
    final CUcontext context;
    final CUmodule module;
    /** The CUDA backend's kernels (kernels.cu). */
    final CUmodule kernels;
    final String name;
    final int multiprocessors;
    final int computeMajor;
    final int computeMinor;
    final int driverVersion;
    final String moduleKind;
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, CUfunction> kernelFunctions = new HashMap<>();
    private final Map<String, Integer> residentBlocks = new HashMap<>();
    private final ThreadLocal<Boolean> currentOnThread = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private CudaRuntime(CUdevice device, CUcontext context, CUmodule module, CUmodule kernels, String name, int sms, int major,
                        int minor, int driver, String moduleKind) {
        this.device = device;
        this.context = context;
        this.module = module;
        this.kernels = kernels;
        this.name = name;
        this.multiprocessors = sms;
        this.computeMajor = major;
        this.computeMinor = minor;
        this.driverVersion = driver;
        this.moduleKind = moduleKind;
    }

    /** The GPU runtime, or empty (see {@link #status()}). */
    public static Optional<CudaRuntime> get() {
        if (!probed) {
            synchronized (LOCK) {
                if (!probed) {
                    probe();
                    probed = true;
                    LOG.info("CUDA: {}", status);
                }
            }
        }
        return Optional.ofNullable(instance);
    }

    /** What the probe found: the device, or why there is none. */
    public static String status() {
        get();
        return status;
    }

    private static void probe() {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            if (count[0] == 0) {
                status = "no GPU: the driver reports no CUDA device";
                return;
            }
            CUdevice dev = new CUdevice();
            JCudaDriver.cuDeviceGet(dev, 0);
            byte[] nameBytes = new byte[256];
            JCudaDriver.cuDeviceGetName(nameBytes, nameBytes.length, dev);
            String name = new String(nameBytes, java.nio.charset.StandardCharsets.US_ASCII).trim().replace("\0", "");
            int major = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
            int minor = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
            int sms = attribute(dev, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
            int[] drv = new int[1];
            JCudaDriver.cuDriverGetVersion(drv);
            CUcontext ctx = new CUcontext();
            JCudaDriver.cuDevicePrimaryCtxRetain(ctx, dev);
            JCudaDriver.cuCtxSetCurrent(ctx);
            CUmodule module = new CUmodule();
            String kind = loadModule(module, "rational", major, minor);
            CUmodule kernels = new CUmodule();
            loadModule(kernels, "kernels", major, minor);
            instance = new CudaRuntime(dev, ctx, module, kernels, name, sms, major, minor, drv[0], kind);
            status = "GPU " + name + " (sm_" + major + minor + ", " + sms + " SMs, driver API " + drv[0]
                    + ", kernels from " + kind + ")";
        } catch (Throwable t) {
            // UnsatisfiedLinkError (no libcuda.so.1), CudaException (no device, old driver), ...
            instance = null;
            status = "no GPU: " + describe(t);
        }
    }

    private static String describe(Throwable t) {
        String m = t.getMessage();
        if (t instanceof UnsatisfiedLinkError) {
            return "CUDA driver library not found (" + (m == null ? t : m.lines().findFirst().orElse(m)) + ")";
        }
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(m));
    }

    private static int attribute(CUdevice dev, int attr) {
        int[] v = new int[1];
        JCudaDriver.cuDeviceGetAttribute(v, attr, dev);
        return v[0];
    }

    /** {@code base}'s sm_90 cubin on compute capability 9.0, else its PTX (JIT-compiled by the driver). */
    private static String loadModule(CUmodule module, String base, int major, int minor) throws IOException {
        if (major == 9 && minor == 0) {
            try {
                JCudaDriver.cuModuleLoadData(module, resource(base + "_sm90.cubin", false));
                return base + "_sm90.cubin";
            } catch (RuntimeException e) {
                LOG.info("sm_90 cubin {} did not load ({}), trying PTX", base, e.getMessage());
            }
        }
        JCudaDriver.cuModuleLoadData(module, resource(base + ".ptx", true));
        return base + ".ptx";
    }

    static byte[] resource(String name, boolean zeroTerminate) throws IOException {
        try (InputStream in = CudaRuntime.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("kernel resource org/kat4j/cuda/" + name + " is missing from the kat-cuda jar");
            }
            byte[] b = in.readAllBytes();
            if (!zeroTerminate) {
                return b;
            }
            byte[] z = new byte[b.length + 1];
            System.arraycopy(b, 0, z, 0, b.length);
            return z;
        }
    }

    synchronized CUfunction function(String name) {
        return functions.computeIfAbsent(name, n -> {
            CUfunction f = new CUfunction();
            JCudaDriver.cuModuleGetFunction(f, module, n);
            return f;
        });
    }

    /** A kernel of the CUDA backend's module (kernels.cu). */
    synchronized CUfunction kernel(String name) {
        return kernelFunctions.computeIfAbsent(name, n -> {
            CUfunction f = new CUfunction();
            JCudaDriver.cuModuleGetFunction(f, kernels, n);
            return f;
        });
    }

    /** Blocks of {@code threads} threads that fit on one multiprocessor at once (occupancy API). */
    synchronized int residentBlocks(String function, int threads, int dynamicShared) {
        return residentBlocks.computeIfAbsent(function + "/" + threads + "/" + dynamicShared, k -> {
            int[] n = new int[1];
            JCudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(n, function(function), threads, dynamicShared);
            return Math.max(1, n[0]);
        });
    }

    /**
     * Makes this runtime's context (the device's primary context) current on the calling thread,
     * for code that calls the JCuda driver API itself beside kat4j's kernels.
     */
    public void makeCurrent() {
        // once per thread: nothing else in kat4j switches contexts, and each call is a JNI round trip
        if (!currentOnThread.get()) {
            JCudaDriver.cuCtxSetCurrent(context);
            currentOnThread.set(Boolean.TRUE);
        }
    }

    public String deviceName() {
        return name;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    public String moduleKind() {
        return moduleKind;
    }

    /** Waits for all work on the device. */
    public void synchronize() {
        JCudaDriver.cuCtxSynchronize();
    }
}
