package org.kat4j.bench.gpu;

import org.kat4j.autograd.Autocast;
import org.kat4j.autograd.Losses;
import org.kat4j.backend.Backends;
import org.kat4j.backend.Device;
import org.kat4j.cuda.CudaBackend;
import org.kat4j.cuda.CudaGraph;
import org.kat4j.models.Models;
import org.kat4j.models.VisionTransformer;
import org.kat4j.nn.GrKan;
import org.kat4j.nn.Mlp;
import org.kat4j.nn.Module;
import org.kat4j.optim.AdamW;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The CUDA backend on whole workloads: the Mlp and the GR-KAN block forward+backward at batch
 * 128 x 197 tokens and the ViT-T, ViT-S, ViT-B widths, and one training step (forward,
 * cross-entropy, backward, AdamW) of vit_tiny and kat_tiny at 224 with batch 128, each in float32
 * and under bf16 autocast ({@code block_bf16_*}, {@code train_bf16_*}); and a kat_micro step,
 * eagerly and with the whole step (forward, backward, AdamW) replayed as a {@link CudaGraph}
 * ({@code train_graph_*}). Each time is the mean of a host loop after warm-up, the device
 * synchronised before and after (what a training loop sees, launch costs included). Prints JSON
 * (workload to milliseconds), the form of kat-cuda/gpu_peer.py's, so that gpu-check.sh can put
 * both in one table.
 * Usage: {@code java -cp ... org.kat4j.bench.gpu.BackendGpuBench [iterations]}
 */
public final class BackendGpuBench {
    private BackendGpuBench() {
    }

    private static double time(CudaBackend be, Runnable step, int warmup, int iters) {
        for (int i = 0; i < warmup; i++) {
            step.run();
        }
        be.synchronize();
        long t0 = System.nanoTime();
        for (int i = 0; i < iters; i++) {
            step.run();
        }
        be.synchronize();
        return (System.nanoTime() - t0) / 1e6 / iters;
    }

    public static void main(String[] args) {
        int iters = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        Device cuda = Device.cuda(0);
        if (!Backends.devices().contains(cuda)) {
            System.out.println("BackendGpuBench: no CUDA backend (" + String.join("; ", Backends.report()) + ")");
            System.exit(2);
        }
        CudaBackend be = (CudaBackend) Backends.forDevice(cuda);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("backend", be.describe());
        for (int dim : new int[]{192, 384, 768}) {
            Random r = new Random(0);
            Tensor x = Tensor.randn(new Random(1), DType.FLOAT32, 128, 197, dim).to(cuda);
            x.requiresGrad(true); // as inside a model: dL/dx is computed
            Tensor seed = Tensor.randn(new Random(2), DType.FLOAT32, 128, 197, dim).to(cuda);
            for (Map.Entry<String, Module> e : Map.<String, Module>of("mlp", new Mlp(dim, 4 * dim, dim, 0.0, r), "grkan",
                    new GrKan(dim, 4 * dim, dim, 0.0, r)).entrySet()) {
                Module block = e.getValue().to(cuda);
                for (boolean bf16 : new boolean[]{false, true}) {
                    out.put("block_" + (bf16 ? "bf16_" : "") + e.getKey() + "_" + dim, time(be, () -> {
                        try (Scope s = Scope.open(); Autocast ac = bf16 ? Autocast.bf16() : null) {
                            block.zeroGrad();
                            x.zeroGrad();
                            block.forward(x).backward(seed);
                        }
                    }, 3, iters));
                }
            }
        }
        int batch = 128;
        Tensor images = Tensor.randn(new Random(3), DType.FLOAT32, batch, 3, 224, 224);
        int[] labels = new int[batch];
        for (int i = 0; i < batch; i++) {
            labels[i] = (i * 37) % 1000;
        }
        for (String name : new String[]{"vit_tiny_patch16_224", "kat_tiny_patch16_224"}) {
            VisionTransformer m = Models.create(name, Map.of(), 0);
            m.to(cuda);
            AdamW opt = AdamW.builder(m.parameters()).lr(1e-3).weightDecay(0.05).build();
            for (boolean bf16 : new boolean[]{false, true}) {
                out.put("train_" + (bf16 ? "bf16_" : "") + name + ":" + batch, time(be, () -> {
                    try (Scope s = Scope.open(); Autocast ac = bf16 ? Autocast.bf16() : null) {
                        m.zeroGrad();
                        Losses.crossEntropy(m.forward(images.to(cuda)), labels, 0.0).backward();
                        opt.step();
                    }
                }, 2, Math.max(3, iters / 2)));
            }
        }
        // a micro model's step, whose kernels are shorter than their launches: eagerly, and the whole
        // step (forward, backward, AdamW) replayed as a CUDA graph
        VisionTransformer micro = Models.create("kat_micro_patch7_28", Map.of("num_classes", 10), 0);
        micro.to(cuda);
        AdamW microOpt = AdamW.builder(micro.parameters()).lr(1e-3).weightDecay(0.05).build();
        Tensor microImages = Tensor.randn(new Random(4), DType.FLOAT32, 64, 1, 28, 28).to(cuda);
        float[] soft = new float[64 * 10];
        for (int i = 0; i < 64; i++) {
            soft[i * 10 + i % 10] = 1f;
        }
        Tensor microTargets = Tensor.of(soft, 64, 10).to(cuda);
        out.put("train_kat_micro_patch7_28:64", time(be, () -> {
            try (Scope s = Scope.open()) {
                micro.zeroGrad();
                Losses.crossEntropySoft(micro.forward(microImages), microTargets).backward();
                microOpt.step();
            }
        }, 3, 5 * iters));
        micro.zeroGrad();
        try (CudaGraph graph = CudaGraph.capture(cuda, () -> {
            Losses.crossEntropySoft(micro.forward(microImages), microTargets).backward();
            microOpt.step();
        })) {
            // the whole step in one launch; AdamW's host side refills its step numbers before each
            out.put("train_graph_kat_micro_patch7_28:64", time(be, () -> graph.replay(null, microOpt::step), 3, 5 * iters));
        } catch (RuntimeException e) {
            out.put("graph_error", e.toString()); // the other figures still print
        }
        out.put("transfers", be.transfers());
        out.put("driver_allocations", be.driverAllocations());
        StringBuilder json = new StringBuilder("{\n");
        int i = 0;
        for (Map.Entry<String, Object> e : out.entrySet()) {
            Object v = e.getValue();
            String val = v instanceof Double d ? String.format(Locale.ROOT, "%.3f", d)
                    : v instanceof Number ? v.toString() : "\"" + v.toString().replace("\"", "'") + "\"";
            json.append(" \"").append(e.getKey()).append("\": ").append(val).append(++i < out.size() ? ",\n" : "\n");
        }
        System.out.print(json.append("}\n"));
    }
}
