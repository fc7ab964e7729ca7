package org.kat4j.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code acc += x} over float32 buffers in place, on the JDK vector API (callers check
 * {@link Simd#available()}): gradient accumulation, where most tensors are small enough that an
 * ND4J op's setup cost more than the additions. Element by element, so the bits are those of any
 * other float32 addition; large buffers go in {@link Chunks} over the cores.
 */
final class AddKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Elements per chunk: below two chunks (1 MB) the calling thread does it alone. */
    private static final int CHUNK = 1 << 18;

    private AddKernel() {
    }

    static void addInto(ByteBuffer acc, ByteBuffer x, int n) {
        Chunks.forEach(n, 1, CHUNK, (c, first, count) -> {
            int i = first;
            int end = first + count;
            ByteOrder o = ByteOrder.nativeOrder();
            for (int bound = first + S.loopBound(count); i < bound; i += S.length()) {
                FloatVector.fromByteBuffer(S, acc, 4 * i, o).add(FloatVector.fromByteBuffer(S, x, 4 * i, o))
                        .intoByteBuffer(acc, 4 * i, o);
            }
            for (; i < end; i++) {
                acc.putFloat(4 * i, acc.getFloat(4 * i) + x.getFloat(4 * i));
            }
        });
    }
}
