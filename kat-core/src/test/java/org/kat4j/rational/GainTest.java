package org.kat4j.rational;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class GainTest {
    @Test
    void gaussHermiteIntegratesMomentsExactly() {
        double[][] nw = Gain.nodes(200);
        double w = 0;
        for (double v : nw[1]) {
            w += v;
        }
        assertEquals(Math.sqrt(Math.PI), w, 1e-13);
        assertEquals(1.0, Gain.secondMoment(x -> x), 1e-13);            // E[x^2] = 1
        assertEquals(3.0, Gain.secondMoment(x -> x * x), 1e-12);            // E[x^4] = 3
    }

    @Test
    void swishGainsMatchKatMd() {
        double rational = 1 / Gain.secondMoment(RationalInit.SWISH.numerator(), RationalInit.SWISH.denominator());
        double swish = 1 / Gain.secondMoment(x -> x / (1 + Math.exp(-x)));
        assertEquals(2.81076, rational, 1e-5);
        assertEquals(2.81076, swish, 1e-5);
        assertEquals(1.0, Gain.secondMoment(RationalInit.IDENTITY.numerator(), RationalInit.IDENTITY.denominator()), 1e-13);
    }
}
