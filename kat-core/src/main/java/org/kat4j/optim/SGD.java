package org.kat4j.optim;

import org.kat4j.tensor.Scope;
import org.kat4j.tensor.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/** SGD with optional momentum and (coupled, L2) weight decay, as torch.optim.SGD. */
public final class SGD extends Optimizer {
    private final double momentum;
    private final double weightDecay;
    private final Map<Tensor, INDArray> velocity = new IdentityHashMap<>();

    public SGD(List<Tensor> params, double lr, double momentum, double weightDecay) {
        super(params, lr);
        this.momentum = momentum;
        this.weightDecay = weightDecay;
    }

    @Override
    public void step() {
        for (Tensor p : params) {
            INDArray g = p.gradNd();
            if (g == null) {
                continue;
            }
            INDArray w = p.nd();
            INDArray d = weightDecay != 0 ? g.add(w.mul(weightDecay)) : g;
            if (momentum != 0) {
                INDArray v = velocity.get(p);
                if (v == null) {
                    v = Scope.detached(() -> d.dup('c'));
                    velocity.put(p, v);
                } else {
                    v.muli(momentum).addi(d);
                }
                w.subi(v.mul(lr));
            } else {
                w.subi(d.mul(lr));
            }
        }
    }
}
