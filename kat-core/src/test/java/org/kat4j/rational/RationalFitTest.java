package org.kat4j.rational;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RationalFitTest {
    static double maxError(RationalInit init, double[] a, double[] b) {
        double max = 0;
        for (int i = 0; i <= 6000; i++) {
            double x = -3 + 6.0 * i / 6000;
            max = Math.max(max, Math.abs(Rational.eval(x, a, b, 0) - init.target(x)));
        }
        return max;
    }

    @Test
    void referenceSwishTableFitsSwish() {
        double err = maxError(RationalInit.SWISH, RationalInit.SWISH.numerator(), RationalInit.SWISH.denominator());
        assertTrue(err < 1.3e-6, "reference swish max error " + err);
    }

    @Test
    void ourSwishFitReachesOneEMinusFive() {
        RationalFit.Result r = RationalFit.leastSquares().fit(RationalInit.SWISH::target, -3, 3);
        double err = maxError(RationalInit.SWISH, r.numerator(), r.denominator());
        System.out.printf("swish fit: max error %.3e on [-3, 3]%n", err);
        assertTrue(err <= 1e-5, "swish fit max error " + err);
        for (double bk : r.denominator()) {
            assertTrue(bk >= 0, "denominator terms come out as magnitudes");
        }
    }

    @Test
    void shippedTablesAreWhatTheFitterProducesAndGeluIsARealGelu() {
        RationalFit fitter = new RationalFit(2001, 300, 30);
        for (RationalInit init : new RationalInit[]{RationalInit.GELU, RationalInit.RELU, RationalInit.LEAKY_RELU,
                RationalInit.TANH, RationalInit.SIGMOID}) {
            RationalFit.Result r = fitter.fit(init::target, -3, 3);
            double shipped = maxError(init, init.numerator(), init.denominator());
            double refit = maxError(init, r.numerator(), r.denominator());
            System.out.printf("%s: shipped max error %.3e, refit %.3e%n", init, shipped, refit);
            assertEquals(refit, shipped, 1e-3 * shipped + 1e-12, init + " table is stale: rerun the fitter");
            for (int i = 0; i < 6; i++) {
                assertEquals(r.numerator()[i], init.numerator()[i], 1e-6 * (1 + Math.abs(r.numerator()[i])), init + " a" + i);
            }
        }
        assertTrue(maxError(RationalInit.GELU, RationalInit.GELU.numerator(), RationalInit.GELU.denominator()) <= 5e-3);
        assertTrue(maxError(RationalInit.TANH, RationalInit.TANH.numerator(), RationalInit.TANH.denominator()) <= 1e-5);
        assertTrue(maxError(RationalInit.SIGMOID, RationalInit.SIGMOID.numerator(), RationalInit.SIGMOID.denominator()) <= 1e-6);
    }

    @Test
    void referenceGeluTableIsNotAGeluUnderVersionA() {
        double[] a = {-0.00153969, 0.51692871, 0.44075827, 0.0972553, -0.00884418, -0.00378675};
        double[] b = {-0.14171056, -0.06481231, -0.0444695, 0.01283776};
        double err = maxError(RationalInit.GELU, a, b);
        assertEquals(1.47, err, 0.01, "the reference gelu table is off by about 1.47");
        assertEquals(1.53, Rational.eval(3, a, b, 0), 0.01);
    }

    @Test
    void identityIsExact() {
        assertEquals(0.0, maxError(RationalInit.IDENTITY, RationalInit.IDENTITY.numerator(), RationalInit.IDENTITY.denominator()));
    }

    @Test
    void erfMatchesKnownValues() {
        assertEquals(0.8427007929497149, Erf.erf(1), 1e-15);
        assertEquals(0.3286267594591274, Erf.erf(0.3), 1e-15);
        assertEquals(-0.9953222650189527, Erf.erf(-2), 1e-15);
        assertEquals(0.9999999999984626, Erf.erf(5), 1e-15);
        assertEquals(0.5204998778130465, Erf.erf(0.5), 1e-15);
    }
}
