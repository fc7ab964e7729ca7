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

    public enum BlockKind { MLP, GR_KAN }

    public VitConfig {
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

    static int hiddenDim(int dim, double ratio) {
        return (int) (dim * ratio);
    }

    public int hiddenDim() {
        return hiddenDim(embedDim, mlpRatio);
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
