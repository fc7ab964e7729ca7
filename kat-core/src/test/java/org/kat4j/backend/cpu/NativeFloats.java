package org.kat4j.backend.cpu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Random;

/** Test inputs as the CPU kernels read them: native memory in native byte order. */
final class NativeFloats {
    private NativeFloats() {
    }

    /** The bytes of a native buffer holding these values. */
    static ByteBuffer bytes(float[] v) {
        ByteBuffer b = ByteBuffer.allocateDirect(4 * v.length).order(ByteOrder.nativeOrder());
        b.asFloatBuffer().put(v);
        return b;
    }

    /** A native float buffer holding these values. */
    static FloatBuffer floats(float[] v) {
        return bytes(v).asFloatBuffer();
    }

    /** n values uniform in [-1, 1). */
    static float[] uniform(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return v;
    }
}
