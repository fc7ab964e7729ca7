package org.kat4j.bench;

import org.kat4j.models.Models;
import org.kat4j.nn.GrKan;
import org.kat4j.nn.Mlp;
import org.kat4j.nn.Module;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One transformer MLP block (timm Mlp: fc1, GELU, fc2) against one GR-KAN block (act1, fc1,
 * act2, fc2), forward and forward+backward at batch 32 x 197 tokens, ViT-T (192), ViT-S (384)
 * and ViT-B (768) widths; and one whole transformer block (LayerNorm, attention, LayerNorm, MLP or
 * GR-KAN, residuals: block 0 of vit_/kat_{tiny,small,base}_patch16_224) forward+backward.
 * report.py gives the GR-KAN / Mlp time ratio per width. The input requires grad (as a block's input does inside
 * a model), so both compute dL/dx.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class BlockBench {
    @Param({"192", "384", "768"})
    public int dim;

    Module mlp;
    Module grkan;
    Module vitBlock;
    Module katBlock;
    Tensor x;
    Tensor seed;

    @Setup(Level.Trial)
    public void setup() {
        Random r = new Random(0);
        mlp = new Mlp(dim, 4 * dim, dim, 0.0, r);
        grkan = new GrKan(dim, 4 * dim, dim, 0.0, r);
        // the block input requires grad, as inside a model: otherwise the Mlp would skip fc1's input
        // gradient (a matmul) that GR-KAN cannot skip, since act1 before fc1 has parameters
        String size = switch (dim) {
            case 192 -> "tiny";
            case 384 -> "small";
            case 768 -> "base";
            default -> throw new IllegalArgumentException("BlockBench: no ViT size of width " + dim);
        };
        // one block is enough: depth 1 keeps ViT-B's setup small
        vitBlock = Models.create("vit_" + size + "_patch16_224", Map.of("depth", 1), 0).blocks[0];
        katBlock = Models.create("kat_" + size + "_patch16_224", Map.of("depth", 1), 0).blocks[0];
        x = Tensor.randn(r, DType.FLOAT32, 32, 197, dim).requiresGrad(true);
        seed = Tensor.randn(r, DType.FLOAT32, 32, 197, dim);
    }

    double step(Module m, Tensor x) {
        try (Scope s = Scope.open()) {
            // gradients start empty each step (PyTorch: zero_grad(set_to_none=True), x.grad = None)
            m.parameters().forEach(Tensor::clearGrad);
            x.clearGrad();
            Tensor y = m.forward(x);
            y.backward(seed);
            Tensor g = m.parameters().get(0).grad();
            return g.backend().getDouble(g.storage(), 0);
        }
    }

    double forward(Module m, Tensor x) {
        try (Scope s = Scope.open()) {
            Tensor y = m.forward(x);
            return y.backend().getDouble(y.storage(), 0);
        }
    }

    @Benchmark
    public double mlpForward() {
        return forward(mlp, x);
    }

    @Benchmark
    public double grkanForward() {
        return forward(grkan, x);
    }

    @Benchmark
    public double vitBlockForwardBackward() {
        return step(vitBlock, x);
    }

    @Benchmark
    public double katBlockForwardBackward() {
        return step(katBlock, x);
    }

    @Benchmark
    public double mlpForwardBackward() {
        return step(mlp, x);
    }

    @Benchmark
    public double grkanForwardBackward() {
        return step(grkan, x);
    }
}
