package org.kat4j.bench;

import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.nn.DataParallel;
import org.kat4j.optim.AdamW;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.kat4j.train.Trainer;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * One training step (forward, cross-entropy, backward, AdamW) of a whole registered model, the
 * way {@link Trainer} runs it ({@link Trainer#forwardBackward}, no gradient clipping). Parameter
 * {@code model} is "name:batch"; {@code replicas} is the Trainer's replica count (0: its default,
 * one per core with at least 8 images each; 1: one model whose ops use all cores). The report
 * turns ms/step into images/s and gives the KAT / ViT ratio of the same size.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(value = 1, jvmArgsAppend = {"-Xmx4g", "--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000", "-XX:PerMethodRecompilationCutoff=10000"})
@State(org.openjdk.jmh.annotations.Scope.Benchmark)
public class ModelStepBench {
    @Param({"vit_tiny_patch16_224:16", "kat_tiny_patch16_224:16", "vit_micro_patch4_28:64", "kat_micro_patch4_28:64",
            "kat_micro_patch7_28:64"})
    public String model;

    @Param({"0"})
    public int replicas;

    VisionTransformer net;
    DataParallel<VisionTransformer> dp;
    AdamW opt;
    Tensor images;
    int[] labels;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = model.split(":");
        int batch = Integer.parseInt(p[1]);
        net = Models.create(p[0], Map.of(), 0);
        net.train(true);
        opt = AdamW.builder(net.parameters()).lr(1e-3).weightDecay(0.05).noDecay(Trainer.noDecay(net)).build();
        var c = net.config();
        Random r = new Random(0);
        images = Tensor.randn(r, DType.FLOAT32, batch, c.inChans(), c.imgSize(), c.imgSize());
        labels = new int[batch];
        for (int i = 0; i < batch; i++) {
            labels[i] = r.nextInt(c.numClasses());
        }
        dp = Trainer.replicate(net, Trainer.replicasFor(net, batch, replicas));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        dp.close();
    }

    @Benchmark
    public double trainStep() {
        try (Scope s = Scope.open()) {
            opt.zeroGrad();
            double loss = Trainer.forwardBackward(dp, images, labels, null, 0.0)[0];
            opt.step();
            return loss;
        }
    }
}
