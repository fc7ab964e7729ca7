package org.kat4j.bench;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;
import org.kat4j.backend.Storage;
import org.kat4j.backend.cpu.CpuBackend;
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
import org.openjdk.jmh.infra.Blackhole;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Tensor.matmul (our autograd op, output allocated in a step Scope) beside ND4J's fastest path
 * on the same arrays: Nd4j.gemm into a preallocated C-ordered output (CpuBackend.gemmInto). Shapes: a ViT-T MLP layer
 * at batch 32, attention scores, and a square 1024 product. GFLOP/s and ratios: report.py.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class MatmulBench {
    /** "MxK*KxN" or "BxHxMxK*BxHxKxN". */
    @Param({"6304x192*192x768", "32x3x197x64*32x3x64x197", "1024x1024*1024x1024"})
    public String shape;

    Tensor a;
    Tensor b;
    Tensor aGrad;
    Tensor bGrad;
    Storage out;
    Tensor seed;

    static long[] dims(String s) {
        String[] p = s.split("x");
        long[] d = new long[p.length];
        for (int i = 0; i < p.length; i++) {
            d[i] = Long.parseLong(p[i]);
        }
        return d;
    }

    @Setup(Level.Trial)
    public void setup() {
        String[] ab = shape.split("\\*");
        Random r = new Random(0);
        a = Tensor.randn(r, DType.FLOAT32, dims(ab[0]));
        b = Tensor.randn(r, DType.FLOAT32, dims(ab[1]));
        aGrad = a.copy().requiresGrad(true);
        bGrad = b.copy().requiresGrad(true);
        long[] os = a.shape().clone();
        os[os.length - 1] = b.size(-1);
        out = CpuBackend.INSTANCE.empty(a.dtype(), os);
        seed = Tensor.ones(a.dtype(), os);
    }

    @Benchmark
    public void nd4jGemmPreallocated(Blackhole bh) {
        CpuBackend.INSTANCE.gemmInto(a.storage(), b.storage(), out, false, false);
        bh.consume(out);
    }

    @Benchmark
    public void tensorMatmul(Blackhole bh) {
        try (org.kat4j.tensor.Scope s = org.kat4j.tensor.Scope.open()) {
            bh.consume(a.matmul(b).storage());
        }
    }

    /** Forward and backward (three products): compare with 3x the gemm time. */
    @Benchmark
    public void tensorMatmulForwardBackward(Blackhole bh) {
        try (org.kat4j.tensor.Scope s = org.kat4j.tensor.Scope.open()) {
            Tensor y = Ops.matmul(aGrad, bGrad, false, false);
            y.backward(seed);
            bh.consume(aGrad.grad());
        }
    }
}
