package org.kat4j.nn;

import org.kat4j.rational.Gain;
import org.kat4j.rational.RationalInit;
import org.kat4j.rational.RationalShapes;
import org.kat4j.rational.RationalOp;
import org.kat4j.tensor.Tensor;

import java.util.function.Consumer;

/**
 * The group-rational activation of KAT: F(x) = P5(x)/Q4(x), numerator shared by all groups,
 * one denominator per group of channels/groups contiguous channels. Parameters
 * {@code weight_numerator} [1, 6] and {@code weight_denominator} [groups, 4], as in the
 * reference checkpoints.
 *
 * <pre>{@code
 * var act = new GroupRational(768, 8, RationalInit.SWISH);
 * Tensor y = act.forward(x);   // x: [..., 768]
 * }</pre>
 */
public final class GroupRational extends Module {
    private final int channels;
    private final int groups;
    public final Tensor numerator;
    public final Tensor denominator;
    private volatile Consumer<Tensor> observer;

    public GroupRational(int channels, int groups, RationalInit init) {
        RationalShapes.checkLayout(channels, channels, groups, "");
        this.channels = channels;
        this.groups = groups;
        double[] a = init.numerator();
        double[] b1 = init.denominator();
        float[] num = new float[6];
        for (int i = 0; i < 6; i++) {
            num[i] = (float) a[i];
        }
        float[] den = new float[groups * 4];
        for (int g = 0; g < groups; g++) {
            for (int k = 0; k < 4; k++) {
                den[g * 4 + k] = (float) b1[k];
            }
        }
        this.numerator = param("weight_numerator", Tensor.of(num, 1, 6));
        this.denominator = param("weight_denominator", Tensor.of(den, groups, 4));
    }

    /**
     * Has {@code o} called with every input of {@link #forward} from now on (null: no more);
     * for inspection tools that record what the activation sees.
     */
    public void observeInputs(Consumer<Tensor> o) {
        observer = o;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.size(-1) != channels) {
            throw new IllegalArgumentException("GroupRational: input " + shape(x) + ", expected last dim " + channels);
        }
        Consumer<Tensor> o = observer;
        if (o != null) {
            o.accept(x);
        }
        return RationalOp.apply(x, numerator, denominator);
    }

    /** E[F(x)^2] for x ~ N(0, 1) under the current coefficients (averaged over groups). */
    public double secondMoment() {
        return Gain.secondMomentGroups(numerator.toDoubleArray(), denominator.toDoubleArray());
    }

    public int groups() {
        return groups;
    }

    /** The channels (last dimension) it applies to. */
    public int channels() {
        return channels;
    }
}
