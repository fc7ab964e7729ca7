package org.kat4j.backend;

import org.kat4j.tensor.DType;

import java.util.List;
import java.util.function.Supplier;

/**
 * A second device for tests, {@code sim:0}: the CPU backend's ops on storages that say they live
 * elsewhere, so that an op mixing a {@code sim} tensor with a CPU one fails as it would on a GPU.
 * What the CUDA backend needs from the rest of kat4j (models, trainer, checkpoints, command line)
 * is tested on it without a GPU; its numbers are the CPU's, bit for bit.
 */
public final class SimBackend implements Backend {
    public static final Device DEVICE = new Device("sim", 0);
    static final SimBackend INSTANCE = new SimBackend();

    /** Registers {@code sim:0} (test class path only). */
    public static final class Provider implements BackendProvider {
        @Override
        public String type() {
            return "sim";
        }

        @Override
        public List<Backend> backends() {
            return List.of(INSTANCE);
        }

        @Override
        public String status() {
            return "test device over the CPU backend";
        }
    }

    /** A CPU storage seen as one on {@code sim:0}. */
    record SimStorage(Storage inner) implements Storage {
        @Override
        public Backend backend() {
            return INSTANCE;
        }

        @Override
        public DType dtype() {
            return inner.dtype();
        }

        @Override
        public long[] shape() {
            return inner.shape();
        }
    }

    private static Backend cpu() {
        return org.kat4j.backend.cpu.CpuBackend.INSTANCE; // not Backends.cpu(): describe() runs while the registry is being built
    }

    private static Storage in(Storage s) {
        if (!(s instanceof SimStorage sim)) {
            throw new IllegalArgumentException("sim backend given a storage on " + s.device());
        }
        return sim.inner();
    }

    private static Storage out(Storage s) {
        return s == null ? null : new SimStorage(s);
    }

    private static Storage[] out(Storage[] s) {
        Storage[] r = new Storage[s.length];
        for (int i = 0; i < s.length; i++) {
            r[i] = out(s[i]);
        }
        return r;
    }

    private static Saved out(Saved s) {
        return new Saved(out(s.out()), s.state());
    }

    private static Saved in(Saved s) {
        return new Saved(in(s.out()), s.state());
    }

    @Override
    public Device device() {
        return DEVICE;
    }

    @Override
    public String describe() {
        return "sim:0 (test device over " + cpu().describe() + ")";
    }

    @Override
    public Storage empty(DType dtype, long... shape) {
        return out(cpu().empty(dtype, shape));
    }

    @Override
    public Storage full(DType dtype, double value, long... shape) {
        return out(cpu().full(dtype, value, shape));
    }

    @Override
    public Storage fromFloats(float[] data, long... shape) {
        return out(cpu().fromFloats(data, shape));
    }

    @Override
    public Storage fromDoubles(double[] data, long... shape) {
        return out(cpu().fromDoubles(data, shape));
    }

    @Override
    public float[] toFloats(Storage s) {
        return cpu().toFloats(in(s));
    }

    @Override
    public double[] toDoubles(Storage s) {
        return cpu().toDoubles(in(s));
    }

    @Override
    public double getDouble(Storage s, long index) {
        return cpu().getDouble(in(s), index);
    }

    @Override
    public void setDouble(Storage s, long index, double value) {
        cpu().setDouble(in(s), index, value);
    }

    @Override
    public Storage copy(Storage s, DType dtype) {
        return out(cpu().copy(in(s), dtype));
    }

    @Override
    public void assign(Storage dst, Storage src) {
        cpu().assign(in(dst), src instanceof SimStorage ss ? ss.inner() : src);
    }

    @Override
    public void fill(Storage s, double value) {
        cpu().fill(in(s), value);
    }

    @Override
    public void addScaledInPlace(Storage acc, Storage x, double alpha) {
        cpu().addScaledInPlace(in(acc), in(x), alpha);
    }

    @Override
    public void addInPlace(Storage acc, Storage x) {
        cpu().addInPlace(in(acc), in(x));
    }

    @Override
    public void scaleInPlace(Storage x, double s) {
        cpu().scaleInPlace(in(x), s);
    }

    @Override
    public Storage random(DType dtype, long seed, long offset, boolean normal, double lo, double hi, long... shape) {
        return out(cpu().random(dtype, seed, offset, normal, lo, hi, shape));
    }

    @Override
    public Storage dropoutMask(DType dtype, double p, long seed, long... shape) {
        return out(cpu().dropoutMask(dtype, p, seed, shape));
    }

    @Override
    public AutoCloseable openScope(int depth) {
        return () -> { }; // the CPU backend's own scope (Scope opens one on every backend) holds the memory
    }

    @Override
    public <T> T outsideScopes(Supplier<T> body) {
        return body.get(); // likewise
    }

    @Override
    public void release(Storage s) {
        cpu().release(in(s));
    }

    @Override
    public AutoCloseable ownThreads() {
        return cpu().ownThreads();
    }

    @Override
    public <T> T onCallingThread(Supplier<T> body) {
        return cpu().onCallingThread(body);
    }

    @Override
    public Storage unary(UnaryOp op, Storage x) {
        return out(cpu().unary(op, in(x)));
    }

