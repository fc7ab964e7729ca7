package org.kat4j.optim;

import org.kat4j.backend.Backend;
import org.kat4j.backend.BinaryOp;
import org.kat4j.backend.ScalarOp;
import org.kat4j.backend.Storage;
import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** SGD with optional momentum and (coupled, L2) weight decay, as torch.optim.SGD. */
public final class SGD extends Optimizer {
    private final double momentum;
    private final double weightDecay;
    private final Map<Tensor, Storage> velocity = new IdentityHashMap<>();

    public SGD(List<Tensor> params, double lr, double momentum, double weightDecay) {
        super(params, lr);
        this.momentum = momentum;
        this.weightDecay = weightDecay;
    }

    @Override
    public void step() {
        for (Tensor p : params) {
            Storage g = p.gradBuffer();
            if (g == null) {
                continue;
            }
            Backend be = p.backend();
            Storage w = p.storage();
            Storage d = weightDecay != 0 ? be.binary(BinaryOp.ADD, g, be.scalar(ScalarOp.MUL, w, weightDecay)) : g;
            if (momentum != 0) {
                Storage v = velocity.get(p);
                if (v == null) {
                    v = Scope.detached(() -> be.copy(d));
                    velocity.put(p, v);
                } else {
                    be.scaleInPlace(v, momentum);
                    be.addInPlace(v, d);
                }
                be.addScaledInPlace(w, v, -lr);
            } else {
                be.addScaledInPlace(w, d, -lr);
            }
        }
    }
}
