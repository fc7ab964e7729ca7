package org.kat4j.models;

import org.kat4j.autograd.Ops;
import org.kat4j.nn.Attention;
import org.kat4j.nn.DropPath;
import org.kat4j.nn.GrKan;
import org.kat4j.nn.Init;
import org.kat4j.nn.LayerNorm;
import org.kat4j.nn.Linear;
import org.kat4j.nn.Mlp;
import org.kat4j.nn.Module;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Arrays;
import java.util.Random;

/**
 * timm's VisionTransformer, with the MLP of each block either timm's Mlp (ViT) or a GR-KAN (KAT).
 * Parameter names are timm's state-dict keys (docs/design.md, section 5), so a timm checkpoint maps 1:1.
 *
 * <pre>
 * x [B, C, H, W] -&gt; patch_embed.proj (conv, stride = kernel) -&gt; [B, N, D]
 *   -&gt; prepend cls_token, add pos_embed -&gt; blocks (x + attn(norm1 x), x + mlp(norm2 x))
 *   -&gt; norm -&gt; head on the CLS token -&gt; [B, classes]
 * </pre>
 */
public final class VisionTransformer extends Module {
    private final VitConfig cfg;
    private final Random rng;
    public final PatchEmbed patchEmbed;
    public final Tensor clsToken;
    public final Tensor posEmbed;
    public final Block[] blocks;
    public final LayerNorm norm;
    public final Linear head;

    public VisionTransformer(VitConfig cfg, long seed) {
        this.cfg = cfg;
        this.rng = new Random(seed);
        int d = cfg.embedDim();
        clsToken = param("cls_token", Init.normal(rng, 1e-6, 1, 1, d));
        posEmbed = param("pos_embed", Init.truncNormal(rng, 0.02, 1, cfg.numPatches() + 1, d));
        patchEmbed = child("patch_embed", new PatchEmbed(cfg.inChans(), d, cfg.patchSize(), rng));
        Module blockList = child("blocks", new Sequence());
        blocks = new Block[cfg.depth()];
        for (int i = 0; i < cfg.depth(); i++) {
            // stochastic depth grows linearly with depth, as timm
            double dp = cfg.depth() == 1 ? cfg.dropPathRate() : cfg.dropPathRate() * i / (cfg.depth() - 1);
            blocks[i] = ((Sequence) blockList).add(String.valueOf(i), new Block(cfg, dp, rng));
        }
        norm = child("norm", new LayerNorm(d, 1e-6));
        head = child("head", new Linear("head", d, cfg.numClasses(), true, rng));
    }

    public VitConfig config() {
        return cfg;
    }

    /** Restarts the random stream of dropout and drop path (per epoch, so a resumed run repeats it). */
    public void reseed(long seed) {
        rng.setSeed(seed);
    }

    /**
     * The next seed of that stream: what the next dropout or drop-path mask of a forward would
     * draw. A recorded training step replays with these ({@code recording.replay(model::nextSeed)})
     * to make the masks its eager run would.
     */
    public long nextSeed() {
        return rng.nextLong();
    }

    /** Images [B, C, H, W] -&gt; logits [B, classes]. */
    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 4 || x.size(1) != cfg.inChans() || x.size(2) != cfg.imgSize() || x.size(3) != cfg.imgSize()) {
            throw new IllegalArgumentException("VisionTransformer: input " + Arrays.toString(x.shape()) + ", expected [batch, "
                    + cfg.inChans() + ", " + cfg.imgSize() + ", " + cfg.imgSize() + "]");
        }
        long b = x.size(0);
        Tensor tokens = patchEmbed.forward(x);                                        // [B, N, D]
        Tensor cls = clsToken.add(Tensor.of(x.backend().zeros(x.dtype(), b, 1, cfg.embedDim())));   // [B, 1, D], on x's device
        Tensor h = Ops.concat(1, cls, tokens).add(posEmbed);
        for (Block blk : blocks) {
            h = blk.forward(h);
        }
        h = norm.forward(h);
        Tensor clsOut = h.narrow(1, 0, 1).reshape(b, cfg.embedDim());
        return head.forward(clsOut);
    }

    /** The patch embedding: a convolution with stride = kernel, parameters proj.weight [D, C, p, p], proj.bias. */
    public static final class PatchEmbed extends Module {
        private final Proj proj;

        PatchEmbed(int inChans, int dim, int patch, Random rng) {
            proj = child("proj", new Proj(inChans, dim, patch, rng));
        }

        @Override
        public Tensor forward(Tensor x) {
            return proj.forward(x);
        }

        static final class Proj extends Module {
            final Tensor weight;
            final Tensor bias;

            Proj(int inChans, int dim, int patch, Random rng) {
                // timm: Conv2d default init (kaiming_uniform a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
                double bound = 1.0 / Math.sqrt((double) inChans * patch * patch);
                weight = param("weight", Tensor.of(Tensor.rand(rng, DType.FLOAT32, -bound, bound, dim, inChans, patch, patch)
                        .toFloatArray(), dim, inChans, patch, patch));
                bias = param("bias", Tensor.of(Tensor.rand(rng, DType.FLOAT32, -bound, bound, dim).toFloatArray(), dim));
            }

            @Override
            public Tensor forward(Tensor x) {
                return Ops.patchConv(x, weight, bias);
            }
        }
    }

    /** A pre-norm transformer block: x + drop_path(attn(norm1(x))), x + drop_path(mlp(norm2(x))). */
    public static final class Block extends Module {
        public final LayerNorm norm1;
        public final Attention attn;
        public final LayerNorm norm2;
        public final Module mlp;
        private final DropPath dropPath;

        Block(VitConfig cfg, double dropPath, Random rng) {
            int d = cfg.embedDim();
            norm1 = child("norm1", new LayerNorm(d, 1e-6));
            attn = child("attn", new Attention(d, cfg.numHeads(), cfg.qkvBias(), cfg.attnDropRate(), cfg.dropRate(), rng));
            norm2 = child("norm2", new LayerNorm(d, 1e-6));
            mlp = child("mlp", cfg.blockKind() == VitConfig.BlockKind.MLP
                    ? new Mlp(d, cfg.hiddenDim(), d, cfg.dropRate(), rng)
                    : new GrKan(d, cfg.hiddenDim(), d, cfg.groups(), cfg.act1Init(), cfg.act2Init(), cfg.linearInit(),
                    cfg.dropRate(), rng));
            this.dropPath = new DropPath(dropPath, rng);
            child("drop_path", this.dropPath);
        }

        @Override
        public Tensor forward(Tensor x) {
            x = x.add(dropPath.forward(attn.forward(norm1.forward(x))));
            return x.add(dropPath.forward(mlp.forward(norm2.forward(x))));
        }
    }

    /** A container whose children are named 0, 1, 2, ... (timm's blocks.N). */
    static final class Sequence extends Module {
        <M extends Module> M add(String name, M m) {
            return child(name, m);
        }

        @Override
        public Tensor forward(Tensor x) {
            throw new UnsupportedOperationException("Sequence is a container");
        }
    }
}
