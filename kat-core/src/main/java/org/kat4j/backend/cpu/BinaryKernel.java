package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.kat4j.backend.BinaryOp;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code out = a op b} over float32 buffers where b is a's shape or a's trailing dimensions
 * (residual sums, bias adds, position embeddings, gradients accumulated in place), on the JDK vector API (callers check
 * {@link Simd#available()}): one pass instead of an ND4J op's setup, which dominated for the
 * small tensors of the micro models. Element by element, so the bits are those of any other
 * float32 arithmetic; large tensors go in {@link Chunks} over the cores.
 */
final class BinaryKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int CHUNK = 1 << 17;

    private BinaryKernel() {
    }

    /** Whether b's period (its element count) suits the kernel: whole vectors, or one row the size of a. */
    static boolean suits(long n, long period) {
        return period == n || (period >= S.length() && n % period == 0);
    }

    /** out[i] = a[i] op b[i mod period] for i &lt; n; out may be a (in place: gradient accumulation). */
    static void apply(BinaryOp op, ByteBuffer a, ByteBuffer b, ByteBuffer out, int n, int period) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object aSeg = Segments.ON ? Segments.of(a) : null;
        Object bSeg = Segments.ON ? Segments.of(b) : null;
        Object outSeg = Segments.ON ? Segments.of(out) : null;
        Chunks.forEach(n, 1, CHUNK, (c, lo, count) -> {
            int end = lo + count;
            for (int i = lo; i < end; ) {
                int j = i % period;
                int len = Math.min(period - j, end - i);
                run(op, a, aSeg, b, bSeg, out, outSeg, i, j, len);
                i += len;
            }
        });
    }

    /** x[i] = x[i] * f for i &lt; n, in place (gradient clipping's scale: the same float32 products as a scalar loop). */
    static void scaleInPlace(ByteBuffer x, int n, float f) {
        // Java 22 and later (Segments): the buffers as memory segments, made once here
        Object xSeg = Segments.ON ? Segments.of(x) : null;
        Chunks.forEach(n, 1, CHUNK, (c, lo, count) -> {
            ByteOrder o = ByteOrder.nativeOrder();
            int end = lo + count;
            int i = lo;
            for (int bound = lo + S.loopBound(count); i < bound; i += S.length()) {
                if (Segments.ON) {
                    Segments.store(Segments.load(S, xSeg, 4 * i).mul(f), xSeg, 4 * i);
                } else {
                    FloatVector.fromByteBuffer(S, x, 4 * i, o).mul(f).intoByteBuffer(x, 4 * i, o);
                }
            }
            for (; i < end; i++) {
                x.putFloat(4 * i, x.getFloat(4 * i) * f);
            }
        });
    }

    /** out[i + t] = a[i + t] op b[j + t] for t &lt; len. */
    private static void run(BinaryOp op, ByteBuffer a, Object aSeg, ByteBuffer b, Object bSeg, ByteBuffer out, Object outSeg, int i,
                            int j, int len) {
        ByteOrder o = ByteOrder.nativeOrder();
        int t = 0;
        for (int bound = S.loopBound(len); t < bound; t += S.length()) {
            FloatVector x = Segments.ON ? Segments.load(S, aSeg, 4 * (i + t)) : FloatVector.fromByteBuffer(S, a, 4 * (i + t), o);
            FloatVector y = Segments.ON ? Segments.load(S, bSeg, 4 * (j + t)) : FloatVector.fromByteBuffer(S, b, 4 * (j + t), o);
            FloatVector z = switch (op) {
                case ADD -> x.add(y);
                case SUB -> x.sub(y);
                case MUL -> x.mul(y);
                case DIV -> x.div(y);
            };
            if (Segments.ON) {
                Segments.store(z, outSeg, 4 * (i + t));
            } else {
                z.intoByteBuffer(out, 4 * (i + t), o);
            }
        }
        for (; t < len; t++) {
            float x = a.getFloat(4 * (i + t));
            float y = b.getFloat(4 * (j + t));
            out.putFloat(4 * (i + t), switch (op) {
                case ADD -> x + y;
                case SUB -> x - y;
                case MUL -> x * y;
                case DIV -> x / y;
            });
        }
    }
}
