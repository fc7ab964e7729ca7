package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The float32 AdamW update on the JDK vector API (loaded only when {@link Simd#available()}),
 * reading and writing the parameter, its gradient and both moments in their bytes in place: the
 * same operations in the same order as {@link CpuBackend#adamwPlain}, which does the elements short
 * of a vector (separate multiplies
 * and adds, a correctly rounded square root, one division), so the same bits, without copying each
 * chunk into arrays and back.
 */
final class AdamWVectorKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private AdamWVectorKernel() {
    }

    /** Elements [from, to): m = b1 m + c1 g, v = b2 v + c2 g g, w = decay w - step m / (sqrt(v) / bc2Sqrt + e). */
    static void update(ByteBuffer w, ByteBuffer g, ByteBuffer m, ByteBuffer v, int from, int to, float b1, float b2, float c1,
                       float c2, float e, float decay, float stepSize, float bc2Sqrt) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object wSeg = Segments.ON ? Segments.of(w) : null;
        Object gSeg = Segments.ON ? Segments.of(g) : null;
        Object mSeg = Segments.ON ? Segments.of(m) : null;
        Object vSeg = Segments.ON ? Segments.of(v) : null;
        int i = from;
        for (int bound = from + S.loopBound(to - from); i < bound; i += S.length()) {
            int at = 4 * i;
            FloatVector gi = Segments.ON ? Segments.load(S, gSeg, at) : FloatVector.fromByteBuffer(S, g, at, NATIVE);
            FloatVector mo = Segments.ON ? Segments.load(S, mSeg, at) : FloatVector.fromByteBuffer(S, m, at, NATIVE);
            FloatVector vo = Segments.ON ? Segments.load(S, vSeg, at) : FloatVector.fromByteBuffer(S, v, at, NATIVE);
            FloatVector wo = Segments.ON ? Segments.load(S, wSeg, at) : FloatVector.fromByteBuffer(S, w, at, NATIVE);
            FloatVector mi = mo.mul(b1).add(gi.mul(c1));
            FloatVector vi = vo.mul(b2).add(gi.mul(c2).mul(gi));
            FloatVector wi = wo.mul(decay).sub(mi.mul(stepSize).div(vi.sqrt().div(bc2Sqrt).add(e)));
            if (Segments.ON) {
                Segments.store(mi, mSeg, at);
                Segments.store(vi, vSeg, at);
                Segments.store(wi, wSeg, at);
            } else {
                mi.intoByteBuffer(m, at, NATIVE);
                vi.intoByteBuffer(v, at, NATIVE);
                wi.intoByteBuffer(w, at, NATIVE);
            }
        }
        CpuBackend.adamwPlain(w, g, m, v, i, to, b1, b2, c1, c2, e, decay, stepSize, bc2Sqrt);
    }
}
