package org.kat4j.nn;

import org.kat4j.tensor.Tensor;

import java.util.Random;

/** The ViT MLP (timm {@code Mlp}): fc1 -&gt; GELU -&gt; drop1 -&gt; fc2 -&gt; drop2. The GR-KAN baseline. */
public final class Mlp extends Module {
    public final Linear fc1;
    public final Dropout drop1;
    public final Linear fc2;
    public final Dropout drop2;

    public Mlp(int in, int hidden, int out, double drop, Random rng) {
        this.fc1 = child("fc1", new Linear("fc1", in, hidden, true, rng));
        this.drop1 = child("drop1", new Dropout(drop, rng));
        this.fc2 = child("fc2", new Linear("fc2", hidden, out, true, rng));
        this.drop2 = child("drop2", new Dropout(drop, rng));
    }

    @Override
    public Tensor forward(Tensor x) {
        return drop2.forward(fc2.forward(drop1.forward(fc1.forward(x).gelu())));
    }
}
