"""Part 3 of the source: loss magnitude, gradient magnitude and the update rule."""

from support.claims.schema import Claim, Part, Verdict, bullets, text

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
        short_answer=text("""
            Regression losses reach 0 at the target; cross-entropy only as p_y -> 1 (float32 rounds it to 0 near margin
            17), with soft targets their entropy. No softmax first: it takes logits, and probabilities keep it above
            log(1 + (C-1)/e).
        """),
        short_answer_zh=text("""
            回归损失在目标处为 0;交叉熵只在 p_y → 1 时为 0(float32 中间隔约 17 时舍入为 0),软目标时最小值是其熵。不要先做
            softmax:它接收 logit,概率输入让损失不低于 log(1 + (C-1)/e)。
        """),
        questions=(
            "Can cross-entropy loss reach zero?",
            "Why doesn't my cross-entropy with label smoothing go to zero?",
            "Should I apply softmax before CrossEntropyLoss?",
        ),
        questions_zh=(
            "交叉熵损失能降到零吗?",
            "为什么用了 label smoothing 的交叉熵降不到零?",
            "CrossEntropyLoss 之前要先做 softmax 吗?",
        ),
        quotes=(
            "**损失函数的定义**:损失函数用于量化模型预测值与真实标签之间的差异。",
            "这个损失值反映了模型在当前样本上的表现。",
        ),
        gloss=(
            (
                "Definition of the loss function: a loss function quantifies the difference between the model's "
                "predictions and the true labels."
            ),
            "This loss value reflects how the model performs on the current sample.",
        ),
        statement=bullets("""
            - PyTorch's standard losses are non-negative measures of the gap between prediction and target.
            - The regression losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss) are exactly 0 where the prediction equals
              the target and positive at every element where it differs.
            - Cross-entropy -log p_y is, in exact arithmetic, positive for every finite logit vector, decreases strictly
              as the target's logit margin grows, and reaches 0 only in the limit p_y -> 1.
            - In floating point a sample's cross-entropy rounds to exactly 0 once its target logit leads every other by
              about ln(2/eps), about 17 in float32 and 37 in float64 (with many classes up to ln(2 (C - 1)/eps),
              depending on the order of the sum), while its gradient, e^-margin on every other class, is still non-zero.
            - With a probability target q, cross-entropy equals H(q) + KL(q || softmax(z)), so it is minimal, equal to
              the target's entropy H(q), exactly when the predicted distribution equals q.
            - CrossEntropyLoss takes logits and applies log_softmax itself; fed probability rows (a softmax before it),
              its logit margin is at most 1, so each term stays at or above log(1 + (C - 1)/e), reached only at a
              one-hot row, while on the logits a confidently right row's loss falls below that.
        """),
        statement_zh=bullets("""
            - PyTorch 的标准损失都是预测与目标之间差距的非负度量。
            - 回归损失(MSELoss、L1Loss、SmoothL1Loss、HuberLoss)在预测等于目标处恰好为 0,在任何不相等的元素上都大于 0。
            - 在精确算术下,交叉熵 -log p_y 对任何有限的 logits 都大于 0,随目标类别 logit 的领先幅度增大而严格减小,只有在
              p_y → 1 的极限下才为 0。
            - 在浮点运算中,一旦目标类别的 logit 领先其他每个类别约 ln(2/eps)(float32 约 17,float64 约 37;类别很多时最
              多到 ln(2 (C - 1)/eps),取决于求和顺序),样本的交叉熵就舍入为恰好 0,而它的梯度(其他每个类别上为 e^-间
              隔)仍不为零。
            - 目标为概率分布 q 时,交叉熵等于 H(q) + KL(q‖softmax(z)),因此恰好在预测分布等于 q 时取最小值,这个最小值是目
              标自身的熵 H(q)。
            - CrossEntropyLoss 接收 logit 并自己做 log_softmax;如果输入的是概率行(之前做了 softmax),logit 间隔至多为
              1,每一项都不低于 log(1 + (C - 1)/e),只在 one-hot 行处取到;而直接用 logit 时,有把握且正确的行的损失会低
              于这个值。
        """),
        in_practice=text("""
            Read a loss as a distance to the target, but know its floor: cross-entropy with soft targets (e.g.
            label_smoothing) cannot go below the targets' entropy, so it never reaches 0. Pass logits, not softmax
            outputs, to CrossEntropyLoss.
        """),
        in_practice_zh=text("""
            把损失理解为到目标的距离,但要知道它的下限:使用软目标(例如 label_smoothing)时,交叉熵不会
            低于目标的熵,因此永远到不了 0。交给 CrossEntropyLoss 的应是 logit,而不是 softmax 的输出。
        """),
        related=(
            "loss.continuous",
            "gradient.grows-with-loss",
            "accuracy.definition",
        ),
        sources=(
            LOSS_DOCS,
            "Cover & Thomas, Elements of Information Theory, 2nd ed., Thm 2.6.3 (Gibbs: KL >= 0)",
            (
                "PyTorch docs, torch.nn.CrossEntropyLoss ('The input is expected to contain the unnormalized logits "
                "for each class'); PyTorch source, aten/src/ATen/native/SoftMax.cpp (log_softmax: max subtracted, "
                "log of the sum of exp)"
            ),
            "IEEE Std 754-2008: round to nearest, ties to even (1 + x rounds to 1 for x <= eps/2)",
        ),
    ),
    Claim(
        id="gradient.chain-rule",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes: for a two-layer tanh net autograd matches the hand-derived backpropagation formulas layer by layer, its
            directional derivatives equal <grad, v>, and gradcheck confirms it against finite differences.
        """),
        short_answer_zh=text("""
            一致:对两层 tanh 网络,autograd 逐层等于手工推导的反向传播公式,方向导数等于 <grad, v>,gradcheck 也用有限差分
            确认了它。
        """),
        questions=(
            "Does autograd compute the same gradient as hand-derived backpropagation?",
            "How do I check a custom backward against finite differences?",
        ),
        questions_zh=(
            "autograd 算出的梯度与手工推导的反向传播一致吗?",
            "怎样用有限差分检查自定义的 backward?",
        ),
        quotes=(
            "在反向传播阶段,损失函数对模型参数(如权重和偏置)的梯度是通过链式法则计算得到的。",
            "具体来说,梯度表示的是损失函数相对于每个参数的变化率,即当参数变化时,损失函数会如何变化。",
        ),
        gloss=(
            (
                "During backpropagation, the gradients of the loss with respect to the model parameters (such as "
                "weights and biases) are computed with the chain rule."
            ),
            (
                "Concretely, the gradient is the rate of change of the loss with respect to each parameter, i.e. how "
                "the loss changes when the parameter changes."
            ),
        ),
        statement=bullets("""
            - Autograd computes the gradient of the loss with respect to every weight and bias by the chain rule: for a
              two-layer tanh network it equals, layer by layer, the hand-derived backpropagation formulas for mean
              cross-entropy and mean MSE.
            - The result is the loss's rate of change: the derivative of the loss along any direction v equals <grad,
              v>.
            - torch.autograd.gradcheck confirms in float64 that autograd matches finite differences.
        """),
        statement_zh=bullets("""
            - autograd 用链式法则计算损失对每个权重和偏置的梯度:对两层 tanh 网络,它逐层等于手工推导的 mean 交叉熵和 mean
              MSE 的反向传播公式。
            - 这个结果就是损失的变化率:损失沿任意方向 v 的方向导数等于 <grad, v>。
            - torch.autograd.gradcheck 在 float64 下确认 autograd 与有限差分一致。
        """),
        in_practice=text("""
            Check every custom autograd.Function or hand-written backward with torch.autograd.gradcheck on small
            float64 inputs before training with it.
        """),
        in_practice_zh=text("""
            每个自定义的 autograd.Function 或手写的反向传播,在用于训练之前,都先
            用 torch.autograd.gradcheck 在小规模 float64 输入上检查一遍。
        """),
        related=(
            "backward.fills-grad",
            "explosion.cause.depth",
            "gradient.grows-with-loss",
        ),
        sources=(
            AUTOGRAD_DOCS,
            "Goodfellow, Bengio, Courville, Deep Learning, sec. 6.5 (back-propagation)",
        ),
    ),
    Claim(
        id="gradient.grows-with-loss",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Only at the output and not for every loss: MSE's output gradient grows as 2 sqrt(loss), L1/SmoothL1/Huber
            cap it, cross-entropy's never exceeds sqrt(2); parameter gradients also scale with the input.
        """),
        short_answer_zh=text("""
            只在输出端成立,且因损失而异:MSE 的输出梯度按 2√loss 增长,L1/SmoothL1/Huber 有上限,交叉熵的不超过 √2;参数梯度
            还随输入尺度变化。
        """),
        questions=(
            "Does a larger loss mean a larger gradient?",
            "Why use HuberLoss or SmoothL1Loss instead of MSE for outliers?",
        ),
        questions_zh=(
            "损失越大,梯度就越大吗?",
            "为什么对离群点要用 HuberLoss 或 SmoothL1Loss 而不是 MSE?",
        ),
        quotes=(
            "在深度学习中,样本损失值的大小确实会影响反向传播过程中更新梯度的大小。",
            "因此,样本损失值越大,相应的梯度通常也会越大,这意味着在更新参数时,调整的幅度也会更大",
        ),
        gloss=(
            "In deep learning, the size of a sample's loss does affect the size of the gradient update in backprop.",
            (
                "So the larger a sample's loss, the larger its gradient usually is, which means a larger adjustment "
                "when the parameters are updated"
            ),
        ),
        statement=bullets("""
            - True at the output and only there, and not the same way for every loss.
            - MSE: the gradient with respect to the prediction has norm exactly 2 sqrt(loss) (sum reduction), growing
              without bound.
            - L1, SmoothL1 and Huber: the gradient with respect to each output element is bounded however large the
              loss, |dL/dy_hat_i| <= 1 for L1 and SmoothL1 (any beta) and <= delta for Huber with reduction='sum' (with
              'mean' divided by the number of elements); it reaches the bound once the residual exceeds beta or delta
              (L1: at any nonzero residual) and grows no more.
            - Softmax cross-entropy: dL/dz = p - e_y has norm between (1 - p_y) sqrt(K/(K-1)) and sqrt(2) (1 - p_y),
              with 1 - p_y = 1 - e^-loss: it grows with the loss through those bounds but never exceeds sqrt(2), and for
              K >= 3 a sample with a larger loss can have a smaller logit gradient.
            - For the parameters the input scale enters too: two samples with the same loss can have parameter gradients
              that differ by any factor (dL/dW = (p - e_y) x^T).
        """),
        statement_zh=bullets("""
            - 只在输出端成立,而且不同损失情况不同。
            - MSE:对预测值的梯度范数恰为 2√loss(sum 归约),随损失无界增长。
            - L1、SmoothL1 和 Huber:无论损失多大,对每个输出元素的梯度都有界,sum 归约时 L1 和 SmoothL1(任意 beta)满足
              |dL/dy_hat_i| <= 1,Huber 满足 <= delta(mean 归约时再除以元素个数);残差超过 beta 或 delta 后梯度就达到这个
              界(L1 在残差不为零时即达到),此后不再增大。
            - softmax 交叉熵:dL/dz = p - e_y,其范数位于 (1 - p_y)√(K/(K-1)) 与 √2 (1 - p_y) 之间,其中 1 - p_y = 1 -
              e^-loss:它通过这两个界随损失增大,但永远不超过 √2;K ≥ 3 时损失更大的样本的 logit 梯度可能反而更小。
            - 对参数而言还要乘上输入的尺度:损失相同的两个样本,参数梯度可以相差任意倍(dL/dW = (p - e_y) x^T)。
        """),
        in_practice=text("""
            If single large-residual samples dominate your updates, switch MSE to HuberLoss/SmoothL1Loss: their output
            gradient is capped at delta (1 for SmoothL1) per element, whereas MSE's grows as 2 sqrt(loss).
        """),
        in_practice_zh=text("""
            如果少数残差很大的样本主导了更新,就把 MSE 换成 HuberLoss/SmoothL1Loss:它们对每
            个元素的输出梯度上限为 delta(SmoothL1 为 1),而 MSE 的梯度按 2√loss 增长。
        """),
        related=(
            "update.scales-with-loss",
            "explosion.single-sample",
            "loss.measures-error",
        ),
        sources=(
            (
                "PyTorch docs, torch.nn loss functions (MSELoss, L1Loss, SmoothL1Loss with beta, HuberLoss with "
                "delta, CrossEntropyLoss; reduction 'mean' divides by the number of elements)"
            ),
            (
                "Huber 1964, Robust estimation of a location parameter, Annals of Mathematical Statistics 35(1) "
                "(bounded influence: the derivative of the loss is capped at delta)"
            ),
            "Softmax cross-entropy gradient p - e_y: Goodfellow, Bengio & Courville 2016, Deep Learning, sec. 6.2.2.3",
            "Cauchy-Schwarz: sum over j != y of p_j^2 lies in [(1 - p_y)^2/(K - 1), (1 - p_y)^2]",
        ),
    ),
    Claim(
        id="update.sgd-rule",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes without momentum or weight decay; with them it follows the documented algorithm, which keeps lr outside
            the momentum buffer (b <- mu b + (1 - dampening) g, theta <- theta - lr b).
        """),
        short_answer_zh=text("""
            不带动量和权重衰减时是的;带上它们时遵循文档中的算法,该算法把 lr 放在动量缓冲之外(b ← mu·b + (1 -
            dampening)·g,theta ← theta - lr·b)。
        """),
        questions=(
            "Is `torch.optim.SGD` exactly theta <- theta - lr * grad?",
            "How does PyTorch's SGD momentum differ from the formula in papers?",
        ),
        questions_zh=(
            "`torch.optim.SGD` 恰好就是 theta ← theta - lr·grad 吗?",
            "PyTorch 的 SGD 动量与论文里的公式有什么不同?",
        ),
        quotes=(
            "$$\\theta := \\theta - \\alpha \\nabla J(\\theta)$$",
            "其中, θ 是模型参数, α 是学习率, $\\nabla J(\\theta)$ 是损失函数的梯度。",
        ),
        gloss=(
            "theta := theta - alpha * grad J(theta)",
            (
                "where theta is the model parameters, alpha is the learning rate, and grad J(theta) is the gradient "
                "of the loss function."
            ),
        ),
        statement=bullets("""
            - torch.optim.SGD without momentum or weight decay performs exactly theta <- theta - lr * grad, a descent
              step: to first order the loss falls by lr * ||grad||^2.
            - With momentum, dampening, nesterov, weight_decay and maximize it follows the algorithm documented for
              torch.optim.SGD step for step.
            - PyTorch's momentum keeps lr outside the velocity (b <- mu * b + (1 - dampening) * g, theta <- theta - lr *
              b), unlike formulations that fold lr into the velocity.
        """),
        statement_zh=bullets("""
            - 不带动量和权重衰减的 torch.optim.SGD 恰好执行 theta ← theta - lr·grad,这是一个下降步:一阶近似下损失减少
              lr·‖grad‖²。
            - 带 momentum、dampening、nesterov、weight_decay 和 maximize 时,它逐步遵循 torch.optim.SGD 文档中给出的算法
              。
            - PyTorch 的动量把 lr 放在速度之外(b ← mu·b + (1 - dampening)·g,theta ← theta - lr·b),不同于把 lr 并入速度的
              写法。
        """),
        in_practice=text("""
            When you take momentum hyperparameters from a paper that folds lr into the velocity, convert them: PyTorch
            multiplies the momentum buffer by lr at every step, so an lr change acts on the whole buffer at once.
        """),
        in_practice_zh=text("""
            从把 lr 并入速度的论文中借用动量超参数时要先换算:PyTorch 每一步都用 lr 乘以动量缓冲,所以改
            变 lr 会立即作用于整个缓冲。
        """),
        related=(
            "step.updates-parameters",
            "update.scales-with-loss",
            "sum.needs-batch-scaling",
            "remedy.lower-lr",
        ),
        sources=(
            SGD_DOCS,
            "Sutskever, Martens, Dahl, Hinton 2013, On the importance of initialization and momentum",
        ),
    ),
    Claim(
        id="update.scales-with-loss",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Adding a constant changes nothing; a factor c on the whole loss scales SGD's step by c but leaves Adam's
            almost unchanged (only eps sees it); a weight on one term of several changes both.
        """),
        short_answer_zh=text("""
            加常数什么都不改变;整个损失乘以 c 会让 SGD 的步长乘以 c,Adam 的步长几乎不变(只有 eps 受影响);多项损失中某一
            项的权重对两者都有影响。
        """),
        questions=(
            "Does multiplying the loss by a constant change training?",
            "Does adding a constant to the loss change training?",
            "Does a loss weight matter with Adam?",
        ),
        questions_zh=(
            "把损失乘以一个常数会改变训练吗?",
            "给损失加一个常数会改变训练吗?",
            "用 Adam 时,损失权重还有作用吗?",
        ),
        quotes=("由于梯度是基于当前样本的损失计算得出的,因此样本损失值直接影响了更新量。",),
        gloss=(
            (
                "Since the gradient is computed from the current samples' loss, the loss value directly affects the "
                "size of the update."
            ),
        ),
        statement=bullets("""
            - The update follows the loss's gradient, not its value, and how it follows depends on the optimizer.
            - Adding a constant to the loss changes its value but not its gradient, so every optimizer takes bit-for-bit
              the same steps; cross-entropy with soft targets and the KL divergence to those targets, which differ by
              the targets' entropy, train alike.
            - Multiplying the loss by c multiplies the first SGD step by c, up to rounding; over a run, with or without
              momentum, SGD with learning rate lr on c J takes the same steps as SGD with learning rate c lr on J, up to
              rounding.
            - For Adam, scaling the loss by c is, up to rounding, dividing eps by c, so its step is invariant to c while
              c |g| >> eps, and only shrinks in proportion to c when c |g| falls below eps.
            - L2 weight decay in Adam breaks the invariance: Adam on (c J, weight_decay lambda) equals Adam on (J,
              lambda / c, eps / c); decoupled weight decay (AdamW) restores it: AdamW on (c J, lambda, eps) equals AdamW
              on (J, lambda, eps / c).
            - All of this is about a factor on the whole loss: a weight c on one term of a sum J_1 + c J_2 changes the
              direction of the gradient, and Adam's step changes with it.
        """),
        statement_zh=bullets("""
            - 更新量取决于损失的梯度而不是损失的值,而且如何取决于优化器。
            - 给损失加一个常数会改变损失值但不改变梯度,所以任何优化器走的每一步都逐位相同;带软标签的交叉熵与到这些软标签
              的 KL 散度只相差标签的熵,训练结果一样。
            - 把损失乘以 c,SGD 的第一步也乘以 c(在舍入误差内);在整个训练过程中,无论有无动量,在 cJ 上以学习率 lr 运行
              的 SGD 与在 J 上以学习率 c·lr 运行的 SGD 走的每一步都相同(在舍入误差内)。
            - 对 Adam,把损失乘以 c 在舍入误差内等价于把 eps 除以 c,因此只要 c|g| ≫ eps,步长与 c 无关;只有当 c|g| 小于
              eps 时步长才按 c 成比例缩小。
            - Adam 中的 L2 权重衰减破坏了这种不变性:在 (cJ, weight_decay λ) 上运行 Adam 等价于在 (J, λ/c, eps/c) 上运
              行;解耦的权重衰减(AdamW)恢复了不变性:在 (cJ, λ, eps) 上运行 AdamW 等价于在 (J, λ, eps/c) 上运行。
            - 以上说的都是整个损失上的倍数:加在求和 J_1 + c J_2 中某一项上的权重 c 会改变梯度的方向,Adam 的步长也随之改
              变。
        """),
        in_practice=text("""
            Judge the loss by its gradient, not its level: constant offsets (e.g. the target entropy in a soft-label
            CE) change the logged value but not training; a weight c on the whole loss rescales SGD's step but barely
            Adam's, while a weight on one term of several changes the gradient's direction for both; with Adam prefer
            AdamW so a loss weight does not rescale the weight decay.
        """),
        in_practice_zh=text("""
            评估损失要看它的梯度而不是数值大小:常数偏移(例如软标签交叉熵中目标的熵)改变日志里的数值但不改变训练;整个
            损失上的权重 c 会按比例改变 SGD 的步长,却几乎不影响 Adam,而多项损失中某一项上的权重对两者都会改变梯
            度的方向;使用 Adam 时优先用 AdamW,以免损失权重改变权重衰减的力度。
        """),
        related=(
            "update.sgd-rule",
            "step.updates-parameters",
            "sum.needs-batch-scaling",
            "mean.denominator.kldiv",
        ),
        sources=(
            SGD_DOCS,
            ADAM_DOCS,
            "Kingma & Ba 2015, Adam, sec. 2.1 (invariance to gradient rescaling)",
            "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization, sec. 2",
            (
                "PyTorch docs, torch.nn.CrossEntropyLoss (class probabilities as target) and torch.nn.KLDivLoss "
                "(reduction='batchmean'): CE(p, q) = H(p) + KL(p || q)"
            ),
            "IEEE Std 754-2008: multiplication by 1 is exact (why d(J + c)/dtheta reaches .grad bit for bit)",
        ),
    ),
)
