package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.kat4j.backend.cpu.GeluKernel.ERF_CLAMP;
import static org.kat4j.backend.cpu.GeluKernel.ERF_P;
import static org.kat4j.backend.cpu.GeluKernel.ERF_Q;
import static org.kat4j.backend.cpu.GeluKernel.INV_SQRT2;
import static org.kat4j.backend.cpu.GeluKernel.INV_SQRT_2PI;

/** {@link GeluKernel}'s loops on the JDK vector API (loaded only when {@link Simd#available()}). */
final class GeluVectorKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

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

    /** y = GELU(x) over elements [from, to) of native-order float32 bytes. */
    static void forward(ByteBuffer x, ByteBuffer y, int from, int to) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object ySeg = Segments.ON ? Segments.of(y) : null;
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, 4 * i) : FloatVector.fromByteBuffer(S, x, 4 * i, NATIVE);
            if (Segments.ON) {
                Segments.store(v.mul(phi(v)), ySeg, 4 * i);
            } else {
                v.mul(phi(v)).intoByteBuffer(y, 4 * i, NATIVE);
            }
        }
        GeluKernel.forwardScalar(x, y, i, to);
    }

    /** gx = g GELU'(x) over elements [from, to); gx may be g. */
    static void backward(ByteBuffer x, ByteBuffer g, ByteBuffer gx, int from, int to) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Object gSeg = Segments.ON ? Segments.of(g) : null;
        Object gxSeg = Segments.ON ? Segments.of(gx) : null;
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            FloatVector v = Segments.ON ? Segments.load(S, xSeg, 4 * i) : FloatVector.fromByteBuffer(S, x, 4 * i, NATIVE);
            FloatVector pdf = SoftmaxKernel.exp(v.mul(v).mul(-0.5f)).mul(INV_SQRT_2PI);
            FloatVector d = v.fma(pdf, phi(v));
            if (Segments.ON) {
                Segments.store(Segments.load(S, gSeg, 4 * i).mul(d), gxSeg, 4 * i);
            } else {
                FloatVector.fromByteBuffer(S, g, 4 * i, NATIVE).mul(d).intoByteBuffer(gx, 4 * i, NATIVE);
            }
        }
        GeluKernel.backwardScalar(x, g, gx, i, to);
    }
}
