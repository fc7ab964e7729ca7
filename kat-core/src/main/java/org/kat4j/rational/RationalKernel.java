package org.kat4j.rational;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * The group-rational function F(x) = P(x)/Q(x) on float32 data in host memory, channels-last
 * [rows, d], channel c in group c / (d / groups). Implementations: the CPU kernel in this module,
 * a CUDA one in kat-cuda (found through {@link RationalKernelProvider}). Buffers are read from
 * index 0 (slice them first); this interface does not depend on ND4J.
 *
 * <p>Coefficients: {@code num} = a0..a5 (shared by all groups), {@code den} = [groups * 4],
 * b0..b3 of each group. The formulas are in docs/design.md, section 1.
 *
 * <p>Each method also comes taking {@link ByteBuffer}s of float32 values in native byte order
 * (what the CPU backend passes for its arrays): the vector CPU kernel reads and writes those
 * in place, which is faster than through a {@link FloatBuffer}; other kernels take their float
 * view.
 */
public interface RationalKernel {
    /** A short name shown by {@code kat info} ("cpu", "cuda:NVIDIA H100 ..."). */
    String name();

    /** y = F(x) for {@code n} elements ({@code n % d == 0}). */
    void forward(FloatBuffer x, FloatBuffer y, int n, int d, int groups, float[] num, float[] den);

    /**
     * gx = g * F'(x); adds dL/da (6 values, summed over all groups) into {@code gradNum} and dL/db
     * ([groups * 4]) into {@code gradDen}. {@code gx} may be null when only coefficient gradients
     * are wanted.
     */
    void backward(FloatBuffer x, FloatBuffer g, FloatBuffer gx, int n, int d, int groups, float[] num, float[] den,
                  double[] gradNum, double[] gradDen);

    /** As {@link #forward(FloatBuffer, FloatBuffer, int, int, int, float[], float[])} on native-order bytes. */
    default void forward(ByteBuffer x, ByteBuffer y, int n, int d, int groups, float[] num, float[] den) {
        checkBytes("x", x, n);
        checkBytes("y", y, n);
        forward(floats(x), floats(y), n, d, groups, num, den);
    }

    /**
     * As {@link #backward(FloatBuffer, FloatBuffer, FloatBuffer, int, int, int, float[], float[], double[], double[])}
     * on native-order bytes.
     */
    default void backward(ByteBuffer x, ByteBuffer g, ByteBuffer gx, int n, int d, int groups, float[] num, float[] den,
                          double[] gradNum, double[] gradDen) {
        checkBytes("x", x, n);
        checkBytes("g", g, n);
        if (gx != null) {
            checkBytes("gx", gx, n);
        }
        backward(floats(x), floats(g), gx == null ? null : floats(gx), n, d, groups, num, den, gradNum, gradDen);
    }

    /**
     * Checks that {@code b} holds {@code n} float32 values from byte 0 in native byte order;
     * throws IllegalArgumentException naming what came.
     */
    static void checkBytes(String name, ByteBuffer b, int n) {
        if (b.order() != ByteOrder.nativeOrder()) {
            throw new IllegalArgumentException("GroupRational: buffer " + name + " is " + b.order() + ", expected native order "
                    + ByteOrder.nativeOrder() + " (call order(ByteOrder.nativeOrder()) on it)");
        }
        if (b.capacity() < 4L * n) {
            throw new IllegalArgumentException("GroupRational: buffer " + name + " holds " + b.capacity() + " bytes, expected "
                    + 4L * n + " (" + n + " float32 values)");
        }
    }

    /** The float view of a native-order byte buffer, from byte 0 (whatever its position). */
    static FloatBuffer floats(ByteBuffer b) {
        return b.duplicate().clear().order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    /** Checks the arguments every kernel shares; throws IllegalArgumentException naming the values. */
    static void checkArgs(int n, int d, int groups, float[] num, float[] den) {
        RationalShapes.checkLayout(n, d, groups, "");
        RationalShapes.checkCoefficients(groups, num.length, den.length);
    }
}
