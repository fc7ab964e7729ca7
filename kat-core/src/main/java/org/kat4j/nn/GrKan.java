package org.kat4j.nn;

import org.kat4j.rational.Gain;
import org.kat4j.rational.RationalInit;
import org.kat4j.tensor.Tensor;

import java.util.Random;

/**
 * The Group-Rational KAN block that replaces the transformer MLP (docs/design.md, section 4), with timm
 * names: act1 (identity init) -&gt; drop1 -&gt; fc1 -&gt; act2 (swish init) -&gt; drop2 -&gt; fc2.
 */
public final class GrKan extends Module {
    public final GroupRational act1;
    public final Dropout drop1;
    public final Linear fc1;
    public final GroupRational act2;
    public final Dropout drop2;
    public final Linear fc2;

    /** The reference configuration: 8 groups, identity then swish, timm init. */
    public GrKan(int in, int hidden, int out, double drop, Random rng) {
        this(in, hidden, out, 8, RationalInit.IDENTITY, RationalInit.SWISH, LinearInit.TIMM, drop, rng);
    }

    public GrKan(int in, int hidden, int out, int groups, RationalInit act1Init, RationalInit act2Init,
                 LinearInit init, double drop, Random rng) {
        this.act1 = child("act1", new GroupRational(in, groups, act1Init));
        this.drop1 = child("drop1", new Dropout(drop, rng));
        this.fc1 = child("fc1", linear("fc1", in, hidden, init, act1Init, rng));
        this.act2 = child("act2", new GroupRational(hidden, groups, act2Init));
        this.drop2 = child("drop2", new Dropout(drop, rng));
        this.fc2 = child("fc2", linear("fc2", hidden, out, init, act2Init, rng));
    }

    private static Linear linear(String name, int in, int out, LinearInit init, RationalInit feeding, Random rng) {
        if (init == LinearInit.TIMM) {
            return new Linear(name, in, out, true, rng);
        }
        double moment = Gain.secondMoment(feeding.numerator(), feeding.denominator());
        return new Linear(name, in, out, true, rng, Math.sqrt(1.0 / (in * moment)));
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor h = fc1.forward(drop1.forward(act1.forward(x)));
        return fc2.forward(drop2.forward(act2.forward(h)));
    }
}
