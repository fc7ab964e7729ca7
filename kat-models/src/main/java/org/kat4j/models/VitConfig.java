package org.kat4j.models;

import org.kat4j.nn.LinearInit;
import org.kat4j.rational.RationalInit;

/**
 * Everything that defines a ViT or KAT model (timm's VisionTransformer arguments).
 *
 * @param blockKind   MLP (ViT) or GR_KAN (KAT)
 * @param groups      rational groups in a GR-KAN block (8 in the paper)
 * @param linearInit  TIMM (trunc_normal 0.02) or VARIANCE_PRESERVING for the GR-KAN linears
 */
public record VitConfig(int imgSize, int patchSize, int inChans, int numClasses, int embedDim, int depth, int numHeads,
                        double mlpRatio, boolean qkvBias, double dropRate, double attnDropRate, double dropPathRate,
                        BlockKind blockKind, int groups, RationalInit act1Init, RationalInit act2Init,
                        LinearInit linearInit) {

    /** The MLP of each block: timm's GELU Mlp (ViT) or the GR-KAN (KAT). */
    public enum BlockKind { MLP, GR_KAN }

    public VitConfig {
        positive("img_size", imgSize);
        positive("patch_size", patchSize);
        positive("in_chans", inChans);
        positive("num_classes", numClasses);
        positive("embed_dim", embedDim);
        positive("depth", depth);
        positive("num_heads", numHeads);
        positive("groups", groups);
        if (!(mlpRatio > 0) || mlpRatio > 64) {
            throw new IllegalArgumentException("mlp_ratio " + mlpRatio + ", expected in (0, 64]");
        }
        rate("drop_rate", dropRate);
        rate("attn_drop_rate", attnDropRate);
        rate("drop_path_rate", dropPathRate);
        if ((double) embedDim * mlpRatio > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("embed_dim " + embedDim + " x mlp_ratio " + mlpRatio
                    + " makes a hidden width beyond 2^31 - 1");
        }
        if (imgSize % patchSize != 0) {
            throw new IllegalArgumentException("image size " + imgSize + " not divisible by patch size " + patchSize);
        }
        if (embedDim % numHeads != 0) {
            throw new IllegalArgumentException("embed dim " + embedDim + " not divisible by heads " + numHeads);
        }
        if (blockKind == BlockKind.GR_KAN && (embedDim % groups != 0 || hiddenDim(embedDim, mlpRatio) % groups != 0)) {
            throw new IllegalArgumentException("embed dim " + embedDim + " and hidden dim " + hiddenDim(embedDim, mlpRatio)
                    + " must be divisible by rational groups " + groups);
        }
        if (numClasses < 1 || depth < 1) {
            throw new IllegalArgumentException("classes " + numClasses + " and depth " + depth + " must be >= 1");
        }
    }

    private static void positive(String field, int v) {
        if (v < 1) {
            throw new IllegalArgumentException(field + " " + v + ", expected >= 1");
        }
    }

    private static void rate(String field, double v) {
        if (!(v >= 0 && v < 1)) {
            throw new IllegalArgumentException(field + " " + v + ", expected in [0, 1)");
        }
    }

    /**
     * The parameter count this config makes, computed without allocating (as a double, so that
     * absurd sizes do not overflow): patch embedding, class token, position embedding, blocks,
     * final norm and head.
     */
    public double parameterCountEstimate() {
        double d = embedDim;
        double h = hiddenDim();
        double block = 4 * d + 3 * d * d + 3 * d + d * d + d + d * h + h + h * d + d
                + (blockKind == BlockKind.GR_KAN ? 2 * (6 + 4.0 * groups) : 0);
        return d * inChans * (double) patchSize * patchSize + d + d + (patchesExact() + 1) * d + depth * block + 2 * d
                + numClasses * d + numClasses;
    }

    /**
     * Refuses a config whose training state (weights, gradients and two AdamW moments: 16 bytes a
     * parameter) exceeds {@code bytes}, or whose largest tensor exceeds one buffer (2^31 - 1
     * elements), before anything is allocated.
     */
    public void checkFits(long bytes) {
        double params = parameterCountEstimate();
        double pos = (patchesExact() + 1) * embedDim;
        double head = (double) numClasses * embedDim;
        double mlp = Math.max(3.0 * embedDim * embedDim, (double) embedDim * hiddenDim());
        double largest = Math.max(pos, Math.max(head, mlp));
        if (largest > Integer.MAX_VALUE) {
            String why = largest == pos ? "img_size " + imgSize + " / patch_size " + patchSize + " (" + String.format(java.util.Locale.ROOT, "%,.0f", patchesExact())
                    + " patches) and embed_dim " + embedDim + " make a position embedding"
                    : largest == head ? "num_classes " + numClasses + " and embed_dim " + embedDim + " make a head"
                    : "embed_dim " + embedDim + " makes a weight";
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "%s of %.3g elements; one tensor holds at most 2^31 - 1", why, largest));
        }
        if (params * 16 > bytes) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "depth %d, embed_dim %d, num_classes %d make %,.0f parameters: %.1f GB to train (weights, gradients,"
                            + " AdamW state), more than the %.1f GB this machine has", depth, embedDim, numClasses, params,
                    params * 16 / 1e9, bytes / 1e9));
        }
    }

    static int hiddenDim(int dim, double ratio) {
        return (int) (dim * ratio);
    }

    public int hiddenDim() {
        return hiddenDim(embedDim, mlpRatio);
    }

    private double patchesExact() {
        double side = imgSize / patchSize;
        return side * side;
    }

    public int numPatches() {
        return (imgSize / patchSize) * (imgSize / patchSize);
    }

    /** The defaults of timm's ViT with this block kind: 12 blocks of ratio 4, qkv bias, no dropout. */
    public static VitConfig of(BlockKind kind, int imgSize, int patch, int inChans, int classes, int dim, int depth, int heads) {
        return new VitConfig(imgSize, patch, inChans, classes, dim, depth, heads, 4.0, true, 0, 0, 0, kind, 8,
                RationalInit.IDENTITY, RationalInit.SWISH, LinearInit.TIMM);
    }

    public VitConfig withNumClasses(int n) {
        return new VitConfig(imgSize, patchSize, inChans, n, embedDim, depth, numHeads, mlpRatio, qkvBias, dropRate,
                attnDropRate, dropPathRate, blockKind, groups, act1Init, act2Init, linearInit);
    }

    public VitConfig withDropPath(double p) {
        return new VitConfig(imgSize, patchSize, inChans, numClasses, embedDim, depth, numHeads, mlpRatio, qkvBias, dropRate,
                attnDropRate, p, blockKind, groups, act1Init, act2Init, linearInit);
    }

    public VitConfig withLinearInit(LinearInit init) {
        return new VitConfig(imgSize, patchSize, inChans, numClasses, embedDim, depth, numHeads, mlpRatio, qkvBias, dropRate,
                attnDropRate, dropPathRate, blockKind, groups, act1Init, act2Init, init);
    }
}