    @Override
    public Storage scalar(ScalarOp op, Storage x, double s) {
        return out(cpu().scalar(op, in(x), s));
    }

    @Override
    public Storage binary(BinaryOp op, Storage a, Storage b) {
        return out(cpu().binary(op, in(a), in(b)));
    }

    @Override
    public Storage sum(Storage x, int[] axes, boolean keepDims) {
        return out(cpu().sum(in(x), axes, keepDims));
    }

    @Override
    public Storage mean(Storage x, int[] axes, boolean keepDims) {
        return out(cpu().mean(in(x), axes, keepDims));
    }

    @Override
    public Storage max(Storage x, int[] axes, boolean keepDims) {
        return out(cpu().max(in(x), axes, keepDims));
    }

    @Override
    public Storage sumTo(Storage g, long[] shape) {
        Storage r = cpu().sumTo(in(g), shape);
        return r == in(g) ? g : out(r);
    }

    @Override
    public Storage expand(Storage g, long[] shape) {
        return out(cpu().expand(in(g), shape));
    }

    @Override
    public double norm2(Storage x) {
        return cpu().norm2(in(x));
    }

    @Override
    public Storage matmul(Storage a, Storage b, boolean transA, boolean transB) {
        return out(cpu().matmul(in(a), in(b), transA, transB));
    }

    @Override
    public Storage linear(Storage x, Storage w, Storage bias) {
        return out(cpu().linear(in(x), in(w), in(bias)));
    }

    @Override
    public Storage reshape(Storage x, long... shape) {
        return out(cpu().reshape(in(x), shape));
    }

    @Override
    public Storage permute(Storage x, int... dims) {
        return out(cpu().permute(in(x), dims));
    }

    @Override
    public Storage narrow(Storage x, int dim, long start, long length) {
        return out(cpu().narrow(in(x), dim, start, length));
    }

    @Override
    public Storage unnarrow(Storage g, long[] shape, int dim, long start) {
        return out(cpu().unnarrow(in(g), shape, dim, start));
    }

    @Override
    public Storage concat(int dim, Storage... xs) {
        Storage[] inner = new Storage[xs.length];
        for (int i = 0; i < xs.length; i++) {
            inner[i] = in(xs[i]);
        }
        return out(cpu().concat(dim, inner));
    }

    @Override
    public Storage indexSelect(Storage x, int dim, long[] index) {
        return out(cpu().indexSelect(in(x), dim, index));
    }

    @Override
    public Storage indexAdd(Storage g, long[] shape, int dim, long[] index) {
        return out(cpu().indexAdd(in(g), shape, dim, index));
    }

    @Override
    public Storage softmax(Storage x) {
        return out(cpu().softmax(in(x)));
    }

    @Override
    public Storage softmaxBackward(Storage y, Storage g) {
        return out(cpu().softmaxBackward(in(y), in(g)));
    }

    @Override
    public Storage logSoftmax(Storage x) {
        return out(cpu().logSoftmax(in(x)));
    }

    @Override
    public Storage logSoftmaxBackward(Storage y, Storage g) {
        return out(cpu().logSoftmaxBackward(in(y), in(g)));
    }

    @Override
    public Storage gelu(Storage x) {
        return out(cpu().gelu(in(x)));
    }

    @Override
    public Storage geluBackward(Storage x, Storage g) {
        return out(cpu().geluBackward(in(x), in(g)));
    }

    @Override
    public Saved layerNorm(Storage x, Storage weight, Storage bias, double eps) {
        return out(cpu().layerNorm(in(x), in(weight), in(bias), eps));
    }

    @Override
    public Storage[] layerNormBackward(Saved forward, Storage x, Storage weight, Storage g, boolean needX, boolean needWeight,
                                       boolean needBias) {
        return out(cpu().layerNormBackward(in(forward), in(x), in(weight), in(g), needX, needWeight, needBias));
    }

    @Override
    public Saved attention(Storage qkv, int heads, double scale) {
        return out(cpu().attention(in(qkv), heads, scale));
    }

    @Override
    public Storage attentionBackward(Saved forward, Storage qkv, int heads, double scale, Storage g) {
        return out(cpu().attentionBackward(in(forward), in(qkv), heads, scale, in(g)));
    }

    @Override
    public Storage rationalForward(Storage x, Storage numerator, Storage denominator, int groups) {
        return out(cpu().rationalForward(in(x), in(numerator), in(denominator), groups));
    }

    @Override
    public Storage[] rationalBackward(Storage x, Storage g, Storage numerator, Storage denominator, int groups, boolean needX) {
        return out(cpu().rationalBackward(in(x), in(g), in(numerator), in(denominator), groups, needX));
    }

    @Override
    public Storage crossEntropy(Storage logits, Storage targets) {
        return out(cpu().crossEntropy(in(logits), in(targets)));
    }

    @Override
    public Storage crossEntropyBackward(Storage logits, Storage targets, Storage g) {
        return out(cpu().crossEntropyBackward(in(logits), in(targets), in(g)));
    }

    @Override
    public void adamwStep(Storage w, Storage g, Storage m, Storage v, AdamWStep step) {
        cpu().adamwStep(in(w), in(g), in(m), in(v), step);
    }
}
