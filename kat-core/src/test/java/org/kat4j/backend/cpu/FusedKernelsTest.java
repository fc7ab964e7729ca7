package org.kat4j.backend.cpu;

import org.junit.jupiter.api.Test;
import org.kat4j.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The float32 fused kernels (GELU, column sums) against float64 references, both the vector and
 * the plain-Java loops, and the float32 autograd paths that use them.
 */
class FusedKernelsTest {
    /** erf to double precision (the suite's one reference: {@link org.kat4j.backend.Ref#erf}). */
    static double erfRef(double x) {
        return org.kat4j.backend.Ref.erf(x);
    }

    static double geluRef(double x) {
        return 0.5 * x * (1 + erfRef(x / Math.sqrt(2)));
    }

    static double geluGradRef(double x) {
        return 0.5 * (1 + erfRef(x / Math.sqrt(2))) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }

    @Test
    void erfIsWithinFloatRounding() {
        double worst = 0;
        for (int i = -80000; i <= 80000; i++) {
            double x = i * 1e-4;
            worst = Math.max(worst, Math.abs(GeluKernel.erf((float) x) - erfRef((float) x)));
        }
        assertTrue(worst < 4e-7, "max |erf error| " + worst);
        assertEquals(0.0f, GeluKernel.erf(0f));
        assertEquals(1.0f, GeluKernel.erf(1e4f), 1e-7f);
        assertEquals(-1.0f, GeluKernel.erf(-1e30f), 1e-7f);
    }

