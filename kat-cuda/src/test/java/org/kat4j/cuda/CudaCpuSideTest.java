package org.kat4j.cuda;

import org.kat4j.io.Float16;

import org.junit.jupiter.api.Test;
import org.kat4j.rational.RationalKernels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** What kat-cuda guarantees on a machine without a GPU (CI). */
class CudaCpuSideTest {
    @Test
    void graphsRecordOnlyCudaDevices() {
        var e = assertThrows(IllegalArgumentException.class, () -> CudaGraph.capture(org.kat4j.backend.Device.CPU, () -> { }));
        assertEquals("CUDA graphs record a CUDA device's work; cpu is not one", e.getMessage());
    }

    @Test
    void probeNeverThrowsAndFallsBackToCpu() {
        String status = CudaRuntime.status();
        assertTrue(status.startsWith("GPU ") || status.startsWith("no GPU: "), status);
        assumeFalse(CudaRuntime.get().isPresent(), "a GPU is present: the fallback is not in use here");
        assertTrue(RationalKernels.get().name().startsWith("cpu"), RationalKernels.get().name());
        // the provider is only probed when opted in; either way the report says why it is not used
        assertTrue(RationalKernels.report().stream().anyMatch(l -> l.contains("no GPU") || l.contains("opts in")),
                RationalKernels.report().toString());
    }

    /** Without libcublas.so.13 the probe gives one line naming what is missing and what to install; never throws. */
    @Test
    void cublasProbeSaysWhatToInstall() {
        Cublas.Status s = Cublas.status();
        assertTrue(s == Cublas.status(), "probed once");
        assertTrue(!s.line().contains("\n"), s.line());
        if (s.available()) {
            assertTrue(s.version() >= 130000 && s.line().startsWith("cuBLAS 13."), s.line());
        } else {
            assertTrue((s.line().startsWith("cuBLAS 13 not found (") && s.line().contains(Cublas.INSTALL)
                    || s.line().startsWith("cuBLAS not usable (no NVIDIA driver: libcuda.so"))
                    && s.line().endsWith("matrix products run on the CPU"), s.line());
            assertTrue(!s.line().contains("Exception") && !s.line().contains("at org."), s.line());
        }
        UnsatisfiedLinkError outer = new UnsatisfiedLinkError("no jnicudart in java.library.path");
        outer.initCause(new UnsatisfiedLinkError("/x/libjnicudart.so: libcuda.so.1: cannot open shared object file: No such file"));
        assertEquals("libcuda.so.1 missing", Cublas.reason(outer));
        assertEquals("libcublas.so.13 missing",
                Cublas.reason(new UnsatisfiedLinkError("/x/libjnicublas.so: libcublas.so.13: cannot open shared object file")));
        assertEquals("something else", Cublas.reason(new RuntimeException("wrapped", new IllegalStateException("something else"))));
    }

