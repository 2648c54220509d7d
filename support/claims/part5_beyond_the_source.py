"""Part 5, beyond the source: batch-loss facts practitioners trip over (each claim with its references)."""

from support.claims.schema import Claim, Part, Verdict, bullets, text

P = Part.BEYOND
ELEMENTWISE_DOCS = (
    "PyTorch docs, torch.nn.MSELoss / L1Loss / SmoothL1Loss / HuberLoss: 'mean' — the sum of the output will be "
    "divided by the number of elements in the output"
)
BCE_DOCS = (
    "PyTorch docs, torch.nn.BCEWithLogitsLoss: l_n = -w_n [p_c y_n log s(x_n) + (1 - y_n) log(1 - s(x_n))], mean(L)"
)
CE_DOCS = (
    "PyTorch docs, torch.nn.CrossEntropyLoss: class-index targets, 'mean' = sum_n l_n / sum_n w_{y_n} "
    "(ignore_index excluded); probability targets, 'mean' = sum_n l_n / N; K-dimensional inputs (N, C, d1, ..., "
    "dK)"
)
NLL_DOCS = "PyTorch docs, torch.nn.NLLLoss: 'mean' = sum_n l_n / sum_n w_{y_n} * 1{y_n != ignore_index}"
AUTOGRAD_DOCS = "PyTorch docs, torch.Tensor.backward: gradients are accumulated in the leaves' .grad"
KARPATHY = (
    "A. Karpathy, 'A Recipe for Training Neural Networks' (2019), sec. 2, tip 'use backprop to chart dependencies'"
)
FUNC_DOCS = (
    "PyTorch tutorial, Per-sample-gradients (torch.func.vmap(grad(...)) vs. a loop); PyTorch docs, torch.func UX "
    "limitations: 'Patching Batch Norm' and vmap's randomness argument ('error' | 'different' | 'same')"
)
DDP_DOCS = (
    "PyTorch docs, torch.nn.parallel.DistributedDataParallel: gradients are all-reduced and averaged across "
    "processes; no_sync(): gradients accumulate locally and are synchronised in the first backward outside it"
)
GOYAL = (
    "Goyal et al. 2017, Accurate, Large Minibatch SGD, sec. 3 Remark 3: normalize the per-worker loss by the "
    "total minibatch size kn, not the per-worker size n"
)
LI_DDP = (
    "Li et al. 2020, PyTorch Distributed: Experiences on Accelerating Data Parallel Training (VLDB), sec. 3.2 and 4"
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="mean.denominator.elementwise",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            By the number of elements N x D, not the batch size N, for the value and the gradient, so the mean is 1/D of
            the per-sample sum; BCEWithLogitsLoss's weights are not in the denominator.
        """),
        short_answer_zh=text("""
            除以元素个数 N×D 而不是 batch 大小 N,损失值和梯度都是如此,所以 mean 是逐样本求和损失的 1/D;BCEWithLogitsLoss
            的权重不进入分母。
        """),
        questions=(
            "Does MSELoss's 'mean' divide by the batch size or by the number of elements?",
            "Why does my MSE gradient get smaller when the output has more dimensions?",
        ),
        questions_zh=(
            "MSELoss 的 'mean' 除以 batch 大小还是元素个数?",
            "为什么输出维度变多后,MSE 的梯度变小了?",
        ),
        quotes=(),
        statement=bullets("""
            - For elementwise losses (MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCEWithLogitsLoss) reduction='mean'
              divides the sum of the element terms by the number of elements N x D (batch size times elements per
              sample), not by the batch size N, for the value and for the gradient.
            - The mean is therefore 1/D of the per-sample loss summed over features and averaged over the batch, and its
              gradient shrinks as D grows.
            - BCEWithLogitsLoss with weight= or pos_weight= still divides by the number of elements: the weights scale
              the terms but are not in the denominator.
        """),
        statement_zh=bullets("""
            - 对逐元素损失(MSELoss、L1Loss、SmoothL1Loss、HuberLoss、BCEWithLogitsLoss),reduction='mean' 把所有元素项之
              和除以元素个数 N×D(batch 大小乘以每个样本的元素数),而不是除以 batch 大小 N;损失值和梯度都是如此。
            - 因此 mean 等于“先对特征求和、再对 batch 求平均”的逐样本损失的 1/D,其梯度也随 D 增大而变小。
            - 带 weight= 或 pos_weight= 的 BCEWithLogitsLoss 仍然除以元素个数:权重只缩放各项,不进入分母。
        """),
        in_practice=text("""
            If a sample's loss should not shrink as its output grows, use reduction='sum' divided by the batch size
            (or sum over features, then average over the batch), and retune the learning rate.
        """),
        in_practice_zh=text("""
            如果不希望样本的损失随输出维数增大而变小,就用 reduction='sum' 再除以 batch 大小(或
            先对特征求和、再对 batch 求平均),并重新调整学习率。
        """),
        related=(
            "reduction.mean-is-sum-over-n",
            "reduction.none-is-per-sample",
            "mean.denominator.class-weight",
        ),
        sources=(
            ELEMENTWISE_DOCS,
            BCE_DOCS,
        ),
    ),
    Claim(
        id="mean.denominator.class-weight",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            With class-index targets, by the sum of the targets' weights sum_i w[y_i], not N, so scaling all weights
            leaves the mean unchanged; with class-probability targets it divides by N.
        """),
        short_answer_zh=text("""
            类别索引目标时除以各目标的权重之和 Σ_i w[y_i],而不是 N,所以同时缩放所有权重不改变 mean;目标为类别概率时除以
            N。
        """),
        questions=(
            "With class weights, what does CrossEntropyLoss's 'mean' divide by?",
            "Does scaling all class weights change the loss?",
        ),
        questions_zh=(
            "设置类别权重后,CrossEntropyLoss 的 'mean' 除以什么?",
            "把所有类别权重同时放大会改变损失吗?",
        ),
        quotes=(),
        statement=bullets("""
            - CrossEntropyLoss and NLLLoss with class-index targets and weight=w take, under reduction='mean', the
              weighted average sum_i w[y_i] l_i / sum_i w[y_i], not sum_i w[y_i] l_i / N, for the value and the
              gradient.
            - So multiplying all weights by a constant leaves the mean unchanged (it scales 'sum').
            - With class-probability targets CrossEntropyLoss divides by N and the weights are not in the denominator,
              so there scaling them scales the mean.
            - For K-dimensional inputs (N, C, d1, ..., dK) every position is a term: the denominator is the sum of w[y]
              over all N x d1 x ... x dK positions (their number without weights).
        """),
        statement_zh=bullets("""
            - CrossEntropyLoss 和 NLLLoss 使用类别索引目标并设置 weight=w 时,reduction='mean' 是加权平均 Σ_i w[y_i] l_i
              / Σ_i w[y_i],而不是 Σ_i w[y_i] l_i / N,损失值和梯度都是如此。
            - 因此把所有权重乘以同一个常数不会改变 mean(只会缩放 'sum')。
            - 若目标是类别概率,CrossEntropyLoss 除以 N,权重不进入分母,此时缩放权重会缩放 mean。
            - 对 K 维输入 (N, C, d1, …, dK),每个位置都是一项:分母是所有 N×d1×…×dK 个位置上 w[y] 之和(不加权时就是位置的
              个数)。
        """),
        in_practice=text("""
            Class weights with index targets change how the classes are weighted against each other, not the loss
            scale; if the weights should also scale the gradient, use reduction='sum' and divide by N yourself.
        """),
        in_practice_zh=text("""
            使用类别索引目标时,类别权重改变的是各类别之间的相对权重,而不是损失的尺度;如果希望权重同时缩放梯度,就
            用 reduction='sum' 并自己除以 N。
        """),
        related=(
            "reduction.mean-is-sum-over-n",
            "mean.denominator.ignore-index",
            "mean.denominator.elementwise",
            "imbalance.misleading",
        ),
        sources=(
            CE_DOCS,
            NLL_DOCS,
        ),
    ),
    Claim(
        id="mean.denominator.ignore-index",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            No: ignored targets leave both the sum and the denominator (their class weights too); if every target is
            ignored, 'mean' is NaN (0/0) while the gradient is zero.
        """),
        short_answer_zh=text("""
            不会:被忽略的目标既不进入求和也不进入分母(其类别权重也不计);所有目标都被忽略时,'mean' 为 NaN(0/0),梯度却为零
            。
        """),
        questions=(
            "Do targets set to `ignore_index` count in the mean?",
            "Why is my loss NaN when every target in the batch is padding?",
        ),
        questions_zh=(
            "设为 `ignore_index` 的目标会计入平均吗?",
            "为什么 batch 中所有目标都是 padding 时损失是 NaN?",
        ),
        quotes=(),
        statement=bullets("""
            - A target equal to ignore_index (default -100) contributes neither a term nor a count to the
              reduction='mean' of CrossEntropyLoss and NLLLoss: the mean runs over the kept targets only, and with class
              weights the ignored targets' weights leave the denominator too.
            - Label smoothing's term is dropped for those positions as well, and their logits get exactly zero gradient.
            - When every target is ignored, 'mean' is 0/0 = NaN while 'sum' is 0, and the gradient with respect to the
              input is zero, not NaN.
        """),
        statement_zh=bullets("""
            - 等于 ignore_index(默认 -100)的目标,在 CrossEntropyLoss 和 NLLLoss 的 reduction='mean' 中既不贡献损失项,也
              不计入分母:平均只在保留的目标上进行;使用类别权重时,被忽略目标的权重也不进入分母。
            - label smoothing 的平滑项同样不计这些位置,它们的 logits 梯度恰好为零。
            - 当所有目标都被忽略时,'mean' 是 0/0 = NaN,'sum' 是 0,而对输入的梯度是零,不是 NaN。
        """),
        in_practice=text("""
            With padding masked by ignore_index, each batch's mean loss averages over its real targets only; weight
            batches by their real-target counts when accumulating, and skip batches with none, whose logged loss is
            NaN.
        """),
        in_practice_zh=text("""
            用 ignore_index 屏蔽填充位置时,每个 batch 的 mean 损失只在真实目标上平均;累积梯
            度时要按真实目标数给各 batch 加权,并跳过没有真实目标的 batch,它们记录下来的损失是 NaN。
        """),
        related=(
            "mean.denominator.class-weight",
            "reduction.mean-is-sum-over-n",
            "accumulation.micro-batches",
        ),
        sources=(
            CE_DOCS,
            NLL_DOCS,
        ),
    ),
    Claim(
        id="mean.denominator.kldiv",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            'batchmean': it divides by the batch size and gives the KL divergence for (N, C) inputs, while 'mean'
            divides by every element; on (N, T, C) 'batchmean' sums over T, so flatten to (N*T, C) first.
        """),
        short_answer_zh=text("""
            用 'batchmean':它除以 batch 大小,对 (N, C) 输入就是 KL 散度,而 'mean' 除以全部元素个数;对 (N, T,
            C),'batchmean' 会对 T 求和,应先展平为 (N*T, C)。
        """),
        questions=(
            "Should I use `reduction='batchmean'` or 'mean' with KLDivLoss?",
            "Why does my KL distillation loss grow with the sequence length?",
        ),
        questions_zh=(
            "KLDivLoss 应该用 `reduction='batchmean'` 还是 'mean'?",
            "为什么我的 KL 蒸馏损失随序列长度变大?",
        ),
        quotes=(),
        statement=bullets("""
            - KLDivLoss takes its input as log-probabilities log q and sums the pointwise terms p (log p - log q) (0
              where p = 0).
            - reduction='mean' divides that sum by the number of elements and warns (UserWarning) that this is not the
              KL divergence; reduction='batchmean' divides by the batch size, the input's first dimension, only.
            - For (N, C) inputs 'batchmean' is the average over samples of the mathematical KL(p || q) = sum_c p_c
              log(p_c / q_c), and 'mean' is that divided by C.
            - For sequence inputs (N, T, C), with the distributions over the last dimension, 'batchmean' still divides
              by N only: it is T times the per-position mean KL, with T times its gradient, while 'mean' divides by N x
              T x C.
            - The per-position mean KL is reduction='sum' divided by N x T, or 'batchmean' on the input flattened to (N
              x T, C).
        """),
        statement_zh=bullets("""
            - KLDivLoss 把输入当作对数概率 log q,对逐点项 p (log p − log q) 求和(p = 0 处取 0)。
            - reduction='mean' 把这个和除以元素个数,并发出 UserWarning 说明这不是 KL 散度;reduction='batchmean' 只除以
              batch 大小,即输入的第一维。
            - 对 (N, C) 输入,'batchmean' 等于各样本数学定义 KL(p‖q) = Σ_c p_c log(p_c/q_c) 的平均,'mean' 等于它再除以
              C。
            - 对序列输入 (N, T, C)(分布在最后一维),'batchmean' 仍然只除以 N:它是每个位置平均 KL 的 T 倍,梯度也是 T 倍;而
              'mean' 除以 N×T×C。
            - 每个位置的平均 KL 应当用 reduction='sum' 再除以 N×T 得到,或者先把输入展平成 (N×T, C) 再用 'batchmean'。
        """),
        in_practice=text("""
            For per-token distillation on (N, T, C) outputs, flatten to (N*T, C) before
            KLDivLoss(reduction='batchmean') (or use 'sum' divided by the number of positions, masked for padding), so
            the loss and its gradient do not grow with the sequence length.
        """),
        in_practice_zh=text("""
            对 (N, T, C) 输出做逐 token 蒸馏时,先展平成 (N*T, C) 再
            用 KLDivLoss(reduction='batchmean')(或用 'sum' 除以位置
            数,有 padding 时要用掩码),这样损失和梯度不会随序列长度变大。
        """),
        related=(
            "mean.denominator.elementwise",
            "accumulation.token-count",
        ),
        sources=(
            (
                "PyTorch docs, torch.nn.KLDivLoss: 'batchmean' divides the sum by the batch size input.size(0) and "
                "aligns with the mathematical definition of KL divergence; 'mean' divides by the number of elements "
                "(and warns); input in log space, log_target"
            ),
            (
                "Cover & Thomas 2006, Elements of Information Theory, 2nd ed., Thm 2.6.3 (information inequality: "
                "D(p||q) >= 0 with equality iff p = q)"
            ),
        ),
    ),
    Claim(
        id="accumulation.micro-batches",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes, up to rounding, for equal micro-batches with loss / k; with unequal sizes weight each mean loss by its
            share of the terms. Clip once, after the last backward. Not with train-mode BatchNorm; dropout only for the
            same masks.
        """),
        short_answer_zh=text("""
            等大的 micro-batch 用 loss / k 就在舍入误差内相同;大小不等时按所占损失项的比例加权。只在最后一次 backward 之后
            裁剪一次。训练模式的 BatchNorm 下不成立,有 dropout 时只在掩码相同时成立。
        """),
        questions=(
            "How do I accumulate gradients over micro-batches?",
            "Is gradient accumulation exactly the same as training with one big batch?",
            "With gradient accumulation, when do I clip gradients?",
            "How do I log the epoch-average loss with a short last batch?",
        ),
        questions_zh=(
            "怎样在多个 micro-batch 上累积梯度?",
            "梯度累积和直接用一个大 batch 训练完全一样吗?",
            "梯度累积时应该在什么时候裁剪梯度?",
            "最后一个 batch 较小时,怎样记录整个 epoch 的平均损失?",
        ),
        quotes=(),
        statement=bullets("""
            - Because backward accumulates into .grad, splitting a batch of N into k equal micro-batches and calling
              (loss_j / k).backward() on each micro-batch's mean loss leaves the full batch's mean-loss gradient, up to
              rounding.
            - With unequal micro-batch sizes s_j, dividing by k weights each sample of micro-batch j by 1 / (k s_j)
              instead of 1 / N and gives a different gradient; weighting micro-batch j's mean loss by s_j / N, or
              summing the losses and dividing by the full batch's number of loss terms, restores the full-batch
              gradient, and the same weights average the micro-batches' (or an epoch's batches') mean losses into the
              full mean loss, where their plain mean misses it.
            - Clipping belongs after the last micro-batch's backward: clip_grad_norm_ then sees the accumulated gradient
              and gives the full batch's clipped gradient up to rounding, while clipping the running .grad after every
              micro-batch rescales partial sums and gives another gradient.
            - This needs each sample's loss to depend on that sample alone and on no random draw: train-mode BatchNorm
              normalises each micro-batch with its own statistics, so the accumulated gradient differs from the full
              batch's (coupling.batchnorm).
            - Dropout in train mode draws new masks at every forward, so the accumulated gradient equals the full
              batch's only for the same masks; in eval mode both layers are fixed functions and the identity holds.
        """),
        statement_zh=bullets("""
            - 由于 backward 会累加到 .grad 中,把大小为 N 的 batch 分成 k 个等大的 micro-batch,并对每个 micro-batch 的
              mean 损失调用 (loss_j / k).backward(),得到的就是整个 batch 的 mean 损失梯度(在舍入误差内)。
            - 若各 micro-batch 的大小 s_j 不相等,除以 k 会让 micro-batch j 中每个样本的权重变成 1 / (k·s_j) 而不是 1 /
              N,梯度因此不同;把 micro-batch j 的 mean 损失乘以 s_j / N,或者把各损失求和后除以整个 batch 的损失项个数,才
              能还原整个 batch 的梯度;用同样的权重对各 micro-batch(或一个 epoch 中各 batch)的 mean 损失求平均,得到的就
              是整体的 mean 损失,而直接求平均则不是。
            - 裁剪应放在最后一个 micro-batch 的 backward 之后:这时 clip_grad_norm_ 看到的是累积好的梯度,得到的就是整个
              batch 裁剪后的梯度(在舍入误差内);而在每个 micro-batch 之后都裁剪正在累积的 .grad,会缩放部分和,得到另一
              个梯度。
            - 这要求每个样本的损失只依赖于该样本自身、不依赖任何随机抽取:训练模式下的 BatchNorm 用每个 micro-batch 自己
              的统计量归一化,累积的梯度因此不同于整个 batch 的梯度(coupling.batchnorm)。
            - 训练模式下的 dropout 每次前向传播都重新抽取掩码,所以只有掩码相同时,累积的梯度才等于整个 batch 的梯度;评估
              模式下这两种层都是固定的函数,恒等式成立。
        """),
        in_practice=text("""
            When accumulating over micro-batches of unequal size (a short last batch, variable-length sequences,
            ignored targets), weight each micro-batch's mean loss by its share of the loss terms, not by 1 / k, and
            average logged batch losses the same way; clip once, after the last micro-batch's backward and before
            step(); to check accumulation against a full batch, compare in eval mode (BatchNorm and dropout make
            train-mode gradients differ).
        """),
        in_practice_zh=text("""
            在大小不等的 micro-batch 上累积梯度时(最后一个较小的 batch、变长序列、被忽略的目标),按
            每个 micro-batch 所占损失项的比例给它的 mean 损失加权,而不是乘以 1 / k,记录的 batch 损失也按同样的权重求平
            均;只在最后一个 micro-batch 的 backward 之后、step() 之前裁剪一次;要拿累积结果与整个 batch 对
            照检查时,在评估模式下比较(BatchNorm 和 dropout 会让训练模式下的梯度不同)。
        """),
        related=(
            "backward.fills-grad",
            "mean.denominator.ignore-index",
            "distributed.ddp-mean",
            "coupling.batchnorm",
        ),
        sources=(
            AUTOGRAD_DOCS,
            GOYAL,
        ),
    ),
    Claim(
        id="accumulation.token-count",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Sum each micro-batch's loss (reduction='sum') and divide by the valid-token count of the whole accumulation
            window; averaging per-micro-batch means / k is wrong whenever the valid-token counts differ.
        """),
        short_answer_zh=text("""
            对每个 micro-batch 用 reduction='sum' 求损失,再除以整个累积窗口的有效 token 数;只要各 micro-batch 的有效
            token 数不同,按 mean / k 平均就是错的。
        """),
        questions=(
            "How do I accumulate gradients with padded sequences?",
            "Why does gradient accumulation change the result with variable-length sequences?",
        ),
        questions_zh=(
            "序列有 padding 时怎样做梯度累积?",
            "为什么对变长序列做梯度累积会改变结果?",
        ),
        quotes=(),
        statement=bullets("""
            - In a token-level loss with padding (targets set to ignore_index), the terms of cross-entropy's 'mean' are
              the valid targets, not the sequences, so micro-batches of equal size can hold different numbers n_j of
              valid targets.
            - Accumulating (mean loss of micro-batch j) / k then gives each valid target of micro-batch j the weight 1 /
              (k n_j) instead of 1 / n, n the total number of valid targets, and misses the full batch's mean-loss
              gradient by the sum over j of (1/k - n_j/n) times micro-batch j's mean gradient; it is right only when
              every n_j is equal.
            - Summing each micro-batch's loss (reduction='sum') and dividing by the total valid count n across all
              micro-batches recovers the full-batch gradient, equal up to rounding, not bitwise by guarantee.
            - A micro-batch with no valid target has a NaN mean loss: the built-in cross-entropy gives it a zero
              gradient, so .grad survives while a running sum of the losses turns NaN, but a hand-written masked mean
              (masked sum / count) backpropagates NaN into the gradients and, after the step, into the weights.
        """),
        statement_zh=bullets("""
            - 在带 padding(目标设为 ignore_index)的逐 token 损失中,交叉熵 'mean' 的项是有效目标而不是序列,因此大小相同的
              micro-batch 可能含有不同数量 n_j 的有效目标。
            - 累积 (micro-batch j 的 mean 损失) / k 会让 micro-batch j 中每个有效目标的权重变成 1/(k n_j),而不是 1/n(n
              为有效目标总数),累积梯度与整个 batch 的 mean 损失梯度相差 Σ_j (1/k − n_j/n) 乘以 micro-batch j 自身的平均
              梯度;只有各 n_j 都相等时才正确。
            - 把每个 micro-batch 的损失求和(reduction='sum')再除以所有 micro-batch 的有效目标总数 n,就能还原整个 batch
              的梯度,只差舍入误差,并不保证逐位相同。
            - 没有任何有效目标的 micro-batch 的 mean 损失是 NaN:内置交叉熵给它的梯度为零,所以 .grad 不受影响,但损失的累
              加和会变成 NaN;而手写的带掩码平均(掩码求和 / 计数)会把 NaN 反向传播进梯度,更新一步之后又进入权重。
        """),
        in_practice=text("""
            With padded token batches and gradient accumulation, count the valid targets of the whole accumulation
            window first (all-reduce the count under DDP) and backpropagate each micro-batch's reduction='sum' loss
            divided by that count; never divide per-micro-batch means by k, and never divide by a count that can be
            zero.
        """),
        in_practice_zh=text("""
            对带 padding 的 token batch 做梯度累积时,先统计整个累积窗口内的有效目标数(DDP 下
            对这个数做 all-reduce),再对每个 micro-batch 的 reduction='sum' 损
            失除以这个总数后反向传播;不要把每个 micro-batch 的 mean 除以 k,也不要除以可能为零的计
            数。
        """),
        related=(
            "mean.denominator.ignore-index",
            "accumulation.micro-batches",
            "distributed.ddp-mean",
        ),
        sources=(
            (
                "PyTorch docs, torch.nn.CrossEntropyLoss: class-index targets, 'mean' = sum_n l_n / sum_n w_{y_n} "
                "1{y_n != ignore_index}; K-dimensional inputs (N, C, d1, ..., dK)"
            ),
            AUTOGRAD_DOCS,
            (
                "Goyal et al. 2017, Accurate, Large Minibatch SGD, arXiv:1706.02677, sec. 3 Remark 3: normalize the "
                "per-worker loss by the total minibatch size kn, not the per-worker size n"
            ),
            (
                "Hugging Face blog, 'Fixing Gradient Accumulation' (2024-10-16), "
                "https://huggingface.co/blog/gradient_accumulation: the Trainer averaged the loss per micro-batch; "
                "the fix sums the loss and divides by the number of non-padding tokens in the accumulation window"
            ),
        ),
    ),
    Claim(
        id="coupling.batchnorm",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes, in train mode: each output depends on the other samples, per-sample gradients and micro-batch
            accumulation stop adding up, and even no_grad forwards move the running statistics; eval mode makes samples
            independent again.
        """),
        short_answer_zh=text("""
            训练模式下会:每个输出依赖其他样本,逐样本梯度和 micro-batch 累积不再对得上,连 no_grad 下的前向也会改动滑动统
            计量;评估模式让样本重新独立。
        """),
        questions=(
            "Does BatchNorm make the samples of a batch depend on each other?",
            "Do I need `model.eval()` for validation with BatchNorm?",
        ),
        questions_zh=(
            "BatchNorm 会让 batch 中的样本相互依赖吗?",
            "有 BatchNorm 时,验证前需要调用 `model.eval()` 吗?",
        ),
        quotes=(),
        statement=bullets("""
            - BatchNorm in train mode normalises with the batch's mean and (biased) variance, so each sample's output
              and loss depend on the other samples: its output changes when another sample changes.
            - It cannot be run on one sample alone where a sample has one value per channel (BatchNorm1d on (N, C)
              inputs raises), while BatchNorm2d on one (1, C, H, W) sample normalises over its H x W positions.
            - Per-sample gradients taken with the statistics held fixed do not sum to the batch gradient (the difference
              is the path through mu_B and sigma_B^2), and gradient accumulation over micro-batches differs from the
              full-batch gradient.
            - Every train-mode forward, under no_grad too, updates the running statistics: r <- (1 - momentum) r +
              momentum s, s the batch mean for running_mean and the unbiased batch variance for running_var;
              momentum=None makes r the plain average of all batch statistics so far, and num_batches_tracked counts the
              forwards; so accumulating over k micro-batches in train mode moves the running statistics k times, with
              each micro-batch's statistics, and they end elsewhere than after one forward of the whole batch.
            - In eval mode the layer normalises with these running statistics as constants: the samples are independent
              again and all of the identities above hold, micro-batch accumulation included.
            - Micro-batch accumulation is exact (up to rounding) in either mode with GroupNorm or LayerNorm instead,
              since they normalise each sample over its own features.
        """),
        statement_zh=bullets("""
            - 训练模式下的 BatchNorm 用当前 batch 的均值和(有偏)方差做归一化,因此每个样本的输出和损失都依赖于其他样本:改
              变另一个样本会改变它的输出。
            - 当每个样本在每个通道上只有一个值时,它不能只对单个样本运行(对 (N, C) 输入的 BatchNorm1d 会报错),而
              BatchNorm2d 对单个 (1, C, H, W) 样本会在它的 H x W 个位置上归一化。
            - 把统计量当常数求得的逐样本梯度之和不等于 batch 梯度(差值正是经过 μ_B 和 σ_B² 的那条路径);在 micro-batch 上
              累积的梯度也不同于整个 batch 的梯度。
            - 每次训练模式下的前向传播(在 no_grad 下也一样)都会更新滑动统计量:r <- (1 - momentum) r + momentum s,其中
              running_mean 的 s 是 batch 均值,running_var 的 s 是 batch 的无偏方差;momentum=None 时 r 是迄今所有 batch
              统计量的简单平均,num_batches_tracked 记录前向次数;因此在训练模式下对 k 个 micro-batch 累积梯度,会用各个
              micro-batch 的统计量把滑动统计量更新 k 次,结果与对整个 batch 做一次前向不同。
            - 评估模式下该层把这些滑动统计量当作常数来归一化:样本重新相互独立,上述恒等式都成立,micro-batch 梯度累积也包括在
              内。
            - 换成 GroupNorm 或 LayerNorm 时,无论哪种模式,micro-batch 梯度累积都是精确的(只差舍入误差),因为它们只在每个样本
              自己的特征上归一化。
        """),
        in_practice=text("""
            Call model.eval() for validation and inference (train-mode forwards, even under no_grad, keep moving
            running_mean/running_var), keep batches well above 1 sample, and set momentum=None only when you want an
            equal-weight average over all batches seen; when accumulating small micro-batches, freeze BatchNorm in
            eval mode or use GroupNorm/LayerNorm.
        """),
        in_practice_zh=text("""
            验证和推理前调用 model.eval()(训练模式下的前向传播即使在 no_grad 下也会改
            动 running_mean/running_var);batch 不要太小;只有想对见过的所
            有 batch 等权平均时才设置 momentum=None;在很小的 micro-batch 上累积梯度时,把 BatchNorm 固定在评估
            模式,或者改用 GroupNorm/LayerNorm。
        """),
        related=(
            "coupling.dependencies",
            "per-sample.vmap",
            "accumulation.micro-batches",
        ),
        sources=(
            (
                "Ioffe & Szegedy 2015, Batch Normalization, sec. 3 (Algorithm 1 and the backpropagation through mu_B, "
                "sigma_B^2; Algorithm 2: inference with population statistics and the unbiased variance m / (m - 1) "
                "Var_B)"
            ),
            (
                "PyTorch docs, torch.nn.BatchNorm1d: train mode normalises with the biased batch variance; running "
                "estimates updated as x_new = (1 - momentum) x + momentum x_t (default momentum 0.1) with the "
                "unbiased variance; momentum=None gives a cumulative moving average; eval mode uses the running "
                "estimates"
            ),
        ),
    ),
    Claim(
        id="coupling.dependencies",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Backpropagate one sample's output to the input batch: in a model that treats samples independently only that
            sample's input gets a non-zero gradient, and any mixing shows up as non-zero blocks naming the mixed pairs.
        """),
        short_answer_zh=text("""
            把某一个样本的输出反向传播到输入 batch:逐样本独立的模型中只有该样本的输入得到非零梯度;任何混合都会表现为非零
            的非对角块,并指出混在一起的样本对。
        """),
        questions=("How do I check that my model does not mix samples across the batch?",),
        questions_zh=("怎样检查模型没有在 batch 维上把样本混在一起?",),
        quotes=(),
        statement=bullets("""
            - For a model that treats samples independently, the gradient of sample i's output with respect to sample
              j's input (the Jacobian block d out_i / d x_j) is exactly zero for every i != j, while the diagonal blocks
              are not.
            - A model that mixes samples has non-zero off-diagonal blocks even when every shape is right and training
              runs, for example when a time-major (T, N, H) tensor is reshaped as if it were (N, T*H), or when a softmax
              is taken over the batch dimension instead of the class dimension.
            - Computing these blocks with autograd names exactly the sample pairs that are mixed.
        """),
        statement_zh=bullets("""
            - 对逐样本独立处理的模型,样本 i 的输出对样本 j 的输入的梯度(雅可比块 ∂out_i/∂x_j)在 i ≠ j 时恰好为零,而对角
              块不为零。
            - 混合了样本的模型,即使所有形状都正确、训练也能运行,其非对角块也不为零,例如把时间维在前的 (T, N, H) 张量当作
              (N, T*H) 来 reshape,或者在 batch 维而不是类别维上做 softmax。
            - 用 autograd 计算这些块,就能准确指出哪些样本对被混在了一起。
        """),
        in_practice=text("""
            For every new model, backpropagate one sample's output (e.g. out[i].sum()) to the input batch and check
            that only x[i] receives a non-zero gradient.
        """),
        in_practice_zh=text("""
            每个新模型都做一次检查:把某一个样本的输出(例如 out[i].sum())反向传播到输入 batch,确认
            只有 x[i] 得到非零梯度。
        """),
        related=(
            "coupling.batchnorm",
            "per-sample.vmap",
            "gradient.chain-rule",
        ),
        sources=(
            KARPATHY,
            "PyTorch docs, torch.autograd.grad",
        ),
    ),
    Claim(
        id="per-sample.vmap",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            vmap(grad(...)) gives the loop's per-sample gradients for models that do not couple samples; train-mode
            BatchNorm fails (use eval mode or replace it), and dropout needs randomness='different' or 'same'.
        """),
        short_answer_zh=text("""
            对不耦合样本的模型,vmap(grad(...)) 给出与循环相同的逐样本梯度;训练模式的 BatchNorm 会失败(用评估模式或替换
            掉),dropout 需要 randomness='different' 或 'same'。
        """),
        questions=(
            "How do I compute per-sample gradients with `torch.func.vmap`?",
            "Does `torch.func.vmap` work with BatchNorm or dropout?",
        ),
        questions_zh=(
            "怎样用 `torch.func.vmap` 计算逐样本梯度?",
            "`torch.func.vmap` 能用于 BatchNorm 或 dropout 吗?",
        ),
        quotes=(),
        statement=bullets("""
            - For a model that does not couple samples, torch.func.vmap over torch.func.grad of one sample's loss
              returns the same per-sample gradients as a loop of N backward passes, and they sum to the gradient of the
              sum-reduced batch loss.
            - BatchNorm in train mode fails under grad/vmap (the in-place update of its running statistics is rejected,
              and without running statistics a sample with one value per channel, BatchNorm1d on (N, C), has no
              variance); in eval mode it works.
            - After torch.func.replace_all_batch_norm_modules_ (which stops tracking running statistics) it runs in
              train mode where a sample has several values per channel (BatchNorm2d: each sample normalised by its own
              statistics over H x W, as a loop of single-sample forwards does), while BatchNorm1d on (N, C) inputs still
              raises.
            - Random operations such as dropout raise under vmap's default randomness='error' unless
              randomness='different' (an independent mask per sample) or 'same' (one mask shared by all samples) is
              chosen.
            - Two independent implementations agree with both to float64 rounding: PyTorch's ExpandedWeights and Opacus'
              GradSampleModule, on an MLP, the per-sample-gradients tutorial's SimpleCNN and a model of Embedding,
              LayerNorm and GroupNorm layers.
        """),
        statement_zh=bullets("""
            - 对不耦合样本的模型,用 torch.func.vmap 包裹对单样本损失求导的 torch.func.grad,得到的逐样本梯度与循环 N 次反
              向传播的结果相同,其总和等于 sum 归约的 batch 损失的梯度。
            - 训练模式下的 BatchNorm 在 grad/vmap 下会失败(其滑动统计量的原地更新会被拒绝;不跟踪滑动统计量时,每个通道只
              有一个值的样本,即对 (N, C) 输入的 BatchNorm1d,没有方差);评估模式下则可以正常工作。
            - 调用 torch.func.replace_all_batch_norm_modules_(它停止跟踪滑动统计量)之后,当每个样本在每个通道上有多个值
              时,训练模式下也能运行(BatchNorm2d:每个样本在 H x W 上用自己的统计量归一化,与逐个样本前向传播的循环结果相
              同),而对 (N, C) 输入的 BatchNorm1d 仍会报错。
            - dropout 等随机操作在 vmap 默认的 randomness='error' 下会报错,除非选择 randomness='different'(每个样本独立
              的掩码)或 'same'(所有样本共用一个掩码)。
            - 两个独立的实现与二者在 float64 舍入误差内一致:PyTorch 的 ExpandedWeights 和 Opacus 的 GradSampleModule,在
              MLP、逐样本梯度教程中的 SimpleCNN 以及由 Embedding、LayerNorm 和 GroupNorm 组成的模型上都是如此。
        """),
        in_practice=text("""
            Compute per-sample gradients with torch.func.vmap(torch.func.grad(...)); put BatchNorm in eval mode (or
            replace it, e.g. with GroupNorm) and pass randomness='different' when the model uses dropout.
        """),
        in_practice_zh=text("""
            用 torch.func.vmap(torch.func.grad(...)) 计算逐样本梯度;把 BatchNorm 置于评估模式(或换成 GroupNorm 等),模型含 dropout 时传入
            randomness='different'。
        """),
        related=(
            "coupling.batchnorm",
            "backward.once-per-batch",
            "per-sample.costs-more",
            "coupling.dependencies",
        ),
        sources=(
            FUNC_DOCS,
            (
                "PyTorch source, torch/nn/utils/_per_sample_grad.py: call_for_per_sample_grads(module, "
                "batch_size=None, loss_reduction='sum') (ExpandedWeights)"
            ),
            (
                "Yousefpour et al. 2021, Opacus: User-Friendly Differential Privacy Library in PyTorch, "
                "arXiv:2109.12298 (GradSampleModule: per-sample gradients from per-layer hooks)"
            ),
        ),
    ),
    Claim(
        id="distributed.ddp-mean",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            It averages (all-reduce, then divide by the world size W), which equals the global batch's mean gradient
            only with equal local batch sizes; otherwise scale rank r's mean loss by W n_r / n.
        """),
        short_answer_zh=text("""
            求平均(all-reduce 后除以进程数 W),只有各进程本地 batch 大小相同时才等于全局 batch 的 mean 梯度;否则把进程 r
            的 mean 损失乘以 W·n_r / n。
        """),
        questions=(
            "Does DDP average or sum gradients across processes?",
            "Is DDP's gradient the one-big-batch gradient when local batch sizes differ?",
        ),
        questions_zh=(
            "DDP 在进程之间对梯度求平均还是求和?",
            "各进程本地 batch 大小不同时,DDP 的梯度还等于一个大 batch 的梯度吗?",
        ),
        quotes=(),
        statement=bullets("""
            - DistributedDataParallel all-reduces the gradients and divides them by the world size W: with a mean loss
              and equal local batch sizes every rank then holds the single-process gradient of the global batch's mean
              loss.
            - Inside no_sync() the gradients stay local, and the next backward outside it synchronises what was
              accumulated, so micro-batch accumulation works across ranks.
            - With unequal local batch sizes n_r the average of the local mean gradients, (1/W) sum_r g_r, is not the
              global mean gradient sum_r (n_r / n) g_r; scaling rank r's mean loss by W n_r / n restores it.
        """),
        statement_zh=bullets("""
            - DistributedDataParallel 对梯度做 all-reduce 并除以进程数 W:使用 mean 损失且各进程本地 batch 大小相同时,每
              个进程得到的梯度就等于单进程上整个全局 batch 的 mean 损失梯度。
            - 在 no_sync() 内梯度保持在本地,其外的下一次反向传播会同步此前累积的梯度,因此 micro-batch 梯度累积在多进程下
              同样可行。
            - 若各进程本地 batch 大小 n_r 不同,本地 mean 梯度的平均 (1/W) Σ_r g_r 并不等于全局 mean 梯度 Σ_r (n_r / n)
              g_r;把进程 r 的 mean 损失乘以 W·n_r / n 才能还原。
        """),
        in_practice=text("""
            Under DDP with uneven local batches (a short last batch, variable token counts), multiply each rank's mean
            loss by W n_r / n, with the global count n from an all_reduce.
        """),
        in_practice_zh=text("""
            在 DDP 下各进程本地 batch 大小不等时(最后一个较小的 batch、变化的 token 数),把每
            个进程的 mean 损失乘以 W·n_r / n,其中全局数量 n 通过 all_reduce 得到。
        """),
        related=(
            "accumulation.micro-batches",
            "reduction.mean-is-sum-over-n",
            "mean.denominator.ignore-index",
        ),
        sources=(
            DDP_DOCS,
            LI_DDP,
            GOYAL,
        ),
    ),
    Claim(
        id="distributed.uneven",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            While the finished rank's process stays alive, the ranks with batches left wait in the all-reduce until the
            group's timeout, then raise; DistributedSampler keeps batch counts equal, and model.join() lets every rank
            finish.
        """),
        short_answer_zh=text("""
            先用完数据的进程仍存活时,还有 batch 的进程会在 all-reduce 中一直等到进程组超时后报错;DistributedSampler 让各
            进程 batch 数相同,model.join() 让所有进程都能完成。
        """),
        questions=(
            "Why does DDP hang when one rank runs out of data?",
            "What happens when DDP ranks have different numbers of batches?",
            "Does DistributedSampler repeat or drop samples?",
        ),
        questions_zh=(
            "为什么某个进程的数据用完后 DDP 会卡住?",
            "DDP 各进程的 batch 数不同时会怎样?",
            "DistributedSampler 会重复或丢弃样本吗?",
        ),
        quotes=(),
        statement=bullets("""
            - DistributedDataParallel all-reduces the gradients in every backward pass: when the ranks have different
              numbers of batches, the rank that runs out finishes without error, and while its process stays alive (the
              tested case) the ranks that still have a batch wait in that batch's all-reduce until the process group's
              timeout, then raise; the default timeout is 30 minutes for gloo
              (torch.distributed.constants.default_pg_timeout).
            - Training inside model.join() (torch.distributed.algorithms.Join) lets every rank complete: at each step
              the ranks still training get the sum of their gradients divided by the initial world size W, so each batch
              keeps the weight 1/W it has when all ranks train.
            - With divide_by_initial_world_size=False that sum is divided by the number of ranks still training instead.
            - On leaving the join context every rank holds the parameters of the last rank to finish.
            - With throw_on_early_termination=True every rank raises instead, at the first step after one rank has run
              out.
            - Without drop_last, DistributedSampler gives every rank ceil(N/W) of N indices, the epoch's order being
              repeated from its start to fill W ceil(N/W) places, so W ceil(N/W) - N samples count twice in the epoch,
              in a distributed evaluation's mean too.
            - With drop_last=True every rank gets floor(N/W) distinct indices, and N - W floor(N/W) samples (without
              shuffling, the last ones of the order) are left out that epoch.
            - Sharding a dataset by hand into contiguous parts can give the ranks unequal numbers of batches, where
              DistributedSampler gives them equal numbers.
        """),
        statement_zh=bullets("""
            - DistributedDataParallel 在每次反向传播中都对梯度做 all-reduce:当各进程的 batch 数不同时,先用完数据的进程正
              常结束;只要它的进程仍然存活(测试的情形),还有 batch 的进程就会在这个 batch 的 all-reduce 中一直等到进程组
              超时,然后报错;gloo 的默认超时是 30 分钟(torch.distributed.constants.default_pg_timeout)。
            - 在 model.join()(torch.distributed.algorithms.Join)中训练,所有进程都能完成:每一步仍在训练的进程得到它们梯度
              之和除以初始进程数 W,因此每个 batch 的权重仍是所有进程都在训练时的 1/W。
            - 设置 divide_by_initial_world_size=False 时,这个和改为除以仍在训练的进程数。
            - 离开 join 上下文时,每个进程都得到最后结束的进程的参数。
            - 设置 throw_on_early_termination=True 时,在某个进程用完数据后的第一步,所有进程都会报错。
            - 不设 drop_last 时,DistributedSampler 从 N 个索引中给每个进程分 ceil(N/W) 个,本 epoch 的顺序从头重复以填满
              W ceil(N/W) 个位置,因此有 W ceil(N/W) - N 个样本在一个 epoch 中被计了两次,分布式评估的平均值中也是如此。
            - 设置 drop_last=True 时,每个进程分到 floor(N/W) 个互不相同的索引,有 N - W floor(N/W) 个样本(不打乱时是顺序
              中最后的那些)在该 epoch 被跳过。
            - 手工把数据集切成连续的几段,可能让各进程的 batch 数不相等,而 DistributedSampler 给出的 batch 数相同。
        """),
        in_practice=text("""
            Give every rank the same number of batches (DistributedSampler does), or wrap the training loop in
            model.join(); in distributed evaluation, remove the padded duplicates or use drop_last=True.
        """),
        in_practice_zh=text("""
            让每个进程的 batch 数相同(DistributedSampler 就是这样做的),或者把训练循环放进 model.join() 中;做
            分布式评估时,去掉补齐的重复样本,或者使用 drop_last=True。
        """),
        related=(
            "distributed.ddp-mean",
            "accumulation.micro-batches",
        ),
        sources=(
            (
                "PyTorch docs, DistributedDataParallel.join: shadows the forward and backward passes of non-joined "
                "processes; broadcasts the model of the last joined process; divide_by_initial_world_size; "
                "throw_on_early_termination"
            ),
            (
                "PyTorch docs, torch.distributed.algorithms.Join (generic join context manager) and "
                "torch.distributed.init_process_group: timeout 'Default value is 10 minutes for NCCL and 30 minutes "
                "for other backends'"
            ),
            (
                "PyTorch docs, torch.utils.data.DistributedSampler: drop_last 'If False, the sampler will add extra "
                "indices to make the data evenly divisible across the replicas'"
            ),
            LI_DDP,
        ),
    ),
    Claim(
        id="amp.grad-scaler",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            With float16 autocast: without it, activation gradients below about 3e-8 round to 0, and so do weight
            gradients built from them. Call unscale_ before clipping; no scaler fixes a forward inf (the scale shrinks
            every step). bfloat16 needs none.
        """),
        short_answer_zh=text("""
            float16 autocast 需要它:否则小于约 3e-8 的激活梯度舍入为 0,由其算出的权重梯度也为 0。裁剪前先 unscale_;前向
            中的 inf 让缩放因子每步变小,scaler 修不好。bfloat16 不需要。
        """),
        questions=(
            "When do I need `GradScaler`?",
            "Should I call `unscale_` before clipping gradients with GradScaler?",
            "Why does my GradScaler's scale keep shrinking?",
            "Why does my loss become inf or NaN after turning on mixed precision (fp16)?",
        ),
        questions_zh=(
            "什么时候需要 `GradScaler`?",
            "使用 GradScaler 时,裁剪梯度前要先调用 `unscale_` 吗?",
            "为什么 GradScaler 的缩放因子一直在变小?",
            "为什么开了混合精度(fp16)后 loss 变成 inf 或 NaN?",
        ),
        quotes=(),
        statement=bullets("""
            - torch.amp.GradScaler.scale(loss) multiplies the loss by the current scale, so backward produces scale x
              the true gradients.
            - unscale_(optimizer) divides them back, so unscale_ followed by clip_grad_norm_ gives the same clipped
              gradients and the same step as an unscaled run, while clipping the still-scaled gradients clips a norm
              scale times too large.
            - Under torch.autocast with float16 the gradient reaching a float16 layer's output is rounded to float16 in
              the backward: each element below half the smallest float16 (2^-25, about 3e-8) becomes 0, and so does
              every parameter gradient computed from such elements, even where its true value is larger; with all of
              them below, .grad is exactly 0 and a first Adam step on it moves nothing (a zero gradient still lets
              weight decay or earlier optimizer state move a parameter: step.updates-parameters).
            - Scaling the loss (default scale 2^16) lifts them into float16's range and unscale_ recovers them to
              float16 precision.
            - Scaled gradients of 65520 or more (past the largest finite float16, 65504, after rounding) overflow to
              inf: scaler.step then skips optimizer.step (parameters unchanged) and update() multiplies the scale by
              backoff_factor (default 0.5), step after step until the scaled gradients fit; after growth_interval clean
              steps it multiplies the scale by growth_factor.
            - The scaler cannot cure an overflow in the forward pass: the loss is inf at every scale, every step is
              skipped and the scale keeps shrinking.
            - bfloat16 has float32's exponent range, so at these magnitudes it neither underflows nor overflows and
              needs no scaler, at coarser precision (8 significant bits against float16's 11).
        """),
        statement_zh=bullets("""
            - torch.amp.GradScaler.scale(loss) 把损失乘以当前的缩放因子 scale,因此反向传播得到的是真实梯度的 scale 倍。
            - unscale_(optimizer) 再把它们除回来,所以先 unscale_ 再 clip_grad_norm_ 得到的裁剪后梯度和更新步与不缩放时完
              全相同,而直接裁剪仍被缩放的梯度则是按一个大了 scale 倍的范数裁剪。
            - 在 torch.autocast 的 float16 下,传到 float16 层输出处的梯度在反向传播中被舍入为 float16:小于 float16 最小正
              数一半(2^-25,约 3e-8)的元素变为 0,由这些元素算出的参数梯度也都为 0,即使其真实值更大;当它们全都低于这个
              值时,.grad 恰好为零,Adam 在它上面的第一步什么也不改变(零梯度下,权重衰减或此前的优化器状态仍会改变参
              数:step.updates-parameters)。
            - 把损失乘以缩放因子(默认 2^16)可以把这些梯度抬进 float16 能表示的范围,unscale_ 之后以 float16 的精度还原出
              来。
            - 缩放后不小于 65520(舍入后超出 float16 的最大有限值 65504)的梯度会溢出为 inf:这时 scaler.step 跳过
              optimizer.step(参数不变),update() 把缩放因子乘以 backoff_factor(默认 0.5),一步接一步,直到缩放后的梯度
              放得下为止;连续 growth_interval 次正常的步之后,再乘以 growth_factor。
            - 前向传播中的溢出是 scaler 补救不了的:无论缩放因子是多少,损失都是 inf,每一步都被跳过,缩放因子越来越小。
            - bfloat16 的指数范围与 float32 相同,在这些量级上既不下溢也不上溢,不需要 scaler,代价是精度更粗(8 位有效
              位,float16 有 11 位)。
        """),
        in_practice=text("""
            With float16 autocast use GradScaler (without it, activation gradients below about 3e-8 and the weight
            gradients computed from them become 0), call unscale_ before clipping, and log the scale: a scale that
            falls at every step can mean an inf in the forward pass (e.g. unnormalised inputs), which no scaler fixes;
            bfloat16 needs no scaler.
        """),
        in_practice_zh=text("""
            使用 float16 autocast 时要配合 GradScaler(没有它,小于约 3e-8 的激活梯度以及由它们算出的权重梯度都会变为
            0),裁剪前先调用 unscale_,并记录缩放因子:如果缩放因子每一步都在变小,可能是前向传播中出现了 inf(例如输入未归
            一化),这是 scaler 修不好的;bfloat16 不需要 scaler。
        """),
        related=(
            "explosion.definition",
            "remedy.clip-norm",
            "mean.denominator.elementwise",
        ),
        sources=(
            (
                "PyTorch docs, torch.amp.GradScaler (scale, unscale_, step, update; init_scale 2**16, backoff_factor "
                "0.5, growth_factor 2.0, growth_interval 2000) and Automatic Mixed Precision examples, 'Gradient "
                "clipping': call unscale_ before clip_grad_norm_"
            ),
            (
                "PyTorch docs, Automatic Mixed Precision package - torch.amp: autocast op reference (CUDA and CPU ops "
                "that autocast to lower precision, e.g. linear, and to float32, e.g. mse_loss)"
            ),
            (
                "Micikevicius et al. 2018, Mixed Precision Training (ICLR), arXiv:1710.03740, sec. 3.2 Loss scaling "
                "(activation gradients below 2^-24 become zero in FP16; scaling shifts them into range; skip the "
                "update on overflow)"
            ),
            (
                "IEEE Std 754-2008, binary16 format: 5 exponent bits, 10 fraction bits; largest finite 65504, "
                "smallest normal 2^-14, smallest subnormal 2^-24"
            ),
            (
                "Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training, arXiv:1905.12322, sec. 2 "
                "(bfloat16 keeps FP32's 8-bit exponent, so it needs no loss scaling)"
            ),
        ),
    ),
    Claim(
        id="backward.non-scalar",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Not directly: backward() needs a one-element loss. Reduce first (.mean() or .sum()) or pass gradient=w of
            the loss's shape to get the gradient of sum_i w_i l_i.
        """),
        short_answer_zh=text("""
            不能直接调用:backward() 只接受单元素损失。先归约(.mean() 或 .sum()),或传入与损失同形的 gradient=w,得到 Σ_i
            w_i l_i 的梯度。
        """),
        questions=(
            "Can I call `.backward()` on a `reduction='none'` loss?",
            "Why does `backward()` raise 'grad can be implicitly created only for scalar outputs'?",
            "How do I weight each sample's loss before calling `backward()`?",
        ),
        questions_zh=(
            "可以对 `reduction='none'` 的损失调用 `.backward()` 吗?",
            "为什么 `backward()` 报错 'grad can be implicitly created only for scalar outputs'?",
            "调用 `backward()` 之前怎样给每个样本的损失加权?",
        ),
        quotes=(),
        statement=bullets("""
            - Tensor.backward() without a gradient argument accepts only a loss with exactly one element: on a loss with
              more, such as the per-sample losses of reduction='none', it raises RuntimeError "grad can be implicitly
              created only for scalar outputs" and fills no .grad.
            - The rule counts elements, not dimensions: a one-element loss of shape (1,) or (1, 1) is accepted.
            - Reducing the losses first works: .mean().backward() gives the mean of the per-sample gradients, which is
              the gradient of reduction='mean', and .sum().backward() their sum.
            - backward(gradient=w), with w a tensor of the loss's shape, gives the gradient of the weighted sum sum_i
              w_i l_i, the same as (w * losses).sum().backward(); w = 1 gives the sum's gradient and w = 1/N the mean's.
            - A gradient of another shape raises RuntimeError "Mismatch in shape".
        """),
        statement_zh=bullets("""
            - 不带 gradient 参数的 Tensor.backward() 只接受恰好一个元素的损失:对元素更多的损失(例如 reduction='none' 给
              出的逐样本损失),它会抛出 RuntimeError "grad can be implicitly created only for scalar outputs",并且不写入
              任何 .grad。
            - 规则看的是元素个数而不是维数:形状为 (1,) 或 (1, 1) 的单元素损失都可以。
            - 先归约损失就可以:.mean().backward() 得到逐样本梯度的平均,也就是 reduction='mean' 的梯度;.sum().backward()
              得到它们的和。
            - backward(gradient=w)(w 是与损失形状相同的张量)得到加权和 Σ_i w_i l_i 的梯度,与 (w *
              losses).sum().backward() 相同;w = 1 给出 sum 的梯度,w = 1/N 给出 mean 的梯度。
            - 形状不同的 gradient 会抛出 RuntimeError "Mismatch in shape"。
        """),
        in_practice=text("""
            Call backward on a reduced loss (.mean() or .sum()); to weight samples, backpropagate (w * losses).sum()
            or pass gradient=w, both give the gradient of sum_i w_i l_i.
        """),
        in_practice_zh=text("""
            对归约后的损失(.mean() 或 .sum())调用 backward;要给样本加权,就反向传
            播 (w * losses).sum() 或传入 gradient=w,二者都给出 Σ_i w_i l_i 的梯度。
        """),
        related=(
            "reduction.none-is-per-sample",
            "reduction.mean-is-sum-over-n",
            "per-sample.backward-accumulates",
        ),
        sources=(
            (
                "PyTorch docs, torch.Tensor.backward: 'If the tensor is non-scalar (i.e. its data has more than one "
                "element) and requires gradient, the function additionally requires specifying a gradient. It should "
                "be a tensor of matching type and shape'"
            ),
            (
                "PyTorch source, torch/autograd/__init__.py, _make_grads: 'grad can be implicitly created only for "
                "scalar outputs' unless out.numel() == 1; 'Mismatch in shape: grad_output[i] has a shape of ...'"
            ),
        ),
    ),
    Claim(
        id="backward.retain-graph",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            A second backward through a graph that saved tensors needs retain_graph=True on every call but the last;
            each pass adds into .grad, so one backward of the summed losses gives the same gradient.
        """),
        short_answer_zh=text("""
            对保存了张量的计算图做第二次 backward,需要除最后一次外每次都设置 retain_graph=True;每次都累加到 .grad,所以
            对损失之和做一次 backward 得到相同的梯度。
        """),
        questions=(
            "Why do I get 'Trying to backward through the graph a second time'?",
            "When do I need `retain_graph=True`?",
            "How do I backpropagate two losses computed from one forward pass?",
        ),
        questions_zh=(
            "为什么会报错 'Trying to backward through the graph a second time'?",
            "什么时候需要 `retain_graph=True`?",
            "同一次前向传播算出的两个损失怎样反向传播?",
        ),
        quotes=(),
        statement=bullets("""
            - A backward pass frees the tensors that its graph saved for it unless retain_graph=True, and
              torch.autograd.grad frees them the same way (and leaves .grad alone).
            - A second backward through that graph, of the same loss again or of another loss that shares part of it (a
              second head's loss on a shared trunk), then raises RuntimeError "Trying to backward through the graph a
              second time (or directly access saved tensors after they have already been freed)"; the failed pass adds
              nothing to .grad.
            - With retain_graph=True on every call but the last, each pass runs and adds into .grad: the same loss
              backpropagated twice leaves twice its gradient, and loss_a then loss_b leave the gradient of loss_a +
              loss_b, which one backward of the sum gives without retaining the graph.
            - The error comes from the freed tensors, not from the number of calls: a graph that saved none (only sums,
              means, additions and views) runs a second time without error and accumulates again, while one product of
              two tensors that need grad makes the second pass raise.
        """),
        statement_zh=bullets("""
            - 一次反向传播会释放计算图为它保存的张量,除非设置 retain_graph=True;torch.autograd.grad 也同样会释放它们(且
              不改动 .grad)。
            - 此后再对这个计算图做反向传播,无论是同一个损失,还是共享其中一部分的另一个损失(共享主干上另一个输出头的损
              失),都会抛出 RuntimeError "Trying to backward through the graph a second time (or directly access saved
              tensors after they have already been freed)";失败的这次反向传播不会往 .grad 里加任何东西。
            - 除最后一次外每次都设置 retain_graph=True,则每次反向传播都会执行并累加到 .grad 中:同一个损失反向传播两次
              后,.grad 是其梯度的两倍;先后对 loss_a 和 loss_b 反向传播后,.grad 是 loss_a + loss_b 的梯度,而对二者之和做
              一次反向传播就能得到同样的结果,无需保留计算图。
            - 报错的原因是张量已被释放,而不是调用次数:没有保存任何张量的计算图(只有求和、平均、相加和 view)第二次反向传
              播时不会报错,并且会再次累加;而两个需要梯度的张量的一次乘积就会让第二次反向传播再次报错。
        """),
        in_practice=text("""
            For several losses on one forward pass, backpropagate their sum once instead of retaining the graph; if
            you do call backward twice, remember that .grad now holds the sum of both passes.
        """),
        in_practice_zh=text("""
            同一次前向传播上有多个损失时,把它们相加后只反向传播一次,而不是保留计算图;如果确实调用了两
            次 backward,要记住 .grad 里是两次的总和。
        """),
        related=(
            "per-sample.backward-accumulates",
            "backward.fills-grad",
            "accumulation.micro-batches",
        ),
        sources=(
            (
                "PyTorch docs, torch.autograd.backward: 'retain_graph (bool, optional): If False, the graph used to "
                "compute the grad will be freed'; torch.Tensor.backward: 'This function accumulates gradients in the "
                "leaves'"
            ),
            "PyTorch docs, Autograd mechanics, 'Saved tensors'",
        ),
    ),
    Claim(
        id="zero-grad.set-to-none",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            By default zero_grad() sets .grad to None and step() skips such parameters; set_to_none=False leaves zeros,
            which weight decay, momentum and Adam's moments still move.
        """),
        short_answer_zh=text("""
            默认 zero_grad() 把 .grad 设为 None,step() 会跳过这些参数;set_to_none=False 留下的是零,权重衰减、动量和 Adam
            的矩估计仍会移动它们。
        """),
        questions=(
            "What does `zero_grad(set_to_none=True)` change?",
            "Is `.grad` None or zero after `zero_grad()`?",
            "Why does Adam keep updating embedding rows that are not in the batch?",
        ),
        questions_zh=(
            "`zero_grad(set_to_none=True)` 改变了什么?",
            "`zero_grad()` 之后 `.grad` 是 None 还是零?",
            "为什么不在 batch 中的嵌入行仍被 Adam 更新?",
        ),
        quotes=(),
        statement=bullets("""
            - zero_grad() of an optimizer or of a module sets every .grad to None by default (set_to_none=True), and a
              parameter that the next loss does not use keeps None after backward.
            - zero_grad(set_to_none=False) fills the gradients with zeros instead, and such a parameter keeps its zeros
              after backward.
            - optimizer.step() skips a parameter whose .grad is None (no weight decay, no momentum or moment update, its
              step count unchanged) but steps one whose .grad is zero.
            - Weight decay moves a parameter with a zero gradient at its first step (SGD's and Adam's weight_decay,
              AdamW's decoupled decay, whose default weight_decay is 0.01); without weight decay a zero gradient moves
              nothing at a parameter's first step.
            - After one real step, SGD with momentum, Adam and AdamW keep moving a parameter at every later step with a
              zero gradient, while a None gradient leaves the parameter and its optimizer state (momentum buffer or
              moment estimates, step count) as they were.
            - Plain SGD without momentum or weight decay treats the two alike.
            - An nn.Embedding row absent from a batch gets a zero row of the table's dense gradient, not None, so once a
              row has been used Adam keeps moving it in later batches that do not contain it; a row never used stays
              where it was.
        """),
        statement_zh=bullets("""
            - 优化器或模块的 zero_grad() 默认把每个 .grad 设为 None(set_to_none=True),下一个损失没有用到的参数在
              backward 之后仍然是 None。
            - zero_grad(set_to_none=False) 则把梯度填成零,这样的参数在 backward 之后仍然是零。
            - optimizer.step() 跳过 .grad 为 None 的参数(没有权重衰减,不更新动量或矩估计,步数不变),却照常更新 .grad 为零
              的参数。
            - 权重衰减在第一步就会移动梯度为零的参数(SGD 和 Adam 的 weight_decay,以及 AdamW 的解耦衰减,其默认
              weight_decay 为 0.01);没有权重衰减时,零梯度在参数的第一步什么也不移动。
            - 有过一次真实的更新之后,带动量的 SGD、Adam 和 AdamW 会在之后每个零梯度的步里继续移动参数,而 None 梯度让参数
              及其优化器状态(动量缓冲或矩估计、步数)保持原样。
            - 没有动量和权重衰减的普通 SGD 对两者一视同仁。
            - nn.Embedding 中不在本 batch 里的行得到的是整张表稠密梯度中的零行,而不是 None,因此某一行被用过之后,Adam 会
              在不含它的后续 batch 中继续移动它;从未用过的行保持不动。
        """),
        in_practice=text("""
            Keep the default zero_grad() (None); to freeze a parameter, set requires_grad=False or leave it out of
            the optimizer rather than relying on zero gradients, which weight decay and momentum still act on.
        """),
        in_practice_zh=text("""
            保持默认的 zero_grad()(设为 None);要冻结某个参数,就设置 requires_grad=False 或不把它交
            给优化器,而不要依赖零梯度,因为权重衰减和动量仍会作用于零梯度的参数。
        """),
        related=(
            "step.updates-parameters",
            "update.sgd-rule",
            "backward.fills-grad",
        ),
        sources=(
            (
                "PyTorch docs, torch.optim.Optimizer.zero_grad: 'set_to_none (bool, optional): Instead of setting to "
                "zero, set the grads to None. Default: True'; 'torch.optim optimizers have a different behavior if "
                "the gradient is 0 or None (in one case it does the step with a gradient of 0 and in the other it "
                "skips the step altogether)'"
            ),
            "PyTorch 2.0 release notes: the default of zero_grad's set_to_none changed to True",
            (
                "PyTorch docs, torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW: the update algorithms (momentum "
                "buffer, moment estimates, L2 and decoupled weight decay; AdamW weight_decay default 0.01)"
            ),
        ),
    ),
    Claim(
        id="loss.at-init",
        part=P,
        # ln C only with small logits: raw inputs start far above it with the same default init
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            About ln C, the loss of a uniform prediction, with PyTorch's default init and last-layer inputs of order 1;
            a large-scale last-layer init, unnormalised inputs or reduction='sum' start it far above.
        """),
        short_answer_zh=text("""
            用 PyTorch 默认初始化、且最后一层的输入为 1 的量级时约为 ln C,即均匀预测的损失;最后一层初始化尺度过大、输入未
            归一化或 reduction='sum' 都会让它远高于此。
        """),
        questions=(
            "What loss should a classifier have at initialisation?",
            "Why is my initial loss far above ln(number of classes)?",
            "Is a first cross-entropy of 2.3 with 10 classes normal?",
        ),
        questions_zh=(
            "分类器在初始化时的损失应该是多少?",
            "为什么我的初始损失远高于 ln(类别数)?",
            "10 个类别时,第一步的交叉熵是 2.3,正常吗?",
        ),
        quotes=(),
        statement=bullets("""
            - nn.Linear's default init draws a layer's weights and bias uniformly from [-1/sqrt(fan_in),
              1/sqrt(fan_in)].
            - With it a freshly initialised C-class classifier's mean cross-entropy starts near ln C, the loss of a
              uniform prediction, when the last layer's inputs are of order 1: over the draw of the last layer, ln C <=
              E loss <= ln C + |g|^2 / (6 fan_in) averaged over the samples, g the last layer's input with a 1 appended;
              on the tested 16-128-C ReLU MLP with standardised inputs it is at most 10% above ln C (C = 10 and C =
              100).
            - A last layer initialised at a large scale (torch.nn.init.normal_ with its default std 1) starts the loss
              far above ln C: above 2 ln C for C = 10 and C = 100.
            - Inputs that were not normalised (raw pixel values 0..255 instead of standardised ones) multiply the same
              network's logit scale more than tenfold and start its loss above 2 ln C, while on the standardised inputs
              it starts near ln C.
            - reduction='sum' reports N times the mean, about N ln C at initialisation.
        """),
        statement_zh=bullets("""
            - nn.Linear 的默认初始化从 [-1/sqrt(fan_in), 1/sqrt(fan_in)] 上均匀抽取一层的权重和偏置。
            - 用这种初始化、刚初始化好的 C 类分类器,当最后一层的输入为 1 的量级时,平均交叉熵从 ln C 附近开始,也就是均匀
              预测的损失:对最后一层的随机抽取取期望,ln C <= E loss <= ln C + |g|^2 / (6 fan_in)(对样本取平均),g 是最后
              一层的输入末尾补上一个 1;在测试的 16-128-C ReLU MLP 上、输入标准化时,它最多比 ln C 高 10%(C = 10 和 C =
              100)。
            - 最后一层初始化尺度过大(用 torch.nn.init.normal_ 的默认标准差 1)会让损失一开始就远高于 ln C:C = 10 和 C =
              100 时都高于 2 ln C。
            - 输入没有归一化(用 0..255 的原始像素值而不是标准化后的值)会把同一网络的 logit 尺度放大十倍以上,损失一开始就
              高于 2 ln C;而在标准化后的输入上,它从 ln C 附近开始。
            - reduction='sum' 报告的是平均值的 N 倍,初始化时约为 N ln C。
        """),
        in_practice=text("""
            Check the loss at step 0 against ln C: far above it, look for a large-scale init of the last layer,
            unnormalised inputs or reduction='sum' before tuning anything else.
        """),
        in_practice_zh=text("""
            在第 0 步把损失和 ln C 比较:如果远高于它,先检查最后一层是否用了过大的初始化尺度、输入是否未归一化、
            是否用了 reduction='sum',再去调其他东西。
        """),
        related=(
            "loss.measures-error",
            "explosion.cause.init",
            "reduction.mean-is-sum-over-n",
            "sum.needs-batch-scaling",
        ),
        sources=(
            (
                "PyTorch docs, torch.nn.Linear: weight and bias initialized from U(-sqrt(k), sqrt(k)), k = "
                "1/in_features; torch/nn/modules/linear.py, reset_parameters (kaiming_uniform_ with a = sqrt(5))"
            ),
            (
                "A. Karpathy, 'A Recipe for Training Neural Networks' (2019), sec. 2, tip 'verify loss @ init': "
                "-log(1/n_classes) on a softmax at initialisation"
            ),
            (
                "Boucheron, Lugosi & Massart 2013, Concentration Inequalities, Thm 5.6 (Gaussian concentration of "
                "Lipschitz functions)"
            ),
            "PyTorch docs, torch.nn.CrossEntropyLoss: 'sum': the output will be summed",
        ),
    ),
)
