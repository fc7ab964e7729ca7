package org.kat4j.cuda;

import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;
import org.kat4j.io.Float16;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.kat4j.rational.CpuRationalKernel;
import org.kat4j.rational.RationalKernels;

import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * GPU kernels against the CPU kernel (the shared contract). Runs only with -Dgroups=gpu (see
 * kat-cuda/gpu-check.sh) and skips with the probe's reason where no GPU is found.
 */
@Tag("gpu")
class CudaRationalGpuTest {
    static CudaRuntime rt;
    static final int POISON = 0x7FC0DEAD; // a NaN in f32; two NaNs in bf16/f16 halves

    @BeforeAll
    static void device() {
        rt = CudaRuntime.get().orElse(null);
        assumeTrue(rt != null, CudaRuntime.status());
    }

    /** Everything one comparison needs, computed on the CPU in float32 from the same (rounded) inputs. */
    record Case(float[] x, float[] g, float[] num, float[] den, int n, int d, int groups) {
        static Case random(Random r, int rows, int d, int groups, Storage s) {
            int n = rows * d;
            float[] x = new float[n];
            float[] g = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = round((float) (r.nextDouble() * 8 - 4), s);
                g[i] = round((float) (r.nextDouble() * 2 - 1), s);
            }
            float[] num = new float[6];
            float[] den = new float[4 * groups];
            for (int i = 0; i < 6; i++) {
                num[i] = (float) (r.nextDouble() * 2 - 1);
            }
            for (int i = 0; i < den.length; i++) {
                den[i] = (float) (r.nextDouble() * 2 - 1); // negative b included
            }
            return new Case(x, g, num, den, n, d, groups);
        }
    }

    static float round(float v, Storage s) {
        return switch (s) {
            case F32 -> v;
            case BF16 -> Float16.fromBf16(Float16.toBf16(v));
            case F16 -> Float16.fromF16(Float16.toF16(v));
        };
    }

    static DeviceBuffer upload(float[] v, Storage s) {
        if (s == Storage.F32) {
            return DeviceBuffer.of(rt, v);
        }
        short[] h = new short[v.length];
        for (int i = 0; i < v.length; i++) {
            h[i] = s == Storage.BF16 ? Float16.toBf16(v[i]) : Float16.toF16(v[i]);
        }
        return DeviceBuffer.of(rt, h);
    }

    static float[] download(DeviceBuffer b, int n, Storage s) {
        float[] out = new float[n];
        if (s == Storage.F32) {
            b.copyTo(out);
            return out;
        }
        short[] h = new short[n];
        b.copyTo(h);
        for (int i = 0; i < n; i++) {
            out[i] = s == Storage.BF16 ? Float16.fromBf16(h[i]) : Float16.fromF16(h[i]);
        }
        return out;
    }

    static double relErr(float[] ref, float[] got) {
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Float.isNaN(got[i])) {
                return Double.POSITIVE_INFINITY;
            }
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
        }
        return maxDiff / Math.max(maxRef, 1e-30);
    }

    static double relErr(double[] ref, double[] got) {
        double maxRef = 0;
        double maxDiff = 0;
        for (int i = 0; i < ref.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
            maxDiff = Math.max(maxDiff, Math.abs(ref[i] - got[i]));
        }
        return maxDiff / Math.max(maxRef, 1e-30);
    }

    static void parity(Case c, Storage s, double tol, String label) {
        parity(c, s, tol, label, null);
    }

    /**
     * Runs one case on both sides; asserts parity within tol and that every output was written.
     * stream: null for the legacy default stream.
     */
    static void parity(Case c, Storage s, double tol, String label, CUstream stream) {
        float[] yRef = new float[c.n];
        float[] gxRef = new float[c.n];
        double[] gaRef = new double[6];
        double[] gbRef = new double[c.den.length];
        CpuRationalKernel.INSTANCE.forward(FloatBuffer.wrap(c.x), FloatBuffer.wrap(yRef), c.n, c.d, c.groups, c.num, c.den);
        CpuRationalKernel.INSTANCE.backward(FloatBuffer.wrap(c.x), FloatBuffer.wrap(c.g), FloatBuffer.wrap(gxRef), c.n, c.d,
                c.groups, c.num, c.den, gaRef, gbRef);
        double[] ga = new double[6];
        double[] gb = new double[c.den.length];
        float[] y;
        float[] gx;
        try (CudaRational k = new CudaRational(rt, stream);
             CudaRational.Coefficients coef = k.upload(c.groups, c.num, c.den);
             DeviceBuffer dx = upload(c.x, s);
             DeviceBuffer dg = upload(c.g, s);
             DeviceBuffer dy = DeviceBuffer.allocate(rt, (long) c.n * s.bytes);
             DeviceBuffer dgx = DeviceBuffer.allocate(rt, (long) c.n * s.bytes)) {
            dy.fill32(POISON);
            dgx.fill32(POISON);
            rt.synchronize(); // uploads and fills are on the legacy stream
            k.forward(dx, dy, c.n, c.d, coef, s);
            k.backward(dx, dg, dgx, c.n, c.d, coef, s, ga, gb);
            // a second backward on the same instance reuses its scratch buffers: same bits
            double[] ga2 = new double[6];
            double[] gb2 = new double[c.den.length];
            k.backward(dx, dg, null, c.n, c.d, coef, s, ga2, gb2);
            assertArrayEquals(ga, ga2, 0.0, label + ": repeated backward differs");
            assertArrayEquals(gb, gb2, 0.0, label + ": repeated backward differs");
            rt.synchronize();
            y = download(dy, c.n, s);
            gx = download(dgx, c.n, s);
        }
        for (int i = 0; i < c.n; i++) {
            assertFalse(Float.isNaN(y[i]) || Float.isNaN(gx[i]), label + ": element " + i + " not written");
        }
        double ey = relErr(yRef, y);
        double egx = relErr(gxRef, gx);
        double ega = relErr(gaRef, ga);
        double egb = relErr(gbRef, gb);
        assertTrue(ey <= tol && egx <= tol && ega <= tol && egb <= tol, String.format(
                "%s %s: relative errors y %.2e, dx %.2e, da %.2e, db %.2e > %.0e", label, s, ey, egx, ega, egb, tol));
    }

    @Test
    void float32ParityEveryGroupCountVectorAndScalarPaths() {
        Random r = new Random(1);
        for (int groups = 1; groups <= 16; groups++) {
            // cpg 8: 16-byte vector path; cpg 3 and 5: scalar path; odd row counts
            for (int cpg : new int[]{8, 3, 5}) {
                parity(Case.random(r, 37, groups * cpg, groups, Storage.F32), Storage.F32, 1e-5,
                        "groups " + groups + " cpg " + cpg);
            }
        }
    }

    @Test
    void float32ParityAtViTShapes() {
        Random r = new Random(2);
        parity(Case.random(r, 32 * 197, 768, 8, Storage.F32), Storage.F32, 1e-5, "32x197x768");
        parity(Case.random(r, 4 * 197, 3072, 8, Storage.F32), Storage.F32, 1e-5, "4x197x3072");
        parity(Case.random(r, 1, 1, 1, Storage.F32), Storage.F32, 1e-5, "single element");
    }

    @Test
    void halfPrecisionStorageParity() {
        Random r = new Random(3);
        for (Storage s : new Storage[]{Storage.BF16, Storage.F16}) {
            for (int groups : new int[]{1, 4, 8, 16}) {
                parity(Case.random(r, 29, groups * 16, groups, s), s, 1e-2, "groups " + groups);
                parity(Case.random(r, 29, groups * 3, groups, s), s, 1e-2, "scalar groups " + groups);
            }
            parity(Case.random(r, 8 * 197, 768, 8, s), s, 1e-2, "8x197x768");
        }
    }

    @Test
    void coefficientGradientsAreDeterministic() {
        Case c = Case.random(new Random(4), 16 * 197, 768, 8, Storage.F32);
        double[][] runs = new double[3][];
        try (CudaRational k = new CudaRational(rt);
             CudaRational.Coefficients coef = k.upload(c.groups, c.num, c.den);
             DeviceBuffer dx = upload(c.x, Storage.F32);
             DeviceBuffer dg = upload(c.g, Storage.F32)) {
            for (int i = 0; i < 3; i++) {
                double[] ga = new double[6];
                double[] gb = new double[32];
                k.backward(dx, dg, null, c.n, c.d, coef, Storage.F32, ga, gb);
                double[] all = new double[38];
                System.arraycopy(ga, 0, all, 0, 6);
                System.arraycopy(gb, 0, all, 6, 32);
                runs[i] = all;
            }
        }
        assertArrayEquals(runs[0], runs[1], 0.0);
        assertArrayEquals(runs[0], runs[2], 0.0);
    }

    @Test
    void ownStreamAndGraphReplayGiveTheSameResults() {
        CUstream stream = new CUstream();
        JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
        try {
            Random r = new Random(8);
            parity(Case.random(r, 197, 768, 8, Storage.F32), Storage.F32, 1e-5, "own stream", stream);
            Case c = Case.random(r, 8 * 197, 768, 8, Storage.F32);
            try (CudaRational k = new CudaRational(rt, stream);
                 CudaRational.Coefficients coef = k.upload(c.groups, c.num, c.den);
                 DeviceBuffer dx = upload(c.x, Storage.F32);
                 DeviceBuffer dg = upload(c.g, Storage.F32);
                 DeviceBuffer dgx = DeviceBuffer.allocate(rt, (long) c.n * 4)) {
                rt.synchronize();
                double[] ga = new double[6];
                double[] gb = new double[32];
                k.backward(dx, dg, dgx, c.n, c.d, coef, Storage.F32, ga, gb);
                float[] gx = download(dgx, c.n, Storage.F32);
                dgx.fill32(POISON);
                rt.synchronize();
                // the benchmark's device timing replays captured calls: they must do the same work
                CUgraph graph = new CUgraph();
                CUgraphExec exec = new CUgraphExec();
                JCudaDriver.cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
                k.backwardAsync(dx, dg, dgx, c.n, c.d, coef, Storage.F32);
                JCudaDriver.cuStreamEndCapture(stream, graph);
                JCudaDriver.cuGraphInstantiate(exec, graph, 0);
                JCudaDriver.cuGraphLaunch(exec, stream);
                double[] ga2 = new double[6];
                double[] gb2 = new double[32];
                k.readGradients(ga2, gb2);
                JCudaDriver.cuGraphExecDestroy(exec);
                JCudaDriver.cuGraphDestroy(graph);
                assertArrayEquals(ga, ga2, 0.0, "graph replay: dL/da differs");
                assertArrayEquals(gb, gb2, 0.0, "graph replay: dL/db differs");
                assertArrayEquals(gx, download(dgx, c.n, Storage.F32), 0.0f, "graph replay: dL/dx differs");
            }
        } finally {
            JCudaDriver.cuStreamDestroy(stream);
        }
    }

    @Test
    void moreThanSixteenGroups() {
        Random r = new Random(6);
        parity(Case.random(r, 9, 32 * 4, 32, Storage.F32), Storage.F32, 1e-5, "32 groups");
    }

    /** Run with -Dkat4j.rational.kernel=provider (gpu-check.sh does): the registry then picks the GPU kernel. */
    @Test
    void kernelRegistryPicksTheGpu() {
        assertTrue(RationalKernels.get().name().startsWith("cuda"), RationalKernels.report().toString());
        Case c = Case.random(new Random(5), 50, 64, 8, Storage.F32);
        float[] yRef = new float[c.n];
        float[] y = new float[c.n];
        CpuRationalKernel.INSTANCE.forward(FloatBuffer.wrap(c.x), FloatBuffer.wrap(yRef), c.n, c.d, c.groups, c.num, c.den);
        RationalKernels.get().forward(FloatBuffer.wrap(c.x), FloatBuffer.wrap(y), c.n, c.d, c.groups, c.num, c.den);
        assertTrue(relErr(yRef, y) <= 1e-5);
    }
}
