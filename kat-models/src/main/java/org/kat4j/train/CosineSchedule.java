package org.kat4j.train;

/** Linear warmup from 0 to the peak, then cosine decay to {@code minLr} at {@code totalSteps}. */
public record CosineSchedule(double peak, double minLr, int warmupSteps, int totalSteps) {
    public double at(int step) {
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        double t = Math.min(1.0, (step - warmupSteps) / (double) Math.max(1, totalSteps - warmupSteps));
        return minLr + 0.5 * (peak - minLr) * (1 + Math.cos(Math.PI * t));
    }
}
