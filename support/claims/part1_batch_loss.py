"""Part 1 of the source: computing a batch loss and backpropagating it."""

from support.claims.model import Claim, Part, Verdict, text

P = Part.BATCH_LOSS
LOSS_DOCS = "PyTorch docs, torch.nn loss functions: `reduction` ('none' | 'mean' | 'sum', default 'mean')"
AUTOGRAD_DOCS = "PyTorch docs, torch.Tensor.backward: gradients are accumulated in the leaves' .grad"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="reduction.options",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "PyTorch中的大多数损失函数(如`CrossEntropyLoss`或`MSELoss`)都有一个`reduction`参数,可以控制如何处理batch中的多个样本的损失。",
            "`mean`: 计算平均损失 (默认选项) , 适用于大多数情况。",
        ),
        statement=text("""
            The built-in loss modules (MSE, L1, SmoothL1, Huber, CrossEntropy, NLL, BCEWithLogits, ...) take
            reduction='mean' | 'sum' | 'none'; 'mean' is the default and any other value is rejected with an error.
        """),
        statement_zh=text("""
            内置的损失模块(MSE、L1、SmoothL1、Huber、CrossEntropy、NLL、BCEWithLogits 等)都接受 reduction='mean' | 'sum' | 'none';默认值是
            'mean',其他任何取值都会报错。
        """),
        sources=(
            LOSS_DOCS,
        ),
    ),
    Claim(
        id="reduction.none-is-per-sample",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "`none`: 返回每个样本的损失, 允许用户自行处理。",
        ),
        statement=text("""
            reduction='none' returns the unreduced losses: one per sample for class losses (CrossEntropy, NLL), but
            one per *element* for elementwise losses (MSE, L1, SmoothL1, Huber, BCEWithLogits), whose output has the
            input's shape. Each entry equals the loss computed on that sample (element) alone; a per-sample loss of an
            elementwise loss is the reduction of its row.
        """),
        statement_zh=text("""
            reduction='none' 返回未归约的损失项:对分类损失(CrossEntropy、NLL)是每个样
            本一个损失,形状为 (N,);对逐元素损失(MSE、L1、SmoothL1、Huber、BCEWithLogits)则
            是每个*元素*一个损失项,形状与预测相同。每一项都等于单独计算该样本(元素)得到的损失;逐元素损失的单个样本
            损失是其所在行的归约。
        """),
        sources=(
            LOSS_DOCS,
        ),
    ),
    Claim(
        id="reduction.mean-is-sum-over-n",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "`mean`: 计算平均损失",
            "`sum`: 计算总损失,适用于需要对所有样本的损失进行累加的情况。",
        ),
        statement=text("""
            For unweighted losses, mean = sum / N for the loss value and for every parameter's gradient, where N is
            the number of loss terms averaged: the batch size for class losses, batch size x elements per sample for
            elementwise losses. It is not always the batch size (see mean.denominator.*).
        """),
        statement_zh=text("""
            对不加权的损失,'mean' 的损失值以及每个参数的梯度都等于 'sum' 的结果除以 N,其中 N 是被平
            均的损失项个数:分类损失为 batch 大小,逐元素损失为 batch 大小乘以每个样本的元素数。因
            此 N 并不总是 batch 大小(参见 mean.denominator.*)。
        """),
        sources=(
            LOSS_DOCS,
        ),
    ),
    Claim(
        id="backward.fills-grad",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "一旦计算出损失,就可以调用`loss.backward()`进行反向传播。这一步会计算梯度并将其存储在模型参数的`.grad`属性中。",
        ),
        statement=text("""
            loss.backward() computes d loss / d parameter for every leaf with requires_grad=True and adds it to .grad
            (None before the first backward, the parameter's shape after). It accumulates rather than overwrites,
            which is why training loops zero the gradients; frozen parameters keep .grad None.
        """),
        statement_zh=text("""
            loss.backward() 对每个 requires_grad=True 的叶子张量计
            算 d loss / d 参数,并把它*累加*到 .grad 中(第一次反向传播之
            前 .grad 为 None,之后形状与参数相同)。它是累加而不是覆盖,所以训练循环要先清零梯度;被冻结的参
            数 .grad 保持为 None。
        """),
        sources=(
            AUTOGRAD_DOCS,
        ),
    ),
    Claim(
        id="step.updates-parameters",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "在反向传播后, 通常会调用优化器的`step()`方法来更新模型参数。",
        ),
        statement=text("""
            optimizer.step() changes each parameter exactly by its update rule applied to .grad; a parameter whose
            .grad is None is skipped and left unchanged, and step() does not compute gradients itself.
        """),
        statement_zh=text("""
            optimizer.step() 按优化器的更新规则、用 .grad 精确地改变每个参
            数;.grad 为 None 的参数会被跳过、保持不变,step() 本身不计算梯度。
        """),
        sources=(
            "PyTorch docs, torch.optim.SGD (update rule) and Optimizer.step",
        ),
    ),
    Claim(
        id="backward.once-per-batch",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "如果你选择了`mean`作为损失函数的处理方式,那么反向传播时只需调用一次`loss.backward()`即可。",
        ),
        statement=text("""
            One backward of the batch's mean (or sum) loss gives the gradient of the averaged (summed) loss over the
            whole batch: it equals the average (sum) of the per-sample gradients computed separately.
        """),
        statement_zh=text("""
            对整个 batch 的归约损失(mean 或 sum)做一次反向传播,得到的就是整个 batch 的梯度:它
            等于各样本单独计算的梯度的平均(或总和)。
        """),
        sources=(
            AUTOGRAD_DOCS,
            "Linearity of the gradient: grad(sum_i l_i) = sum_i grad(l_i)",
        ),
    ),
    Claim(
        id="sum.needs-batch-scaling",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "如果选择了`sum`,则同样只需调用一次,但要确保在更新参数时考虑到batch大小。",
        ),
        statement=text("""
            The sum-loss gradient is N times the mean-loss gradient, so plain SGD on a sum loss takes N-times larger
            steps; SGD with lr/N on the sum equals SGD with lr on the mean. Adam normalises the gradient by its
            running RMS, so its step is (up to eps) unchanged by that factor: the batch size must be taken into
            account for SGD-like rules, hardly at all for Adam.
        """),
        statement_zh=text("""
            'sum' 的梯度是 'mean' 梯度的 N 倍,所以对 sum 损失用普通 SGD 时步长会
            大 N 倍;对 sum 用 lr/N 的 SGD 与对 mean 用 lr 的 SGD 完全相同
            。Adam 用梯度的滑动均方根做归一化,它的步长(在 eps 的影响以内)不受这个倍数影响:需要考
            虑 batch 大小的是 SGD 一类的更新规则,Adam 几乎不需要。
        """),
        sources=(
            "PyTorch docs, torch.optim.SGD and torch.optim.Adam",
            "Kingma & Ba 2015, Adam, sec. 2.1",
        ),
    ),
    Claim(
        id="per-sample.backward-accumulates",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "可以设置损失函数为 `reduction='none'`,这样会返回每个样本的损失,然后你可以对每个损失单独调用 `.backward()`。",
        ),
        statement=text("""
            With reduction='none' each sample's loss can be backpropagated separately; the calls accumulate into .grad
            and the result equals the sum-reduction gradient (divide by N for the mean). When the losses share one
            forward graph that saved tensors, every backward but the last needs retain_graph=True, or autograd raises
            a RuntimeError.
        """),
        statement_zh=text("""
            使用 reduction='none' 时可以对每个样本的损失单独反向传播;这些调用会累加
            到 .grad 中,全部 N 次之后 .grad 等于 'sum' 的梯度(除以 N 即为 'mean' 的
            梯度)。如果这 N 个损失来自同一次前向传播、共享一个保存了中间张量的计算图,那么除最后一次外的每次调用都需
            要 retain_graph=True,否则 autograd 会抛出 RuntimeError。
        """),
        sources=(
            AUTOGRAD_DOCS,
            "PyTorch docs, torch.autograd.backward: retain_graph",
        ),
    ),
    Claim(
        id="per-sample.costs-more",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "这种方法通常不推荐,因为它会导致多次反向传播,从而增加计算开销",
        ),
        statement=text("""
            Per-sample backward runs N backward passes instead of one: the number of autograd nodes executed grows
            N-fold for the same gradient. (Wall-clock ratios are measured by the benchmarks, not asserted.)
        """),
        statement_zh=text("""
            逐样本反向传播要执行 N 次反向传播,而不是一次:为得到同一个梯度,执行的 autograd 节点数增加
            到 N 倍。(循环 / batch / vmap 的实际耗时比例由基准测试测量,测试中不断言时间。)
        """),
        sources=(
            "PyTorch tutorial, Per-sample-gradients (torch.func.vmap of grad vs. a loop)",
        ),
    ),
    Claim(
        id="per-sample.explosion",
        part=P,
        verdict=Verdict.REFUTED,
        quotes=(
            "并可能引发梯度爆炸等问题。",
        ),
        statement=text("""
            Backpropagating per sample cannot by itself make gradients explode: the accumulated per-sample gradients
            are the same numbers as the batch's sum gradient. What does change is (a) forgetting to divide by N
            multiplies the step by N, and (b) stepping after every sample makes noisier updates, whose size is bounded
            by the largest per-sample gradient, not amplified.
        """),
        statement_zh=text("""
            逐样本反向传播本身不会导致梯度爆炸:累加起来的逐样本梯度与整个 batch 的 sum 梯度是同样的数值。真
            正会变化的是:(a) 忘记除以 N 会使更新步长变为 N 倍;(b) 每个样本之后都更新一次会使更新噪声更
            大,但其大小以最大的单样本梯度为上界,并没有被放大。
        """),
        sources=(
            AUTOGRAD_DOCS,
            "Triangle inequality: ||mean_i g_i|| <= mean_i ||g_i|| <= max_i ||g_i||",
        ),
    ),
    Claim(
        id="batch.standard",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "总结来说,标准做法是对整个batch计算损失后直接进行一次反向传播,而不是对每个样本单独 处理。",
        ),
        statement=text("""
            The standard training step is zero_grad, one forward of the batch, one reduced loss, one backward, one
            step; it gives the same parameters as the per-sample route that accumulates the gradients and steps once,
            at a fraction of the backward passes.
        """),
        statement_zh=text("""
            标准的训练步骤是:zero_grad、对 batch 做一次前向传播、计算一个归约后的损失、一次反向传播、一
            次 step。它得到的参数与逐样本路线(累加各样本梯度后更新一次)相同,但反向传播次数只是后者的一小部分。
        """),
        sources=(
            "PyTorch tutorial, Optimizing Model Parameters (the training loop)",
        ),
    ),
)
