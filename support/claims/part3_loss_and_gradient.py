"""Part 3 of the source: loss magnitude, gradient magnitude and the update rule."""

from support.claims.model import Claim, Part, Verdict, text

P = Part.LOSS_AND_GRADIENT
LOSS_DOCS = "PyTorch docs, torch.nn loss functions (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, CrossEntropyLoss)"
AUTOGRAD_DOCS = "PyTorch docs, torch.autograd (backward, grad) and torch.autograd.gradcheck"
SGD_DOCS = "PyTorch docs, torch.optim.SGD (documented algorithm: weight decay, momentum, dampening, nesterov, maximize)"
ADAM_DOCS = "PyTorch docs, torch.optim.Adam (documented algorithm; decoupled_weight_decay=True is AdamW)"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="loss.measures-error",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "**损失函数的定义**:损失函数用于量化模型预测值与真实标签之间的差异。",
            "这个损失值反映了模型在当前样本上的表现。",
        ),
        statement=text("""
            A loss is a non-negative measure of the gap between prediction and target. The regression losses (MSE, L1,
            SmoothL1, Huber) are exactly 0 where the prediction equals the target and > 0 at every element where it
            differs. Cross-entropy -log p_y is > 0 for any finite logits and falls to 0 only as p_y -> 1 (log(1 +
            (K-1) e^-m) for a logit margin m); with a probability target q it equals H(q) + KL(q || softmax z),
            minimal exactly when the predicted distribution equals q.
        """),
        statement_zh=text("""
            损失是预测与目标之间差距的非负度量。回归损失(MSE、L1、SmoothL1、Huber)在预测等于目标处恰
            好为 0,在任何不相等的元素上都大于 0。交叉熵 -log p_y 对任何有限的 logits 都大
            于 0,只有当 p_y → 1 时才趋于 0(logit 间隔为 m 时等
            于 log(1 + (K-1)e^-m));目标为概率分布 q 时它等
            于 H(q) + KL(q‖softmax z),恰好在预测分布等于 q 时取最小值。
        """),
        sources=(
            LOSS_DOCS,
            "Cover & Thomas, Elements of Information Theory, 2nd ed., Thm 2.6.3 (Gibbs: KL >= 0)",
        ),
    ),
    Claim(
        id="gradient.chain-rule",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "在反向传播阶段,损失函数对模型参数(如权重和偏置)的梯度是通过链式法则计算得到的。",
            "具体来说,梯度表示的是损失函数相对于每个参数的变化率,即当参数变化时,损失函数会如何变化。",
        ),
        statement=text("""
            Autograd computes the gradient of the loss with respect to every weight and bias by the chain rule: for a
            two-layer network it equals the hand-derived backpropagation formulas (dL/dz = (p - e_y)/N for mean
            cross-entropy, 2(z - t)/(N K) for mean MSE, then through the layer and tanh' = 1 - tanh^2), and it is the
            rate of change of the loss: torch.autograd.gradcheck agrees with finite differences in float64.
        """),
        statement_zh=text("""
            autograd 用链式法则计算损失对每个权重和偏置的梯度:对两层网络,它等于手工推导的反向传播公
            式(mean 交叉熵时 dL/dz = (p - e_y)/N,mean MSE 时
            为 2(z - t)/(N K),再经过线性层和 tanh' = 1 - tanh^2),而且它就是损失的变
            化率:torch.autograd.gradcheck 在 float64 下与有限差分一致。
        """),
        sources=(
            AUTOGRAD_DOCS,
            "Goodfellow, Bengio, Courville, Deep Learning, sec. 6.5 (back-propagation)",
        ),
    ),
    Claim(
        id="gradient.grows-with-loss",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "在深度学习中,样本损失值的大小确实会影响反向传播过程中更新梯度的大小。",
            "因此,样本损失值越大,相应的梯度通常也会越大,这意味着在更新参数时,调整的幅度也会更大",
        ),
        statement=text("""
            True at the output and only there, and not the same way for every loss. MSE: the gradient with respect to
            the prediction has norm exactly 2 sqrt(loss) (sum reduction), growing without bound. Softmax
            cross-entropy: dL/dz = p - e_y, whose norm lies in [(1 - p_y) sqrt(K/(K-1)), sqrt(2) (1 - p_y)] with 1 -
            p_y = 1 - e^-loss: it grows with the loss through those bounds (exactly sqrt(2)(1 - e^-loss) for K = 2)
            but never exceeds sqrt(2), and for K >= 3 a sample with a larger loss can have a smaller logit gradient.
            For the parameters the input scale enters too: two samples with the same loss can have parameter gradients
            that differ by any factor (dL/dW = (p - e_y) x^T).
        """),
        statement_zh=text("""
            只在输出端成立,而且不同损失情况不同。MSE:对预测值的梯度范数恰为 2√loss(sum 归约),随损失无
            界增长。softmax 交叉熵:dL/dz = p - e_y,其范数位
            于 [(1 - p_y)√(K/(K-1)), √2 (1 - p_y)] 之间,其
            中 1 - p_y = 1 - e^-loss:它通过这两个界随损失增大(K = 2 时恰
            为 √2(1 - e^-loss)),但永远不超过 √2;K ≥ 3 时损失更大的样本的 logit 梯度可
            能反而更小。对参数而言还要乘上输入的尺度:损失相同的两个样本,参数梯度可以相差任意
            倍(dL/dW = (p - e_y) x^T)。
        """),
        sources=(
            LOSS_DOCS,
            "Softmax cross-entropy gradient p - e_y: Goodfellow, Bengio, Courville, Deep Learning, sec. 6.2.2.3",
            "Cauchy-Schwarz: sum over j != y of p_j^2 lies in [(1 - p_y)^2/(K - 1), (1 - p_y)^2]",
        ),
    ),
    Claim(
        id="update.sgd-rule",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "$$\\theta := \\theta - \\alpha \\nabla J(\\theta)$$",
            "其中, θ 是模型参数, α 是学习率, $\\nabla J(\\theta)$ 是损失函数的梯度。",
        ),
        statement=text("""
            torch.optim.SGD without momentum or weight decay performs exactly theta <- theta - lr * grad, a descent
            step (the loss falls by lr ||grad||^2 to first order). With momentum, dampening, nesterov, weight decay
            and maximize it follows the documented algorithm step for step (checked against an independent float64
            implementation); note PyTorch's momentum puts lr outside the velocity (b <- mu b + (1 - dampening) g;
            theta <- theta - lr b), unlike Sutskever et al. 2013.
        """),
        statement_zh=text("""
            不带动量和权重衰减的 torch.optim.SGD 恰好执行 θ ← θ - lr·grad,这是一个下降
            步(一阶近似下损失减少 lr‖grad‖²)。带动量、dampening、nesterov、权重衰减
            和 maximize 时,它逐步遵循文档中的算法(与一个独立的 float64 实现对照);注
            意 PyTorch 的动量把 lr 放在速度之外(b ← μb + (1 - dampening)g;θ ← θ - lr·b),与 Sutskever 等 2013 的
            写法不同。
        """),
        sources=(
            SGD_DOCS,
            "Sutskever, Martens, Dahl, Hinton 2013, On the importance of initialization and momentum",
        ),
    ),
    Claim(
        id="update.scales-with-loss",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "由于梯度是基于当前样本的损失计算得出的,因此样本损失值直接影响了更新量。",
        ),
        statement=text("""
            It depends on the optimizer. The gradient is linear in the loss, so multiplying the loss by c multiplies
            the SGD step (with or without momentum) by exactly c. Adam divides by the running RMS of the gradient: its
            first step is -lr g / (|g| + eps), and scaling the loss by c is exactly the same as dividing eps by c, so
            the step is invariant to c while c |g| >> eps, and only shrinks (proportionally to c, like SGD with
            lr/eps) when c |g| falls below eps. L2 weight decay in Adam breaks the invariance: Adam on (c J,
            weight_decay lambda) equals Adam on (J, lambda / c, eps / c); decoupled weight decay (AdamW) restores it.
        """),
        statement_zh=text("""
            取决于优化器。梯度对损失是线性的,所以把损失乘以 c,SGD 的步长(有无动量都一样)恰好乘
            以 c。Adam 除以梯度的滑动均方根:它的第一步是 -lr·g/(|g| + eps),把损失乘以 c 恰
            好等价于把 eps 除以 c,因此只要 c|g| ≫ eps,步长与 c 无关;只有当 c|g| 小
            于 eps 时步长才会(像学习率为 lr/eps 的 SGD 一样)按 c 成比例缩小。Adam 中
            的 L2 权重衰减破坏了这种不变性:在 (cJ, weight_decay λ) 上运行 Adam 等价于
            在 (J, λ/c, eps/c) 上运行;解耦的权重衰减(AdamW)恢复了不变性。
        """),
        sources=(
            SGD_DOCS,
            ADAM_DOCS,
            "Kingma & Ba 2015, Adam, sec. 2.1 (invariance to gradient rescaling)",
            "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization, sec. 2",
        ),
    ),
)