    static float[] inputs(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * 3);
        }
        x[0] = 0f;
        x[1] = -0f;
        x[2] = 9f;
        x[3] = -12f;
        x[4] = Float.NaN;
        return x;
    }

    static ByteBuffer bytes(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.nativeOrder());
        b.asFloatBuffer().put(v);
        return b;
    }

    /**
     * Both loops (vector when available, and plain Java) against float64, with an odd length, on
     * heap and on direct (native) buffers, the output written over the input as well.
     */
    @Test
    void geluForwardAndBackwardMatchFloat64() {
        int n = 3 * GeluKernel.CHUNK + 37;
        float[] x = inputs(n, 1);
        float[] g = inputs(n, 2);
        g[4] = 1f;
        ByteBuffer y = bytes(new float[n]);
        ByteBuffer gx = bytes(new float[n]);
        GeluKernel.forward(bytes(x), y, n);
        GeluKernel.backward(bytes(x), bytes(g), gx, n);
        ByteBuffer ys = bytes(new float[n]);
        GeluKernel.forwardScalar(bytes(x), ys, 0, n);
        ByteBuffer gs = bytes(g);
        GeluKernel.backwardScalar(bytes(x), gs, gs, 0, n);
        ByteBuffer direct = NativeFloats.bytes(x);
        GeluKernel.forward(direct, direct, n);
        for (int i = 0; i < n; i++) {
            float yi = y.getFloat(4 * i);
            float gi = gx.getFloat(4 * i);
            if (Float.isNaN(x[i])) {
                assertTrue(Float.isNaN(yi) && Float.isNaN(gi) && Float.isNaN(ys.getFloat(4 * i)), "NaN in, NaN out");
                continue;
            }
            assertEquals(Float.floatToRawIntBits(yi), Float.floatToRawIntBits(direct.getFloat(4 * i)), "in place at " + i);
            double yr = geluRef(x[i]);
            double gr = g[i] * geluGradRef(x[i]);
            double tolY = 1e-6 * Math.max(1, Math.abs(yr));
            double tolG = 1e-6 * Math.max(1, Math.abs(gr));
            assertEquals(yr, yi, tolY, "forward at x=" + x[i]);
            assertEquals(yr, ys.getFloat(4 * i), tolY, "scalar forward at x=" + x[i]);
            assertEquals(gr, gi, tolG, "backward at x=" + x[i]);
            assertEquals(gr, gs.getFloat(4 * i), tolG, "scalar backward at x=" + x[i]);
        }
    }

    @Test
    void softmaxExpIsWithinTwoUlpsOnItsRange() {
        double worst = 0;
        for (float x = -87f; x <= 20f; x += 0.00731f) {
            double ref = Math.exp(x);
            worst = Math.max(worst, Math.abs(SoftmaxKernel.exp(x) - ref) / ref);
        }
        assertTrue(worst < 2.5e-7, "exp relative error " + worst);
        assertEquals(0.0, SoftmaxKernel.exp(-1000f), 1e-37); // clamped: tiny, finite, not NaN
    }

    /**
     * The vector exp is plain arithmetic, the same bits as the scalar one in every lane, and the
     * GELU backward gives the same bits on its first call and after C2 has compiled it (with the
     * vector API's EXP it did not: an SVML routine once compiled, Math.exp per lane before).
     */
    @Test
    void expAndGeluBackwardBitsDoNotDependOnTheJit() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Simd.available(), "needs --add-modules jdk.incubator.vector");
        jdk.incubator.vector.VectorSpecies<Float> sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = -87f + 87f * i / (x.length - 1);
        }
        float[] first = null;
        for (int round = 0; round < 3000; round++) {
            float[] out = new float[x.length];
            for (int i = 0; i < x.length; i += sp.length()) {
                SoftmaxKernel.exp(jdk.incubator.vector.FloatVector.fromArray(sp, x, i)).intoArray(out, i);
            }
            if (first == null) {
                first = out;
                for (int i = 0; i < x.length; i++) {
                    assertEquals(Float.floatToRawIntBits(SoftmaxKernel.exp(x[i])), Float.floatToRawIntBits(out[i]),
                            "lane vs scalar exp at x=" + x[i]);
                }
            }
        }
        float[] gx0 = null;
        float[] xs = new float[1000];
        for (int i = 0; i < xs.length; i++) {
            xs[i] = -6f + 12f * i / xs.length;
        }
        for (int round = 0; round < 3000; round++) {
            float[] ones = new float[xs.length];
            java.util.Arrays.fill(ones, 1f);
            ByteBuffer gb = bytes(ones);
            GeluVectorKernel.backward(bytes(xs), gb, gb, 0, xs.length);
            float[] g = new float[xs.length];
            gb.asFloatBuffer().get(g);
            if (gx0 == null) {
                gx0 = g;
            } else if (round % 500 == 0 || round == 2999) {
                assertArrayEquals(gx0, g, 0f, "GELU backward, call " + round + " vs the first");
            }
        }
    }

    /**
     * Softmax rows (attention's 17 tokens, a ViT's 197) give the same bits on the first call and
     * after the JIT has compiled the kernel: on Java 25 a compiled reduceLanes(ADD) summed the
     * lanes in another order than the interpreter, and 19,884 of 20,000 calls differed from the first.
     */
    @Test
    void softmaxBitsDoNotDependOnTheJit() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Simd.arrays(), "needs --add-modules jdk.incubator.vector");
        Random r = new Random(9);
        for (int d : new int[]{17, 197}) {
            int n = 64 * d;
            float[] x = new float[n];
            float[] g = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = (float) r.nextGaussian() * 3;
                g[i] = (float) r.nextGaussian();
            }
            float[] y0 = null;
            float[] gx0 = null;
            for (int round = 0; round < 6000; round++) {
                float[] y = new float[n];
                float[] gx = new float[n];
                SoftmaxKernel.forward(FloatBuffer.wrap(x), FloatBuffer.wrap(y), n, d);
                SoftmaxKernel.backward(FloatBuffer.wrap(y), FloatBuffer.wrap(g), FloatBuffer.wrap(gx), n, d);
                if (y0 == null) {
                    y0 = y;
                    gx0 = gx;
                } else if (round % 200 == 0 || round == 5999) {
                    assertArrayEquals(y0, y, 0f, "forward, rows of " + d + ", call " + round + " vs the first");
                    assertArrayEquals(gx0, gx, 0f, "backward, rows of " + d + ", call " + round + " vs the first");
                }
            }
        }
    }

    /** Lanes.sum adds in lane order, from 0, before and after the JIT (reduceLanes itself on Java 17 and 18). */
    @Test
    void laneSumsAddInLaneOrder() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Simd.arrays(), "needs --add-modules jdk.incubator.vector");
        jdk.incubator.vector.VectorSpecies<Float> sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        Random r = new Random(10);
        float[] x = new float[sp.length() * 512];
        for (int i = 0; i < x.length; i++) {
            // magnitudes over many orders, so that another order of the additions rounds differently
            x[i] = (float) (r.nextGaussian() * Math.exp(r.nextGaussian() * 4));
        }
        for (int round = 0; round < 400; round++) {
            for (int i = 0; i < x.length; i += sp.length()) {
                float expected = 0f;
                for (int j = 0; j < sp.length(); j++) {
                    expected += x[i + j];
                }
                float got = Lanes.sum(jdk.incubator.vector.FloatVector.fromArray(sp, x, i));
                if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(got)) {
                    assertEquals(expected, got, 0f, "vector at " + i + ", call " + round);
                }
            }
        }
    }

    @Test
    void float32SoftmaxOpMatchesFloat64ForEveryRowLength() {
        // row lengths around the vector width (tails, rows shorter than a vector) and the ViT ones
        Random r = new Random(5);
        for (int d : new int[]{1, 3, 15, 16, 17, 33, 50, 197}) {
            int rows = 7;
            double[] v = new double[rows * d];
            double[] w = new double[rows * d];
            for (int i = 0; i < v.length; i++) {
                v[i] = r.nextGaussian() * 4 + (i % 3 == 0 ? 30 : 0); // large offsets: the max must be subtracted
                w[i] = r.nextGaussian();
            }
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                f[i] = (float) v[i];
                v[i] = f[i]; // both sides from the same rounded inputs
            }
            Tensor x64 = Tensor.of(v, rows, d).requiresGrad(true);
            Tensor x32 = Tensor.of(f, rows, d).requiresGrad(true);
            Tensor y64 = x64.softmax();
            Tensor y32 = x32.softmax();
            y64.mul(Tensor.of(w, rows, d)).sum(false).backward();
            float[] wf = new float[w.length];
            for (int i = 0; i < w.length; i++) {
                wf[i] = (float) w[i];
            }
            y32.mul(Tensor.of(wf, rows, d)).sum(false).backward();
            assertArrayEquals(y64.toDoubleArray(), y32.toDoubleArray(), 1e-6, "softmax, rows of " + d);
            assertArrayEquals(x64.grad().toDoubleArray(), x32.grad().toDoubleArray(), 2e-6, "softmax gradient, rows of " + d);
        }
    }

    @Test
    void float32LayerNormOpMatchesFloat64() {
        // widths with and without a vector tail; offsets and scales far from 0 and 1
        Random r = new Random(6);
        for (int d : new int[]{1, 7, 16, 33, 64, 192}) {
            int rows = 300; // several chunks only for the small widths: chunks hold 16384 / d rows
            double[] v = new double[rows * d];
            double[] gw = new double[rows * d];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * 3 + 5);
                gw[i] = (float) r.nextGaussian();
            }
            double[] w = new double[d];
            double[] b = new double[d];
            for (int j = 0; j < d; j++) {
                w[j] = (float) (1 + 0.5 * r.nextGaussian());
                b[j] = (float) r.nextGaussian();
            }
            Tensor x64 = Tensor.of(v, rows, d).requiresGrad(true);
            Tensor w64 = Tensor.of(w, d).requiresGrad(true);
            Tensor b64 = Tensor.of(b, d).requiresGrad(true);
            Tensor x32 = Tensor.of(toFloat(v), rows, d).requiresGrad(true);
            Tensor w32 = Tensor.of(toFloat(w), d).requiresGrad(true);
            Tensor b32 = Tensor.of(toFloat(b), d).requiresGrad(true);
            Tensor y64 = org.kat4j.autograd.Ops.layerNorm(x64, w64, b64, 1e-6);
            Tensor y32 = org.kat4j.autograd.Ops.layerNorm(x32, w32, b32, 1e-6);
            y64.mul(Tensor.of(gw, rows, d)).sum(false).backward();
            y32.mul(Tensor.of(toFloat(gw), rows, d)).sum(false).backward();
            String at = "layerNorm, rows of " + d;
            assertArrayEquals(y64.toDoubleArray(), y32.toDoubleArray(), 5e-6, at);
            if (d > 1) { // one element per row: xhat is 0, dx is 0 up to rounding on both sides
                assertArrayEquals(x64.grad().toDoubleArray(), x32.grad().toDoubleArray(), 2e-5, at + ": dx");
            }
            assertArrayEquals(w64.grad().toDoubleArray(), w32.grad().toDoubleArray(), 2e-4, at + ": dw");
            assertArrayEquals(b64.grad().toDoubleArray(), b32.grad().toDoubleArray(), 2e-4, at + ": db");
        }
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    @Test
    void float32GeluOpMatchesTheFloat64Op() {
        Random r = new Random(3);
        double[] v = new double[5 * 7 * 11];
        for (int i = 0; i < v.length; i++) {
            v[i] = r.nextGaussian() * 2;
        }
        Tensor x64 = Tensor.of(v, 5, 7, 11).requiresGrad(true);
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        Tensor x32 = Tensor.of(f, 5, 7, 11).requiresGrad(true);
        Tensor w = Tensor.of(v, 5, 7, 11);
        x64.gelu().mul(w).sum(false).backward();
        x32.gelu().mul(Tensor.of(f, 5, 7, 11)).sum(false).backward();
        assertArrayEquals(x64.gelu().toDoubleArray(), x32.gelu().toDoubleArray(), 2e-6);
        assertArrayEquals(x64.grad().toDoubleArray(), x32.grad().toDoubleArray(), 2e-5);
    }

    @Test
    void adamwVectorUpdateGivesThePlainLoopsBits() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Simd.available(), "needs --add-modules jdk.incubator.vector");
        int n = 1003; // a tail short of a vector
        Random r = new Random(9);
        float[] w = new float[n];
        float[] g = new float[n];
        float[] m = new float[n];
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            w[i] = (float) r.nextGaussian();
            g[i] = (float) (r.nextGaussian() * 1e-2);
            m[i] = (float) (r.nextGaussian() * 1e-3);
            v[i] = (float) Math.abs(r.nextGaussian() * 1e-5);
        }
        ByteBuffer wb = NativeFloats.bytes(w);
        ByteBuffer gb = NativeFloats.bytes(g);
        ByteBuffer mb = NativeFloats.bytes(m);
        ByteBuffer vb = NativeFloats.bytes(v);
        float b1 = 0.9f;
        float b2 = 0.999f;
        float c1 = 0.1f;
        float c2 = 0.001f;
        float e = 1e-8f;
        float decay = 0.9995f;
        float step = 0.003f;
        float bc2 = 0.0447f;
        AdamWVectorKernel.update(wb, gb, mb, vb, 0, n, b1, b2, c1, c2, e, decay, step, bc2);
        for (int i = 0; i < n; i++) {
            float mi = m[i] * b1 + c1 * g[i];
            float vi = v[i] * b2 + c2 * g[i] * g[i];
            float wi = w[i] * decay - step * mi / ((float) Math.sqrt(vi) / bc2 + e);
            assertEquals(mi, mb.getFloat(4 * i), 0f, "m at " + i);
            assertEquals(vi, vb.getFloat(4 * i), 0f, "v at " + i);
            assertEquals(wi, wb.getFloat(4 * i), 0f, "w at " + i);
        }
    }

    @Test
    void fusedAttentionGivesTheComposedOpsBits() {
        // the micro models' attention (batch 64, 17 tokens, 4 heads of 16): both forms take the same
        // small-product and softmax kernels, so output and input gradient agree to the bit
        org.junit.jupiter.api.Assumptions.assumeTrue(Simd.arrays(), "needs --add-modules jdk.incubator.vector");
        int b = 64;
        int n = 17;
        int heads = 4;
        int hd = 16;
        double scale = 0.25;
        Random r = new Random(5);
        Tensor g = Tensor.randn(r, org.kat4j.tensor.DType.FLOAT32, b, n, heads * hd);
        Tensor fusedIn = Tensor.randn(r, org.kat4j.tensor.DType.FLOAT32, b, n, 3 * heads * hd).requiresGrad(true);
        Tensor composedIn = fusedIn.detach().mul(1.0).requiresGrad(true);
        Tensor fused = org.kat4j.autograd.Ops.attention(fusedIn, heads, scale);
        Tensor packed = composedIn.reshape(b, n, 3, heads, hd).permute(2, 0, 3, 1, 4);
        Tensor q = packed.narrow(0, 0, 1).reshape(b, heads, n, hd);
        Tensor k = packed.narrow(0, 1, 1).reshape(b, heads, n, hd);
        Tensor v = packed.narrow(0, 2, 1).reshape(b, heads, n, hd);
        Tensor p = org.kat4j.autograd.Ops.matmul(q.mul(scale), k, false, true).softmax();
        Tensor composed = p.matmul(v).transpose(1, 2).reshape(b, n, heads * hd);
        assertArrayEquals(composed.toFloatArray(), fused.toFloatArray(), 0f);
        fused.mul(g).sum().backward();
        composed.mul(g).sum().backward();
        assertArrayEquals(composedIn.grad().toFloatArray(), fusedIn.grad().toFloatArray(), 0f);
    }

    /** Column counts with and without a vector tail, and fewer columns than a vector has lanes. */
    @Test
    void columnSumsMatchFloat64AndAreDeterministic() {
        for (int cols : new int[]{77, 768, 3}) {
            columnSums(6304, cols);
        }
    }

    private static void columnSums(int rows, int cols) {
        float[] m = inputs(rows * cols, 4);
        m[4] = 0.5f;
        float[] s = ColumnSums.sum(FloatBuffer.wrap(m), rows, cols);
        for (int j = 0; j < cols; j++) {
            double ref = 0;
            for (int i = 0; i < rows; i++) {
                ref += m[i * cols + j];
            }
            assertEquals(ref, s[j], 1e-5 * rows);
        }
        for (int k = 0; k < 5; k++) {
            assertArrayEquals(s, ColumnSums.sum(FloatBuffer.wrap(m), rows, cols));
        }
        if (Simd.available()) {
            ByteBuffer b = NativeFloats.bytes(m);
            assertArrayEquals(s, ColumnSums.sum(b, rows, cols), "the vector loop over bytes: the same bits");
        }
    }

    /** The bias gradient of a broadcast add in float32 goes through ColumnSums. */
    @Test
    void float32BroadcastGradientSumsLeadingAxes() {
        float[] xv = inputs(4 * 6 * 5, 5);
        xv[4] = 1f;
        Tensor x = Tensor.of(xv, 4, 6, 5).requiresGrad(true);
        Tensor b = Tensor.of(new float[5], 5).requiresGrad(true);
        Tensor b3 = Tensor.of(new float[5], 1, 1, 5).requiresGrad(true);
        x.add(b).mul(x).sum(false).backward();
        x.add(b3).mul(x).sum(false).backward();
        double[] want = new double[5];
        for (int i = 0; i < xv.length; i++) {
            want[i % 5] += xv[i];
        }
        assertArrayEquals(want, b.grad().toDoubleArray(), 1e-4);
        assertArrayEquals(want, b3.grad().toDoubleArray(), 1e-4);
        assertArrayEquals(new long[]{1, 1, 5}, b3.grad().shape());
    }
}
