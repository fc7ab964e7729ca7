package org.kat4j.autograd;

import org.kat4j.autograd.Losses;
import org.junit.jupiter.api.Test;
import org.kat4j.tensor.DType;
import org.kat4j.tensor.Tensor;

import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Float64 finite-difference gradient checks for every op (random shapes, broadcasting included). */
class OpsGradientTest {
    static final double TOL = 1e-6;
    final Random rng = new Random(42);

    Tensor rnd(long... shape) {
        return Tensor.rand(rng, DType.FLOAT64, -2, 2, shape).requiresGrad(true);
    }

    Tensor pos(long... shape) {
        return Tensor.rand(rng, DType.FLOAT64, 0.5, 3, shape).requiresGrad(true);
    }

    void check(Function<Tensor[], Tensor> f, Tensor... in) {
        GradCheck.Result r = GradCheck.assertGradients(f, TOL, in);
        assertTrue(r.checked() > 0, "nothing checked");
    }

    @Test
    void binaryOpsWithBroadcasting() {
        long[][][] pairs = {
                {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{2, 1, 4}, {1, 3, 1}}, {{5}, {2, 5}}, {{2, 3}, {1}}};
        for (long[][] p : pairs) {
            check(t -> t[0].add(t[1]), rnd(p[0]), rnd(p[1]));
            check(t -> t[0].sub(t[1]), rnd(p[0]), rnd(p[1]));
            check(t -> t[0].mul(t[1]), rnd(p[0]), rnd(p[1]));
            check(t -> t[0].div(t[1]), rnd(p[0]), pos(p[1]));
        }
    }

    @Test
    void sameTensorUsedTwiceAccumulates() {
        check(t -> t[0].mul(t[0]).add(t[0]), rnd(3, 5));
        check(t -> t[0].matmul(t[0]), rnd(4, 4));
    }

    @Test
    void unaryOps() {
        check(t -> t[0].neg(), rnd(3, 4));
        check(t -> t[0].add(1.5), rnd(3, 4));
        check(t -> t[0].mul(-2.5), rnd(3, 4));
        check(t -> t[0].exp(), rnd(2, 3, 4));
        check(t -> t[0].log(), pos(2, 5));
        check(t -> t[0].sqrt(), pos(2, 5));
        check(t -> t[0].pow(3), rnd(7));
        check(t -> t[0].pow(-1.5), pos(7));
        check(t -> t[0].tanh(), rnd(3, 6));
        check(t -> Ops.sigmoid(t[0]), rnd(3, 6));
        check(t -> t[0].relu(), rnd(4, 6));
        check(t -> t[0].gelu(), rnd(4, 6));
        check(t -> t[0].geluTanh(), rnd(4, 6));
        check(t -> t[0].silu(), rnd(4, 6));
    }

    @Test
    void matmulVariants() {
        check(t -> t[0].matmul(t[1]), rnd(3, 4), rnd(4, 5));
        check(t -> Ops.matmul(t[0], t[1], true, false), rnd(4, 3), rnd(4, 5));
        check(t -> Ops.matmul(t[0], t[1], false, true), rnd(3, 4), rnd(5, 4));
        check(t -> Ops.matmul(t[0], t[1], true, true), rnd(4, 3), rnd(5, 4));
        check(t -> t[0].matmul(t[1]), rnd(2, 3, 4), rnd(4, 5));
        check(t -> Ops.matmul(t[0], t[1], false, true), rnd(2, 3, 4), rnd(5, 4));
        check(t -> t[0].matmul(t[1]), rnd(2, 3, 4, 5), rnd(2, 3, 5, 2));
        check(t -> Ops.matmul(t[0], t[1], false, true), rnd(2, 2, 4, 3), rnd(2, 2, 5, 3));
        check(t -> Ops.matmul(t[0], t[1], true, false), rnd(2, 3, 4), rnd(2, 3, 5));
        check(t -> Ops.linear(t[0], t[1], t[2]), rnd(2, 3, 4), rnd(6, 4), rnd(6));
    }

    @Test
    void reductions() {
        check(t -> t[0].sum(), rnd(3, 4));
        check(t -> t[0].sum(false, 1), rnd(3, 4, 2));
        check(t -> t[0].sum(true, 0, 2), rnd(3, 4, 2));
        check(t -> t[0].mean(), rnd(3, 4));
        check(t -> t[0].mean(true, -1), rnd(3, 4, 5));
        check(t -> t[0].max(false, 1), rnd(3, 6));
        check(t -> t[0].max(true, 0, 2), rnd(3, 4, 5));
    }

    @Test
    void shapeOps() {
        check(t -> t[0].reshape(6, -1).mul(t[0].reshape(6, 4)), rnd(2, 3, 4));
        check(t -> t[0].permute(2, 0, 1), rnd(2, 3, 4));
        check(t -> t[0].transpose(1, 3), rnd(2, 3, 4, 5));
        check(t -> t[0].narrow(1, 1, 2), rnd(3, 4, 2));
        check(t -> Ops.concat(1, t[0], t[1], t[0]), rnd(2, 3, 2), rnd(2, 1, 2));
        check(t -> Ops.indexSelect(t[0], 1, 0, 2, 2), rnd(2, 4, 3));
        check(t -> Ops.indexSelect(t[0], 1, 0).reshape(2, 3), rnd(2, 4, 3));
    }

    @Test
    void softmaxFamilyAndLosses() {
        check(t -> t[0].softmax(), rnd(3, 5));
        check(t -> t[0].softmax(), rnd(2, 3, 4));
        check(t -> t[0].logSoftmax(), rnd(2, 3, 4));
        check(t -> Losses.crossEntropy(t[0], new int[]{0, 3, 2}, 0.0), rnd(3, 4));
        check(t -> Losses.crossEntropy(t[0], new int[]{0, 3, 2}, 0.1), rnd(3, 4));
        Tensor soft = Tensor.of(new double[]{0.2, 0.8, 0, 0, 0.5, 0.5, 0.1, 0.1, 0.1, 0.7, 0, 0.2}, 3, 4);
        check(t -> Losses.crossEntropySoft(t[0], soft), rnd(3, 4));
    }

    @Test
    void layerNormAndStochasticOps() {
        check(t -> Ops.layerNorm(t[0], t[1], t[2], 1e-6), rnd(2, 3, 8), rnd(8), rnd(8));
        check(t -> Ops.layerNorm(t[0], t[1], t[2], 1e-5), rnd(5, 4), rnd(4), rnd(4));
        check(t -> Ops.dropout(t[0], 0.3, new Random(7)), rnd(4, 5));
        check(t -> Ops.dropPath(t[0], 0.5, new Random(7)), rnd(6, 3, 2));
    }

    @Test
    void patchEmbedding() {
        check(t -> Ops.patchify(t[0], 2), rnd(2, 3, 4, 6));
        check(t -> Ops.patchConv(t[0], t[1], t[2]), rnd(2, 3, 4, 4), rnd(5, 3, 2, 2), rnd(5));
    }
}
