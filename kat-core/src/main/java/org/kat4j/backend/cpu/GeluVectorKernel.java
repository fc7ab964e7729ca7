package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static org.kat4j.backend.cpu.GeluKernel.ERF_CLAMP;
import static org.kat4j.backend.cpu.GeluKernel.ERF_P;
import static org.kat4j.backend.cpu.GeluKernel.ERF_Q;
import static org.kat4j.backend.cpu.GeluKernel.INV_SQRT2;
import static org.kat4j.backend.cpu.GeluKernel.INV_SQRT_2PI;

/** {@link GeluKernel}'s loops on the JDK vector API (loaded only when {@link Simd#available()}). */
final class GeluVectorKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private GeluVectorKernel() {
    }

    private static FloatVector phi(FloatVector v) {
        FloatVector u = v.mul(INV_SQRT2).max(-ERF_CLAMP).min(ERF_CLAMP);
        FloatVector t = u.mul(u);
        FloatVector p = t.fma(ERF_P[6], ERF_P[5]);
        p = p.fma(t, FloatVector.broadcast(S, ERF_P[4]));
        p = p.fma(t, FloatVector.broadcast(S, ERF_P[3]));
        p = p.fma(t, FloatVector.broadcast(S, ERF_P[2]));
        p = p.fma(t, FloatVector.broadcast(S, ERF_P[1]));
        p = p.fma(t, FloatVector.broadcast(S, ERF_P[0]));
        FloatVector q = t.fma(ERF_Q[5], ERF_Q[4]);
        q = q.fma(t, FloatVector.broadcast(S, ERF_Q[3]));
        q = q.fma(t, FloatVector.broadcast(S, ERF_Q[2]));
        q = q.fma(t, FloatVector.broadcast(S, ERF_Q[1]));
        q = q.fma(t, FloatVector.broadcast(S, ERF_Q[0]));
        return u.mul(p).div(q).add(1.0f).mul(0.5f);
    }

    static void forward(float[] x, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            v.mul(phi(v)).intoArray(x, i);
        }
        for (; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + GeluKernel.erf(v * INV_SQRT2));
        }
    }

    static void backward(float[] x, float[] g, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            FloatVector v = FloatVector.fromArray(S, x, i);
            FloatVector pdf = SoftmaxKernel.exp(v.mul(v).mul(-0.5f)).mul(INV_SQRT_2PI);
            FloatVector d = v.fma(pdf, phi(v));
            FloatVector.fromArray(S, g, i).mul(d).intoArray(g, i);
        }
        for (; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + GeluKernel.erf(v * INV_SQRT2));
            g[i] *= cdf + v * INV_SQRT_2PI * SoftmaxKernel.exp(-0.5f * v * v);
        }
    }
}
