package org.kat4j.train;

import java.nio.file.Path;

/**
 * A training run. Defaults follow the KAT recipe scaled to small images: AdamW, cosine schedule
 * with linear warmup, label smoothing 0.1, weight decay 0.05. {@code emaDecay} 0 turns the model
 * EMA off; otherwise evaluation and best.safetensors use the averaged weights.
 */
public record TrainConfig(String model, int epochs, int batchSize, double lr, double minLr, double weightDecay,
                          int warmupSteps, double labelSmoothing, double clipGrad, double dropPath, int augmentPad,
                          boolean augmentFlip, long seed, Path out, int evalBatchSize, boolean progress, double emaDecay) {
    public TrainConfig {
        if (epochs < 1 || batchSize < 1 || !(lr > 0) || warmupSteps < 0 || labelSmoothing < 0 || labelSmoothing >= 1) {
            throw new IllegalArgumentException("bad training settings: epochs " + epochs + ", batch " + batchSize + ", lr " + lr
                    + ", warmup " + warmupSteps + ", smoothing " + labelSmoothing);
        }
    }
}
