package org.kat4j.bench;

import org.kat4j.backend.cpu.CpuBackend;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;
import org.kat4j.rational.CpuRationalKernel;
import org.kat4j.rational.RationalKernels;
import org.kat4j.rational.RationalInit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The CPU group-rational kernel, forward and backward, beside a plain copy of the same tensor
 * (Tensor.assign, an ND4J assign, into a preallocated tensor) measured in the same run. Bytes moved: copy and
 * forward 2 tensors, backward 3 (x and g read, dx written). report.py turns times into GB/s.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class RationalBench {
    @Param({"32x197x768", "32x197x192", "128x197x3072", "64x17x64"})
    public String shape;

    Tensor x;
    Tensor y;
    Tensor g;
    Tensor gx;
    FloatBuffer xb;
    FloatBuffer yb;
    FloatBuffer gb;
    FloatBuffer gxb;
    ByteBuffer xbytes;
    ByteBuffer ybytes;
    ByteBuffer gbytes;
    ByteBuffer gxbytes;
    int n;
    int d;
    final int groups = 8;
    float[] num;
    float[] den;

    @Setup(Level.Trial)
    public void setup() {
        long[] s = MatmulBench.dims(shape);
        Random r = new Random(0);
        x = uniform(r, -3, 3, s);
        g = uniform(r, -0.5, 0.5, s);
        y = Tensor.of(CpuBackend.INSTANCE.empty(DType.FLOAT32, s));
        gx = Tensor.of(CpuBackend.INSTANCE.empty(DType.FLOAT32, s));
        xb = CpuBackend.floats(x.storage());
        yb = CpuBackend.floats(y.storage());
        gb = CpuBackend.floats(g.storage());
        gxb = CpuBackend.floats(gx.storage());
        xbytes = CpuBackend.bytes(x.storage());
        ybytes = CpuBackend.bytes(y.storage());
        gbytes = CpuBackend.bytes(g.storage());
        gxbytes = CpuBackend.bytes(gx.storage());
        n = (int) x.numel();
        d = (int) s[s.length - 1];
        num = new float[6];
        double[] a = RationalInit.SWISH.numerator();
        for (int i = 0; i < 6; i++) {
            num[i] = (float) a[i];
        }
        den = new float[4 * groups];
        for (int i = 0; i < den.length; i++) {
            den[i] = (float) (r.nextGaussian() * 0.1);
        }
    }

    /** Uniform float32 values written straight into one fresh CPU storage (no float64 staging copy). */
    static Tensor uniform(Random r, double lo, double hi, long[] shape) {
        Tensor t = Tensor.of(CpuBackend.INSTANCE.empty(DType.FLOAT32, shape));
        FloatBuffer b = CpuBackend.floats(t.storage());
        float[] chunk = new float[1 << 16];
        for (int off = 0; off < t.numel(); off += chunk.length) {
            int len = (int) Math.min(chunk.length, t.numel() - off);
            for (int i = 0; i < len; i++) {
                chunk[i] = (float) (lo + (hi - lo) * r.nextDouble());
            }
            b.put(off, chunk, 0, len);
        }
        return t;
    }

    @Benchmark
    public Tensor copy() {
        y.assign(x);
        return y;
    }

    /** The CPU forward kat4j uses: the vector-API kernel on the arrays' bytes in place, as GroupRational calls it. */
    @Benchmark
    public ByteBuffer forward() {
        RationalKernels.cpu().forward(xbytes, ybytes, n, d, groups, num, den);
        return ybytes;
    }

    /** The plain-Java forward (what runs without the vector module). */
    @Benchmark
    public FloatBuffer forwardPlainJava() {
        CpuRationalKernel.INSTANCE.forward(xb, yb, n, d, groups, num, den);
        return yb;
    }

    /**
     * The CPU backward kat4j uses: the vector-API kernel (when the JVM has jdk.incubator.vector)
     * on the arrays' bytes in place, as GroupRational calls it.
     */
    @Benchmark
    public double[] backward() {
        double[] ga = new double[6];
        double[] gd = new double[4 * groups];
        RationalKernels.cpu().backward(xbytes, gbytes, gxbytes, n, d, groups, num, den, ga, gd);
        return gd;
    }

    /** The plain-Java backward (what runs without the vector module). */
    @Benchmark
    public double[] backwardPlainJava() {
        double[] ga = new double[6];
        double[] gd = new double[4 * groups];
        CpuRationalKernel.INSTANCE.backward(xb, gb, gxb, n, d, groups, num, den, ga, gd);
        return gd;
    }
}
