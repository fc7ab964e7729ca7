package org.kat4j.bench;

import org.kat4j.autograd.Losses;
import org.kat4j.autograd.Ops;
import org.kat4j.nn.Linear;
import org.kat4j.optim.SGD;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One training step of a 2-layer MLP (784 -&gt; 512 -&gt; 10, batch 256, cross-entropy, SGD) with the
 * step's buffers reused through a Scope (the way kat4j trains) and with every temporary freshly
 * allocated and left to the garbage collector. The difference is the time spent allocating and
 * freeing buffers.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class TrainStepBench {
    Linear fc1;
    Linear fc2;
    SGD opt;
    Tensor x;
    int[] labels;

    @Setup(Level.Trial)
    public void setup() {
        Random r = new Random(0);
        fc1 = new Linear("fc1", 784, 512, true, r);
        fc2 = new Linear("fc2", 512, 10, true, r);
        List<Tensor> p = new ArrayList<>(fc1.parameters());
        p.addAll(fc2.parameters());
        opt = new SGD(p, 0.01, 0.9, 0);
        x = Tensor.randn(r, DType.FLOAT32, 256, 784);
        labels = new int[256];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 10;
        }
    }

    double step() {
        Tensor loss = Losses.crossEntropy(fc2.forward(fc1.forward(x).gelu()), labels, 0.0);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        return loss.item();
    }

    @Benchmark
    public double stepReusingBuffers() {
        try (Scope s = Scope.open()) {
            return step();
        }
    }

    @Benchmark
    public double stepFreshAllocations() {
        return step();
    }
}
