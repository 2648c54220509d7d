"""Part 1 of the source: computing a batch loss and backpropagating it."""

from support.claims.schema import Claim, Part, Verdict, bullets, text

P = Part.BATCH_LOSS
LOSS_DOCS = "PyTorch docs, torch.nn loss functions: `reduction` ('none' | 'mean' | 'sum', default 'mean')"
AUTOGRAD_DOCS = "PyTorch docs, torch.Tensor.backward: gradients are accumulated in the leaves' .grad"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="reduction.options",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            'mean' (the default), 'sum' or 'none'; KLDivLoss adds 'batchmean'. Any other value but the deprecated
            'elementwise_mean' raises ValueError at the first forward call; an empty batch gives a NaN mean loss with
            zero gradients.
        """),
        short_answer_zh=text("""
            'mean'(默认)、'sum'、'none',KLDivLoss 另有 'batchmean';除弃用的 'elementwise_mean',其他值首次前向即抛
            ValueError;空 batch 的 mean 为 NaN,梯度为零。
        """),
        questions=(
            "Which values does `reduction` take, and which is the default?",
            "What happens if I misspell `reduction`?",
            "What is the mean loss of an empty batch?",
        ),
        questions_zh=(
            "`reduction` 可以取哪些值?默认是哪个?",
            "`reduction` 拼错了会怎样?",
            "空 batch 的 mean 损失是多少?",
        ),
        quotes=(
            "PyTorch中的大多数损失函数(如`CrossEntropyLoss`或`MSELoss`)都有一个`reduction`参数,可以控制如何处理batch中的多个样本的损失。",
            "`mean`: 计算平均损失 (默认选项) , 适用于大多数情况。",
        ),
        gloss=(
            (
                "Most PyTorch loss functions (such as CrossEntropyLoss or MSELoss) have a reduction parameter that "
                "controls how the losses of the samples in a batch are combined."
            ),
            "mean: compute the average loss (the default), suitable for most cases.",
        ),
        statement=bullets("""
            - The built-in loss modules (MSE, L1, SmoothL1, Huber, BCEWithLogits, BCE, CrossEntropy, NLL, KLDiv) take
              reduction='mean' | 'sum' | 'none'; 'mean' is the default.
            - The old name 'elementwise_mean' is still accepted as 'mean', with a deprecation warning.
            - Any other value raises ValueError("<value> is not a valid value for reduction") at the forward call; the
              constructor stores the string unchecked.
            - KLDivLoss also takes 'batchmean' (the sum divided by the batch size); its 'mean' divides by the number of
              elements and warns.
            - On an empty batch (N = 0) 'mean' and 'batchmean' return NaN (0/0), 'sum' returns 0 and 'none' an empty
              tensor of shape (0, ...).
            - Backward on an empty batch gives every parameter a zero gradient: the NaN shows in the loss value, not in
              the gradients.
        """),
        statement_zh=bullets("""
            - 内置的损失模块(MSE、L1、SmoothL1、Huber、BCEWithLogits、BCE、CrossEntropy、NLL、KLDiv)都接受
              reduction='mean' | 'sum' | 'none';默认值是 'mean'。
            - 旧名称 'elementwise_mean' 仍被当作 'mean' 接受,但会给出弃用警告。
            - 其他任何取值都会在前向调用时抛出 ValueError("<取值> is not a valid value for reduction");构造函数只保存字
              符串,不做检查。
            - KLDivLoss 还接受 'batchmean'(总和除以 batch 大小);它的 'mean' 除以元素个数,并会发出警告。
            - 对空 batch(N = 0),'mean' 和 'batchmean' 返回 NaN(0/0),'sum' 返回 0,'none' 返回形状为 (0, ...) 的空张量。
            - 对空 batch 反向传播,每个参数的梯度都是零:NaN 只出现在损失值里,不会进入梯度。
        """),
        in_practice=text("""
            Keep the default 'mean' (use 'batchmean' for KLDivLoss), check the spelling of reduction in a quick
            forward before training, and skip or guard empty batches: their mean loss is NaN in the logs even though
            the gradient is zero.
        """),
        in_practice_zh=text("""
            保持默认的 'mean'(KLDivLoss 用 'batchmean'),训练前先做一次前向调用以发现拼错
            的 reduction;跳过或处理空 batch:它们的 mean 损失在日志里是 NaN,尽管梯度为零。
        """),
        related=(
            "reduction.mean-is-sum-over-n",
            "mean.denominator.kldiv",
            "reduction.none-is-per-sample",
        ),
        sources=(
            (
                "PyTorch docs, torch.nn loss functions (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCEWithLogitsLoss, "
                "BCELoss, CrossEntropyLoss, NLLLoss, KLDivLoss): `reduction` ('none' | 'mean' | 'sum', default 'mean')"
            ),
            (
                "PyTorch docs, torch.nn.KLDivLoss: reduction='batchmean' (sum / batch size) gives the KL divergence; "
                "'mean' divides by the number of elements and warns"
            ),
            (
                "PyTorch source, torch/nn/_reduction.py, get_enum: 'elementwise_mean' is mapped to 'mean' with a "
                'deprecation warning; any other unknown string raises ValueError(f"{reduction} is not a valid value '
                'for reduction")'
            ),
        ),
    ),
    Claim(
        id="reduction.none-is-per-sample",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            It returns every loss term, not always one per sample: shape (N,) for CrossEntropy/NLL, the input's shape
            for elementwise losses such as MSE, whose rows you reduce yourself.
        """),
        short_answer_zh=text("""
            返回每个损失项,不一定每个样本一个:CrossEntropy/NLL 形状为 (N,),MSE 等逐元素损失与输入同形,需自己对每行归约。
        """),
        questions=(
            "What shape does `reduction='none'` return?",
            "How do I get one loss per sample from MSELoss?",
        ),
        questions_zh=(
            "`reduction='none'` 返回什么形状?",
            "怎样从 MSELoss 得到每个样本一个损失?",
        ),
        quotes=("`none`: 返回每个样本的损失, 允许用户自行处理。",),
        gloss=("`none`: returns the loss of each sample, leaving the user to process it.",),
        statement=bullets("""
            - reduction='none' returns the unreduced loss terms; each equals that term computed alone by the loss's
              documented formula.
            - Class losses (CrossEntropyLoss, NLLLoss) give one loss per sample, shape (N,).
            - Elementwise losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCEWithLogitsLoss) give one term per
              element, with the input's shape (N, *D).
            - A sample's loss is then a reduction of its row: the row's sum is that sample's 'sum' loss and the row's
              mean its 'mean' loss.
        """),
        statement_zh=bullets("""
            - reduction='none' 返回未归约的损失项;每一项都等于按该损失的文档公式单独计算这一项得到的值。
            - 分类损失(CrossEntropyLoss、NLLLoss)每个样本一个损失,形状为 (N,)。
            - 逐元素损失(MSELoss、L1Loss、SmoothL1Loss、HuberLoss、BCEWithLogitsLoss)每个元素一项,形状与输入相同,为 (N,
              *D)。
            - 这时一个样本的损失是其所在行的归约:行的总和是该样本的 'sum' 损失,行的平均是它的 'mean' 损失。
        """),
        in_practice=text("""
            With an elementwise loss, reduce the 'none' output over the non-batch dimensions (e.g. loss.mean(dim=1))
            before using it as per-sample losses, e.g. for sample weights or hard-example mining.
        """),
        in_practice_zh=text("""
            对逐元素损失,先把 'none' 的输出在非 batch 维上归约(例
            如 loss.mean(dim=1)),再把它当作逐样本损失使用(例如样本加权或难样本挖掘)。
        """),
        related=(
            "reduction.options",
            "mean.denominator.elementwise",
            "per-sample.backward-accumulates",
        ),
        sources=(LOSS_DOCS,),
    ),
    Claim(
        id="reduction.mean-is-sum-over-n",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Not always: 'mean', and its gradient, divide by the number of loss terms: the batch size for
            CrossEntropy/NLL on (N, C), N x d1 x ... on K-dimensional inputs, batch x elements for MSE/L1; class weights
            and ignore_index change it.
        """),
        short_answer_zh=text("""
            不一定:'mean' 及其梯度除以损失项数:(N, C) 的 CrossEntropy/NLL 为 N,K 维输入为 N x d1 x ...,MSE/L1 为 N 乘
            元素数;类别权重和 ignore_index 还会改变它。
        """),
        questions=(
            "Does `reduction='mean'` divide by the batch size?",
            "Is the mean loss's gradient the sum loss's gradient divided by N?",
        ),
        questions_zh=(
            "`reduction='mean'` 是除以 batch 大小吗?",
            "mean 损失的梯度等于 sum 损失的梯度除以 N 吗?",
        ),
        quotes=(
            "`mean`: 计算平均损失",
            "`sum`: 计算总损失,适用于需要对所有样本的损失进行累加的情况。",
        ),
        gloss=(
            "`mean`: computes the average loss",
            "`sum`: computes the total loss, for cases where the losses of all samples need to be added up.",
        ),
        statement=bullets("""
            - For unweighted losses, reduction='mean' equals reduction='sum' divided by N, for the loss value and for
              every parameter's gradient.
            - N is the number of loss terms averaged: the batch size for class losses (CrossEntropyLoss, NLLLoss) on (N,
              C) inputs and N x d1 x ... x dK on K-dimensional (N, C, d1, ..., dK) inputs, batch size x elements per
              sample for elementwise losses (MSELoss, L1Loss, BCEWithLogitsLoss, ...).
            - So N is not always the batch size, and class weights and ignore_index change the denominator again
              (mean.denominator.*).
        """),
        statement_zh=bullets("""
            - 对不加权的损失,reduction='mean' 的损失值以及每个参数的梯度,都等于 reduction='sum' 的结果除以 N。
            - N 是被平均的损失项个数:分类损失(CrossEntropyLoss、NLLLoss)在 (N, C) 输入上为 batch 大小,在 K 维 (N, C,
              d1, ..., dK) 输入上为 N x d1 x ... x dK;逐元素损失(MSELoss、L1Loss、BCEWithLogitsLoss 等)为 batch 大小乘以
              每个样本的元素数。
            - 因此 N 并不总是 batch 大小;类别权重和 ignore_index 还会再次改变分母(mean.denominator.*)。
        """),
        in_practice=text("""
            When you switch a loss between 'sum' and 'mean', rescale the SGD learning rate by the number of loss
            terms, which for elementwise losses is the batch size times the elements per sample.
        """),
        in_practice_zh=text("""
            在 'sum' 与 'mean' 之间切换时,要按损失项的个数调整 SGD 的学习率;对逐元素损失,这个个数
            是 batch 大小乘以每个样本的元素数。
        """),
        related=(
            "reduction.options",
            "mean.denominator.elementwise",
            "mean.denominator.class-weight",
            "mean.denominator.ignore-index",
            "sum.needs-batch-scaling",
        ),
        sources=(LOSS_DOCS,),
    ),
    Claim(
        id="backward.fills-grad",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            The gradient d loss / d parameter, added to the .grad of every requires_grad leaf the loss was computed
            from; a second backward adds to it, so zero the gradients every step.
        """),
        short_answer_zh=text("""
            d loss / d 参数,累加到计算损失时用到的每个 requires_grad 叶子张量的 .grad 上;再次 backward 会继续累加,所以每
            步都要清零梯度。
        """),
        questions=(
            "What does `loss.backward()` put into `.grad`?",
            "Why do I need `optimizer.zero_grad()` every step?",
        ),
        questions_zh=(
            "`loss.backward()` 往 `.grad` 里放了什么?",
            "为什么每一步都要调用 `optimizer.zero_grad()`?",
        ),
        quotes=(
            "一旦计算出损失,就可以调用`loss.backward()`进行反向传播。这一步会计算梯度并将其存储在模型参数的`.grad`属性中。",
        ),
        gloss=(
            (
                "Once the loss is computed, you can call `loss.backward()` to backpropagate. This step computes the "
                "gradients and stores them in the `.grad` attribute of the model's parameters."
            ),
        ),
        statement=bullets("""
            - loss.backward() computes d loss / d parameter for every leaf tensor with requires_grad=True that the loss
              was computed from, and adds it to that tensor's .grad.
            - Before the first backward .grad is None; afterwards it has the parameter's shape and device and holds the
              gradient of the loss.
            - A second backward adds to .grad instead of overwriting it, which is why training loops zero the gradients
              every step.
            - Parameters with requires_grad=False keep .grad None.
        """),
        statement_zh=bullets("""
            - loss.backward() 对计算损失时用到的每个 requires_grad=True 的叶子张量计算 d loss / d 参数,并把它累加到该张
              量的 .grad 中。
            - 第一次反向传播之前 .grad 为 None;之后它与参数形状相同、位于同一设备上,保存的就是损失的梯度。
            - 第二次反向传播会累加到 .grad 上而不是覆盖它,所以训练循环每一步都要把梯度清零。
            - requires_grad=False 的参数,.grad 保持为 None。
        """),
        in_practice=text("""
            Call optimizer.zero_grad() once per step before loss.backward(), unless you accumulate gradients on
            purpose.
        """),
        in_practice_zh=text("""
            每一步在 loss.backward() 之前调用一次 optimizer.zero_grad(),除非你有
            意累积梯度。
        """),
        related=(
            "step.updates-parameters",
            "gradient.chain-rule",
            "per-sample.backward-accumulates",
            "accumulation.micro-batches",
        ),
        sources=(AUTOGRAD_DOCS,),
    ),
    Claim(
        id="step.updates-parameters",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Each parameter, exactly by the optimizer's documented rule applied to .grad and its state. A None .grad is
            skipped; a zero .grad is not (weight decay, momentum and Adam state still move it).
        """),
        short_answer_zh=text("""
            按优化器文档中的规则,用 .grad 和优化器状态精确更新每个参数。.grad 为 None 的参数被跳过;零梯度不会被跳过(权重
            衰减、动量、Adam 状态仍会移动它)。
        """),
        questions=(
            "What exactly does `optimizer.step()` change?",
            "Does weight decay change a frozen parameter whose `.grad` is None?",
            "Does a parameter with a zero gradient still move?",
        ),
        questions_zh=(
            "`optimizer.step()` 到底改变了什么?",
            "`.grad` 为 None 的冻结参数会被权重衰减改变吗?",
            "梯度为零的参数还会移动吗?",
        ),
        quotes=("在反向传播后, 通常会调用优化器的`step()`方法来更新模型参数。",),
        gloss=("After backprop, the optimizer's step() method is usually called to update the model's parameters.",),
        statement=bullets("""
            - optimizer.step() changes each parameter exactly by its optimizer's documented update rule applied to .grad
              and to the optimizer's state, and nothing else: p <- p - lr * p.grad for plain SGD.
            - Adam and AdamW, with any lr, betas, eps, weight_decay and amsgrad, follow the documented algorithm step
              after step through a run whose gradient changes at every step (moment estimates, bias corrections 1 -
              beta^t at the current t, the AMSGrad maximum, L2 or decoupled weight decay).
            - A parameter whose .grad is None is skipped and keeps its exact value, even under weight decay.
            - A zero gradient is not a None gradient: weight decay moves the parameter at once, and momentum or Adam's
              moments left by earlier steps keep moving it; only a first step without weight decay leaves it unchanged.
            - step() computes no gradient itself, so stepping before any backward changes nothing.
        """),
        statement_zh=bullets("""
            - optimizer.step() 按优化器文档中的更新规则、用 .grad 和优化器自身的状态精确地改变每个参数,此外不做任何事:普
              通 SGD 是 p <- p - lr * p.grad。
            - Adam 和 AdamW 在任意 lr、betas、eps、weight_decay 和 amsgrad 下,在梯度每一步都不同的训练中逐步遵循文档中的
              算法(矩估计、按当前步数 t 的偏差修正 1 - beta^t、AMSGrad 的最大值、L2 或解耦的权重衰减)。
            - .grad 为 None 的参数会被跳过、数值完全不变,即使设置了权重衰减也是如此。
            - 零梯度不等于 None 梯度:权重衰减会立即改变这个参数,此前各步留下的动量或 Adam 的矩估计也会继续推动它;只有不
              带权重衰减的第一步才让它保持不变。
            - step() 本身不计算梯度,所以在任何 backward 之前调用 step() 什么也不会改变。
        """),
        in_practice=text("""
            Call optimizer.step() once after each backward (and zero_grad before the next); a frozen or unused
            parameter (.grad None) is not touched even with weight decay, but one with a zero gradient (e.g. masked)
            is; an Adam state is a function of every gradient so far, so restore the optimizer's state_dict together
            with the model's when resuming.
        """),
        in_practice_zh=text("""
            每次 backward 之后调用一次 optimizer.step()(下一次之前
            先 zero_grad);被冻结或未使用的参数(.grad 为 None)即使有权重衰减也不会被改
            动,但梯度为零(例如被掩码)的参数会被改动;Adam 的状态取决于此前所有梯度,恢复训练时要同时恢复优化器和模型的 state_dict。
        """),
        related=(
            "update.sgd-rule",
            "update.scales-with-loss",
            "backward.fills-grad",
        ),
        sources=(
            (
                "PyTorch docs, torch.optim.SGD (documented algorithm) and torch.optim.Optimizer.step (parameters "
                "whose .grad is None are skipped)"
            ),
            (
                "PyTorch docs, torch.optim.Adam (documented algorithm: weight_decay as L2, amsgrad, maximize, bias "
                "corrections 1 - beta^t)"
            ),
            (
                "PyTorch docs, torch.optim.AdamW (documented algorithm: decoupled weight decay theta <- theta (1 - lr "
                "lambda))"
            ),
            "Kingma & Ba 2015, Adam: A Method for Stochastic Optimization (ICLR), arXiv:1412.6980, Algorithm 1",
            (
                "Reddi, Kale & Kumar 2018, On the Convergence of Adam and Beyond (ICLR), arXiv:1904.09237, Algorithm "
                "2 (AMSGrad)"
            ),
            "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR), arXiv:1711.05101, Algorithm 2",
        ),
    ),
    Claim(
        id="backward.once-per-batch",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes, for a model that treats samples independently and an unweighted loss without ignored targets: one
            backward of the 'mean' loss gives the average of the per-sample gradients, of 'sum' their sum, however they
            are computed.
        """),
        short_answer_zh=text("""
            是的,只要模型对各样本独立处理、损失不加权且没有被忽略的目标:对 'mean' 损失做一次反向传播就得到逐样本梯度的平
            均,对 'sum' 损失得到它们的总和,与逐样本梯度的求法无关。
        """),
        questions=("Is one `backward()` of the mean loss the average of the per-sample gradients?",),
        questions_zh=("对 mean 损失做一次 `backward()`,得到的是逐样本梯度的平均吗?",),
        quotes=("如果你选择了`mean`作为损失函数的处理方式,那么反向传播时只需调用一次`loss.backward()`即可。",),
        gloss=(
            (
                "If you chose `mean` as the loss's reduction, a single call to `loss.backward()` is all "
                "backpropagation needs."
            ),
        ),
        statement=bullets("""
            - One backward of the batch's reduced loss gives the gradient for the whole batch.
            - For a model that treats samples independently (no train-mode BatchNorm: coupling.batchnorm) and an
              unweighted loss without ignored targets (else the mean's denominator changes: mean.denominator.*), with
              reduction='mean' it equals the average of the per-sample gradients, with 'sum' their sum.
            - This holds whether the per-sample gradients come from a loop of single-sample backward passes or from
              torch.func.vmap(grad(...)).
        """),
        statement_zh=bullets("""
            - 对整个 batch 的归约损失做一次反向传播,就得到整个 batch 的梯度。
            - 对各样本独立处理的模型(没有训练模式的 BatchNorm:coupling.batchnorm)和不加权、没有被忽略目标的损失(否则
              mean 的分母会变:mean.denominator.*),reduction='mean' 时它等于各样本梯度的平均,'sum' 时等于它们的总和。
            - 无论逐样本梯度是用单样本反向传播的循环求得,还是用 torch.func.vmap(grad(...)) 求得,都是如此。
        """),
        in_practice=text("""
            Reduce the batch loss to one scalar and call backward() once per step; compute per-sample gradients only
            when you need them (per-sample clipping, diagnostics).
        """),
        in_practice_zh=text("""
            把 batch 损失归约成一个标量,每一步只调用一次 backward();只有确实需要时(逐样本裁剪、诊
            断)才计算逐样本梯度。
        """),
        related=(
            "reduction.mean-is-sum-over-n",
            "per-sample.backward-accumulates",
            "per-sample.vmap",
        ),
        sources=(
            AUTOGRAD_DOCS,
            "Linearity of the gradient: grad(sum_i l_i) = sum_i grad(l_i)",
        ),
    ),
    Claim(
        id="sum.needs-batch-scaling",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            With SGD, yes: divide lr by the number of loss terms and multiply weight_decay and max_norm by it. Adam's
            step hardly changes, but its L2 weight_decay needs the same factor.
        """),
        short_answer_zh=text("""
            用 SGD 要改:学习率除以损失项个数,weight_decay 和 max_norm 乘以这个数。Adam 的步长几乎不变,但它的 L2
            weight_decay 也要乘以这个数。
        """),
        questions=(
            "I switched to `reduction='sum'`: must I change the learning rate?",
            "Do weight decay and gradient clipping scale with the loss?",
        ),
        questions_zh=(
            "改用 `reduction='sum'` 后要调整学习率吗?",
            "权重衰减和梯度裁剪会随损失缩放吗?",
        ),
        quotes=("如果选择了`sum`,则同样只需调用一次,但要确保在更新参数时考虑到batch大小。",),
        gloss=(
            (
                "If you chose `sum`, one call is likewise enough, but make sure the batch size is taken into account "
                "when updating the parameters."
            ),
        ),
        statement=bullets("""
            - The 'sum' gradient is N times the 'mean' gradient, so plain SGD on a summed loss takes N-times larger
              steps.
            - SGD with lr / N on the sum follows the trajectory of SGD with lr on the mean up to rounding, as long as
              nothing else acts on the step.
            - Weight decay and gradient clipping do not scale with the loss: with lr / N the sum run also needs
              weight_decay x N and max_norm x N; with the unchanged values the two runs drift apart from the first step.
            - Adam's step is unchanged by the factor N except through eps, but its L2 weight_decay is added before the
              normalisation and needs the factor N too; AdamW's decoupled decay does not.
        """),
        statement_zh=bullets("""
            - 'sum' 的梯度是 'mean' 梯度的 N 倍,所以对求和损失使用普通 SGD 时步长会大 N 倍。
            - 只要没有别的因素作用于更新步,对 sum 使用 lr / N 的 SGD,与对 mean 使用 lr 的 SGD 走出相同的轨迹(在舍入误差
              内)。
            - 权重衰减和梯度裁剪不随损失缩放:用 lr / N 时,sum 训练还需要 weight_decay x N 和 max_norm x N;保持原值时,两
              次训练从第一步起就开始分离。
            - 除了通过 eps 之外,Adam 的步长不受这个倍数 N 的影响;但它的 L2 weight_decay 是在归一化之前加到梯度上的,同样
              需要乘以 N;AdamW 的解耦权重衰减不需要。
        """),
        in_practice=text("""
            With reduction='sum' and SGD, divide the learning rate by the number of loss terms (the batch size for
            class losses) and multiply weight_decay and max_norm by it, or use 'mean'; with Adam the step hardly
            changes, but multiply its L2 weight_decay by that number too, or use AdamW.
        """),
        in_practice_zh=text("""
            使用 reduction='sum' 和 SGD 时,把学习率除以损失项的个数(分类损失即 batch 大小),并
            把 weight_decay 和 max_norm 乘以这个数,或者改用 'mean';使用 Adam 时步长几乎不变,但它
            的 L2 weight_decay 也要乘以这个数,或者改用 AdamW。
        """),
        related=(
            "reduction.mean-is-sum-over-n",
            "update.scales-with-loss",
            "update.sgd-rule",
        ),
        sources=(
            "PyTorch docs, torch.optim.SGD and torch.optim.Adam",
            "Kingma & Ba 2015, Adam, sec. 2.1",
        ),
    ),
    Claim(
        id="per-sample.backward-accumulates",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes: the calls add into .grad and end at the 'sum' loss's gradient (divide by N for 'mean'); on one shared
            forward graph every call but the last needs retain_graph=True.
        """),
        short_answer_zh=text("""
            可以:各次调用累加到 .grad,最后得到 'sum' 损失的梯度(除以 N 得到 'mean' 的);共用一次前向的计算图时,除最后一次
            外都要 retain_graph=True。
        """),
        questions=(
            "Can I backpropagate each sample's loss separately?",
            "What does `.grad` hold after one backward per sample?",
        ),
        questions_zh=(
            "可以对每个样本的损失分别做反向传播吗?",
            "每个样本各做一次 backward 之后,`.grad` 里是什么?",
        ),
        quotes=(
            "可以设置损失函数为 `reduction='none'`,这样会返回每个样本的损失,然后你可以对每个损失单独调用 `.backward()`。",
        ),
        gloss=(
            (
                "You can set the loss function to `reduction='none'`, which returns each sample's loss, and then call "
                "`.backward()` on each loss separately."
            ),
        ),
        statement=bullets("""
            - With reduction='none' each sample's loss can be backpropagated on its own; the calls add into .grad.
            - After all N of them .grad equals the gradient of the 'sum' loss, and .grad / N that of the 'mean' loss.
            - When the N losses come from one forward pass they share one graph, whose saved tensors the first backward
              frees: every call but the last needs retain_graph=True, or autograd raises a RuntimeError.
            - A separate forward pass per sample needs no retain_graph.
        """),
        statement_zh=bullets("""
            - 使用 reduction='none' 时,可以对每个样本的损失单独做反向传播;这些调用会累加到 .grad 中。
            - 全部 N 次之后,.grad 等于 'sum' 损失的梯度,.grad / N 等于 'mean' 损失的梯度。
            - 如果这 N 个损失来自同一次前向传播,它们共享一个计算图,第一次反向传播就会释放其中保存的张量:除最后一次外,每
              次调用都需要 retain_graph=True,否则 autograd 会抛出 RuntimeError。
            - 每个样本单独做一次前向传播则不需要 retain_graph。
        """),
        in_practice=text("""
            If you must backpropagate per sample, pass retain_graph=True to every backward but the last (or run a
            forward per sample), and divide the accumulated .grad by N to get the mean gradient.
        """),
        in_practice_zh=text("""
            如果必须逐样本反向传播,除最后一次外每次 backward 都要传 retain_graph=True(或者
            每个样本单独做一次前向传播),并把累积的 .grad 除以 N 得到 mean 梯度。
        """),
        related=(
            "backward.fills-grad",
            "reduction.none-is-per-sample",
            "backward.once-per-batch",
        ),
        sources=(
            AUTOGRAD_DOCS,
            "PyTorch docs, torch.autograd.backward: retain_graph",
        ),
    ),
    Claim(
        id="per-sample.costs-more",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes: N backward passes instead of one for the same gradient, executing at least N times as many autograd
            nodes, while the batch backward's node count does not grow with N.
        """),
        short_answer_zh=text("""
            是的:为了同一个梯度要做 N 次反向传播而不是一次,执行的 autograd 节点至少是 N 倍;batch 反向传播的节点数不随 N
            增长。
        """),
        questions=(
            "Is backpropagating sample by sample slower than one batch backward?",
            "How many backward passes does a per-sample loop cost?",
        ),
        questions_zh=(
            "逐样本反向传播比整个 batch 做一次反向传播更慢吗?",
            "逐样本循环要做多少次反向传播?",
        ),
        quotes=("这种方法通常不推荐,因为它会导致多次反向传播,从而增加计算开销",),
        gloss=(
            (
                "This approach is generally not recommended, because it leads to multiple backward passes and thus "
                "increases the computational cost"
            ),
        ),
        statement=bullets("""
            - Backpropagating each sample's loss separately runs N backward passes where the batch route runs one, for
              the same gradient.
            - Each parameter's gradient is accumulated N times instead of once.
            - Every per-sample pass walks the whole shared graph, so at least N times as many autograd nodes are
              executed, while the batch backward's node count does not depend on N.
        """),
        statement_zh=bullets("""
            - 逐样本反向传播要执行 N 次反向传播,而 batch 路线只执行一次,得到的却是同一个梯度。
            - 每个参数的梯度被累加 N 次而不是一次。
            - 每次单样本反向传播都要走完整个共享的计算图,所以执行的 autograd 节点数至少是 N 倍,而 batch 反向传播的节点数
              与 N 无关。
        """),
        in_practice=text("""
            Backpropagate the reduced batch loss once; when you need per-sample gradients,
            torch.func.vmap(torch.func.grad(...)) gives them without a Python loop of backward calls (per-sample.vmap).
        """),
        in_practice_zh=text("""
            对归约后的 batch 损失只做一次反向传播;需要逐样本梯度时,torch.func.vmap(torch.func.grad(...)) 无需在 Python
            循环里逐个调用 backward 就能得到它们(per-sample.vmap)。
        """),
        related=(
            "per-sample.backward-accumulates",
            "batch.standard",
            "per-sample.vmap",
        ),
        sources=("PyTorch tutorial, Per-sample-gradients (torch.func.vmap of grad vs. a loop)",),
    ),
    Claim(
        id="per-sample.explosion",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Not by itself: the accumulated per-sample gradients are the batch's sum gradient. Stepping after every
            sample can diverge at a learning rate the full batch tolerates, and with noisy targets it does not converge.
        """),
        short_answer_zh=text("""
            本身不会:逐样本梯度累加起来就是 batch 的 sum 梯度。每个样本走一步,在全量 batch 能承受的学习率下可能发散;目标
            含噪声时它不会收敛。
        """),
        questions=(
            "Does backpropagating one sample at a time cause exploding gradients?",
            "Why does stepping after every sample diverge at my batch learning rate?",
            "Does SGD with batch size 1 converge when the targets are noisy?",
        ),
        questions_zh=(
            "逐个样本反向传播会导致梯度爆炸吗?",
            "为什么每个样本更新一次时,用 batch 训练的学习率就发散了?",
            "目标有噪声时,batch 大小为 1 的 SGD 会收敛吗?",
        ),
        quotes=("并可能引发梯度爆炸等问题。",),
        gloss=("and may cause problems such as gradient explosion.",),
        statement=bullets("""
            - Backpropagating sample by sample does not change the gradient: the accumulated per-sample gradients are
              the batch's sum gradient, and forgetting to divide them by N is what multiplies the step by N.
            - What can diverge is an optimizer step after every sample: a learning rate at which full-batch gradient
              descent converges (below 2/lambda_max of the mean loss Hessian) can make one-step-per-sample SGD diverge.
            - On least squares that a linear model fits exactly, SGD with batches of m drawn with replacement is
              guaranteed to converge below 2m/(beta + (m - 1) lambda_max), beta the largest per-sample curvature (Ma,
              Bassily & Belkin 2018); the largest stable learning rate lies above that edge, which is not a divergence
              point.
            - At batch size 1, above lr = 1/min_i ||x~_i||^2 (x~_i the input with a 1 appended) no per-sample step
              brings the weights closer to the solution, far below 2/lambda_max.
            - With noisy targets SGD at a fixed learning rate does not converge even below the edge: every sample's
              gradient is non-zero at the solution, so the iterates keep moving around it and the loss stays above the
              optimum.
        """),
        statement_zh=bullets("""
            - 逐样本反向传播本身不会改变梯度:逐样本梯度累加起来就是 batch 的 sum 梯度;忘记除以 N 才会让更新步长变成 N 倍
              。
            - 真正可能发散的是“每个样本之后都执行一次优化器更新”:能让全量梯度下降收敛的学习率(低于平均损失 Hessian 的
              2/lambda_max),可能让每个样本走一步的 SGD 发散。
            - 在线性模型能精确拟合的最小二乘问题上,以有放回方式抽取大小为 m 的 batch 时,SGD 在学习率低于 2m/(beta + (m -
              1) lambda_max) 时保证收敛,beta 是单个样本的最大曲率(Ma、Bassily 与 Belkin 2018);实际最大稳定学习率位于这条
              边界之上,而该边界并不是发散点。
            - batch 大小为 1 时,学习率高于 1/min_i ||x~_i||^2(x~_i 为末尾补 1 的输入)后,没有任何一个单样本更新能让权重更
              接近最优解,这远低于 2/lambda_max。
            - 目标含噪声时,即使学习率低于这条边界,固定学习率的 SGD 也不会收敛:在最优解处每个样本的梯度都不为零,迭代点会
              一直在最优解附近移动,损失始终高于最优值。
        """),
        in_practice=text("""
            Sum per-sample gradients and divide by N (or use reduction='mean'); if you really step after every sample,
            lower the learning rate well below what the full batch tolerates (at most about 1/max_i ||x_i||^2 for
            squared error), instead of reusing the batch learning rate.
        """),
        in_practice_zh=text("""
            逐样本累加梯度后要除以 N(或直接用 reduction='mean');如果确实要每个样本更新一次,学习率
            要远低于全量 batch 能承受的值(平方误差下大约不超过 1/max_i ||x_i||^2),不要直接沿
            用 batch 训练时的学习率。
        """),
        related=(
            "explosion.single-sample",
            "explosion.definition",
            "per-sample.backward-accumulates",
            "sum.needs-batch-scaling",
            "remedy.lower-lr",
        ),
        sources=(
            "PyTorch docs, Autograd mechanics (gradients accumulate in .grad)",
            (
                "Ma, Bassily & Belkin 2018, The power of interpolation: understanding the effectiveness of SGD in "
                "modern over-parametrized learning, arXiv:1712.06559, Thm 2 and sec. 3 (optimal step eta*(m) = "
                "m/(beta + (m-1) lambda_1), convergence for lr < 2 eta*(m), critical batch size m* = beta/lambda_1 + "
                "1)"
            ),
            (
                "Goodfellow, Bengio & Courville 2016, Deep Learning, sec. 4.3.1 (gradient descent on a quadratic is "
                "stable iff lr < 2/lambda_max)"
            ),
            (
                "PyTorch docs, torch.optim.SGD (update p <- p - lr * g) and torch.nn.MSELoss (mean of squared errors, "
                "no 1/2)"
            ),
        ),
    ),
    Claim(
        id="batch.standard",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            zero_grad, one forward of the batch, one reduced loss, one backward, one step: the per-sample route's
            parameters with one backward instead of N; without zero_grad, gradients pile up across steps.
        """),
        short_answer_zh=text("""
            zero_grad、对 batch 一次前向、一个归约损失、一次反向、一次 step:得到与逐样本路线相同的参数,但只需一次反向;不
            zero_grad,梯度会跨步累积。
        """),
        questions=(
            "What is the standard PyTorch training step?",
            "What happens if I forget `optimizer.zero_grad()`?",
        ),
        questions_zh=(
            "PyTorch 标准的训练步骤是什么?",
            "忘了调用 `optimizer.zero_grad()` 会怎样?",
        ),
        quotes=("总结来说,标准做法是对整个batch计算损失后直接进行一次反向传播,而不是对每个样本单独 处理。",),
        gloss=(
            (
                "In summary, the standard practice is to compute the loss over the whole batch and then backpropagate "
                "once, rather than handling each sample separately."
            ),
        ),
        statement=bullets("""
            - The standard training step is optimizer.zero_grad(), one forward pass of the batch, one reduced loss, one
              backward pass, one optimizer.step().
            - It reaches the same parameters as the per-sample route (N backward passes of loss_i / N accumulated, then
              one step), with one backward pass per step instead of N.
            - The zero_grad matters: without it gradients pile up across steps and the trajectory changes.
        """),
        statement_zh=bullets("""
            - 标准的训练步骤是:optimizer.zero_grad()、对 batch 做一次前向传播、计算一个归约后的损失、一次反向传播、一次
              optimizer.step()。
            - 它得到的参数与逐样本路线(对 loss_i / N 做 N 次反向传播并累加,再更新一次)相同,但每一步只需一次反向传播而不
              是 N 次。
            - zero_grad 不能省略:没有它,梯度会跨步累积,训练轨迹随之改变。
        """),
        in_practice=text("""
            Write each step as zero_grad, forward, loss, backward, step on the whole batch; skip zero_grad only when
            you accumulate gradients on purpose.
        """),
        in_practice_zh=text("""
            把每一步写成对整个 batch 的 zero_grad、前向、损失、反向、step;只有有意累积梯度时才省
            略 zero_grad。
        """),
        related=(
            "backward.once-per-batch",
            "per-sample.costs-more",
            "backward.fills-grad",
            "step.updates-parameters",
        ),
        sources=("PyTorch tutorial, Optimizing Model Parameters (the training loop)",),
    ),
)