    @Test
    void kernelResourcesShipAndMatchTheSource() throws IOException, NoSuchAlgorithmException {
        byte[] ptx = CudaRuntime.resource("rational.ptx", false);
        byte[] cubin = CudaRuntime.resource("rational_sm90.cubin", false);
        String text = new String(ptx, java.nio.charset.StandardCharsets.US_ASCII);
        // every name CudaRational can ask for: each storage, vector and scalar
        java.util.List<String> names = new java.util.ArrayList<>();
        for (Storage s : Storage.values()) {
            for (int vec : new int[]{s.vectorWidth(), 1}) {
                names.add("rational_fwd_" + s.suffix + "_v" + vec);
                names.add("rational_bwd_" + s.suffix + "_v" + vec);
            }
        }
        for (String fn : names) {
            assertTrue(text.contains(".entry " + fn + "("), "PTX lacks " + fn);
        }
        assertEquals(0x7F, cubin[0] & 0xFF, "cubin is not an ELF file");
        String stamp = new String(CudaRuntime.resource("rational.cu.sha256", false)).trim();
        Path src = Path.of("src/main/cuda/rational.cu");
        assumeFalse(!Files.exists(src), "source tree not available");
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(src)));
        assertEquals(sha, stamp, "rational.cu changed since the PTX/cubin were built: run kat-cuda/build-kernels.sh");
    }

    @Test
    void backendKernelsShipAndMatchTheSource() throws IOException, NoSuchAlgorithmException {
        String text = new String(CudaRuntime.resource("kernels.ptx", false), java.nio.charset.StandardCharsets.US_ASCII);
        byte[] cubin = CudaRuntime.resource("kernels_sm90.cubin", false);
        assertEquals(0x7F, cubin[0] & 0xFF, "cubin is not an ELF file");
        long entries = text.lines().filter(l -> l.contains(".entry ")).count();
        assertEquals(entries, CudaBackend.kernelNames().size(), "the backend lists every entry point of kernels.cu");
        for (String fn : CudaBackend.kernelNames()) {
            assertTrue(text.contains(".entry " + fn + "("), "PTX lacks " + fn);
        }
        String stamp = new String(CudaRuntime.resource("kernels.cu.sha256", false)).trim();
        Path src = Path.of("src/main/cuda/kernels.cu");
        assumeFalse(!Files.exists(src), "source tree not available");
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(src)));
        assertEquals(sha, stamp, "kernels.cu changed since the PTX/cubin were built: run kat-cuda/build-kernels.sh");
    }

    @Test
    void launchArithmetic() {
        // forward: 16-byte vectors when the group size allows, grid capped at one resident wave
        Launch f = Launch.forward(32L * 197 * 768, 768, 8, Storage.F32, 132, 8, true);
        assertEquals(4, f.vec());
        assertEquals(132 * 8, f.blocks());
        assertEquals(3, Launch.forward(3 * 256 * 4, 32, 8, Storage.F32, 132, 8, true).blocks());
        assertEquals(8, Launch.forward(1024, 128, 8, Storage.BF16, 132, 8, true).vec());
        assertEquals(1, Launch.forward(960, 96, 8, Storage.BF16, 132, 8, true).vec()); // 12 channels per group: no 8-wide vectors
        assertEquals(1, Launch.forward(21, 21, 7, Storage.F32, 132, 8, true).vec());
        assertEquals(1, Launch.forward(1024, 128, 8, Storage.F32, 132, 8, false).vec());
        assertEquals(1, Launch.forward(1, 1, 1, Storage.F32, 132, 8, true).blocks());
        assertEquals(0, f.active() % (768 / 4)); // each thread keeps one channel vector
        assertEquals(0, Launch.forward(37L * 40, 40, 8, Storage.F32, 132, 8, true).active() % 40); // scalar path: 5 per group
        // backward: active threads are whole rows of channel vectors, so each thread keeps one group
        Launch b = Launch.backward(32L * 197 * 768, 768, 8, Storage.F32, 132, 3, true);
        long cv = 768 / 4;
        assertEquals(0, b.active() % cv);
        assertEquals(cv * Math.min(32L * 197, 132L * 3 * 256 / cv), b.active());
        assertEquals((b.active() + 255) / 256, b.blocks());
        // in-kernel reduction: a row per block, a row per set of SET_BLOCKS blocks, a row of totals
        assertEquals((b.blocks() + Launch.SET_BLOCKS - 1) / Launch.SET_BLOCKS, b.sets());
        assertEquals(((long) b.blocks() + b.sets() + 1) * 8 * 10, b.partialLength(8));
        assertEquals(1, Launch.backward(15, 3, 1, Storage.F32, 132, 3, true).sets());
        Launch tiny = Launch.backward(5 * 3, 3, 1, Storage.F32, 132, 3, true);
        assertEquals(15, tiny.active());
        assertEquals(1, tiny.blocks());
        // very wide rows: at least one row at a time
        Launch wide = Launch.backward(1L << 22, 1 << 22, 1, Storage.F32, 1, 3, true);
        assertEquals(1 << 20, wide.active());
        assertThrows(IllegalArgumentException.class, () -> Launch.forward(100, 10, 3, Storage.F32, 1, 8, true));
        assertThrows(IllegalArgumentException.class, () -> Launch.backward(101, 10, 2, Storage.F32, 1, 3, true));
        assertThrows(IllegalArgumentException.class, () -> Launch.backward(100, 10, 0, Storage.F32, 1, 3, true));
    }

    @Test
    void halfConversionsRoundTrip() {
        for (float v : new float[]{0f, -0f, 1f, -2.5f, 65504f, 6.1035156e-5f, 5.9604645e-8f, 0.1f, 3.14159f}) {
            float h = Float16.fromF16(Float16.toF16(v));
            assertEquals(v, h, Math.abs(v) * 1e-3 + 1e-8, "f16 " + v);
            float b = Float16.fromBf16(Float16.toBf16(v));
            assertEquals(v, b, Math.abs(v) * 8e-3, "bf16 " + v);
        }
        assertEquals(Float.POSITIVE_INFINITY, Float16.fromF16(Float16.toF16(1e6f)));
        assertTrue(Float.isNaN(Float16.fromF16(Float16.toF16(Float.NaN))));
        assertTrue(Float.isNaN(Float16.fromBf16(Float16.toBf16(Float.NaN))));
        assertEquals((short) 0x3C00, Float16.toF16(1f));
        assertEquals((short) 0x3F80, Float16.toBf16(1f));
        // ties to even: 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): rounds to 1
        assertEquals((short) 0x3C00, Float16.toF16(1f + 0x1p-11f));
    }
}
