package org.kat4j.nn;

import org.kat4j.autograd.Ops;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/** timm multi-head self-attention: qkv (one Linear), scaled dot-product, proj. Input [B, N, D]. */
public final class Attention extends Module {
    private final int heads;
    private final int headDim;
    private final double scale;
    public final Linear qkv;
    public final Dropout attnDrop;
    public final Linear proj;
    public final Dropout projDrop;

    public Attention(int dim, int heads, boolean qkvBias, double attnDrop, double projDrop, Random rng) {
        if (heads < 1 || dim % heads != 0) {
            throw new IllegalArgumentException("Attention: dim " + dim + " not divisible by heads " + heads);
        }
        this.heads = heads;
        this.headDim = dim / heads;
        this.scale = 1.0 / Math.sqrt(headDim);
        this.qkv = child("qkv", new Linear("qkv", dim, 3 * dim, qkvBias, rng));
        this.attnDrop = child("attn_drop", new Dropout(attnDrop, rng));
        this.proj = child("proj", new Linear("proj", dim, dim, true, rng));
        this.projDrop = child("proj_drop", new Dropout(projDrop, rng));
    }

    /** The number of heads. */
    public int heads() {
        return heads;
    }

    /** The factor the queries are scaled by, 1 / sqrt(head dim). */
    public double scale() {
        return scale;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.rank() != 3) {
            throw new IllegalArgumentException("Attention: input " + shape(x) + ", expected [batch, tokens, dim]");
        }
        if (!attnDrop.active()) {
            // the fused op: no intermediate copies of q, k, v or the scores
            return projDrop.forward(proj.forward(Ops.attention(qkv.forward(x), heads, scale)));
        }
        long b = x.size(0);
        long n = x.size(1);
        long d = x.size(2);
        // with dropout on the probabilities: [B, N, 3, H, hd] -> [3, B, H, N, hd]
        Tensor qkvT = qkv.forward(x).reshape(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4);
        Tensor q = qkvT.narrow(0, 0, 1).reshape(b, heads, n, headDim);
        Tensor k = qkvT.narrow(0, 1, 1).reshape(b, heads, n, headDim);
        Tensor v = qkvT.narrow(0, 2, 1).reshape(b, heads, n, headDim);
        Tensor attn = Ops.matmul(q.mul(scale), k, false, true).softmax();
        attn = attnDrop.forward(attn);
        Tensor out = attn.matmul(v).transpose(1, 2).reshape(b, n, d);
        return projDrop.forward(proj.forward(out));
    }
}
