package org.kat4j.cli;

import org.kat4j.nn.GrKan;
import org.kat4j.optim.AdamW;
import org.kat4j.rational.RationalKernels;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;

/**
 * {@code kat smoke}: a GR-KAN block at ViT-Tiny width learns to imitate a fixed random GR-KAN
 * block (forward, backward, AdamW), printing the loss and time per step.
 */
@Command(name = "smoke", description = "Train one GR-KAN block on a toy regression: forward, backward, AdamW.")
final class SmokeCommand implements Callable<Integer> {
    @Option(names = "--steps", defaultValue = "30", description = "Training steps (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences per step, 197 tokens each (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--dim", defaultValue = "192", description = "Embedding width (default ${DEFAULT-VALUE}, ViT-Tiny).")
    int dim;

    @Override
    public Integer call() {
        if (steps < 1 || batch < 1) {
            throw new IllegalArgumentException("--steps and --batch must be >= 1, got " + steps + " and " + batch);
        }
        Random rng = new Random(0);
        GrKan teacher = new GrKan(dim, 4 * dim, dim, 0.0, rng);
        GrKan student = new GrKan(dim, 4 * dim, dim, 0.0, rng);
        AdamW opt = AdamW.builder(student.parameters()).lr(1e-3).weightDecay(0.0).build();
        System.out.printf(Locale.ROOT, "GR-KAN block %d -> %d -> %d, %,d parameters, rational kernel: %s%n", dim, 4 * dim, dim,
                student.parameterCount(), RationalKernels.get().name());
        double first = 0;
        double last = 0;
        long t0 = System.nanoTime();
        for (int step = 1; step <= steps; step++) {
            long s0 = System.nanoTime();
            try (Scope scope = Scope.open()) {
                Tensor x = Tensor.randn(rng, DType.FLOAT32, batch, 197, dim);
                Tensor target = teacher.forward(x).detach();
                Tensor diff = student.forward(x).sub(target);
                Tensor loss = diff.mul(diff).mean();
                opt.zeroGrad();
                loss.backward();
                opt.step();
                last = loss.item();
            }
            if (step == 1) {
                first = last;
            }
            if (step == 1 || step % 10 == 0 || step == steps) {
                System.out.printf(Locale.ROOT, "step %4d  loss %.6f  %.1f ms%n", step, last, (System.nanoTime() - s0) / 1e6);
            }
        }
        System.out.printf(Locale.ROOT, "done: loss %.6f -> %.6f in %.1f s%n", first, last, (System.nanoTime() - t0) / 1e9);
        if (!(last < first)) {
            System.err.println("kat smoke: the loss did not fall");
            return 1;
        }
        return 0;
    }
}
