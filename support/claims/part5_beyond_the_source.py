"""Part 5, beyond the source: batch-loss facts practitioners trip over (each claim with its references)."""

from support.claims.model import Claim, Part, Verdict, text

P = Part.BEYOND
ELEMENTWISE_DOCS = (
    "PyTorch docs, torch.nn.MSELoss / L1Loss / SmoothL1Loss / HuberLoss: 'mean' — the sum of the output will be "
    "divided by the number of elements in the output"
)
BCE_DOCS = (
    "PyTorch docs, torch.nn.BCEWithLogitsLoss: l_n = -w_n [p_c y_n log s(x_n) + (1 - y_n) log(1 - s(x_n))], "
    "mean(L)"
)
CE_DOCS = (
    "PyTorch docs, torch.nn.CrossEntropyLoss: class-index targets, 'mean' = sum_n l_n / sum_n w_{y_n} "
    "(ignore_index excluded); probability targets, 'mean' = sum_n l_n / N; K-dimensional inputs (N, C, d1, ..., "
    "dK)"
)
NLL_DOCS = "PyTorch docs, torch.nn.NLLLoss: 'mean' = sum_n l_n / sum_n w_{y_n} * 1{y_n != ignore_index}"
KL_DOCS = (
    "PyTorch docs, torch.nn.KLDivLoss: 'batchmean' divides by the batch size and aligns with the mathematical "
    "definition of KL divergence; 'mean' divides by the number of elements (and warns)"
)
AUTOGRAD_DOCS = "PyTorch docs, torch.Tensor.backward: gradients are accumulated in the leaves' .grad"
KARPATHY = (
    "A. Karpathy, 'A Recipe for Training Neural Networks' (2019), sec. 2, tip 'use backprop to chart dependencies'"
)
BN_PAPER = (
    "Ioffe & Szegedy 2015, Batch Normalization, sec. 3 (Algorithm 1 and the backpropagation through mu_B, "
    "sigma_B^2)"
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
    "Li et al. 2020, PyTorch Distributed: Experiences on Accelerating Data Parallel Training (VLDB), sec. 3.2 and "
    "4"
)
AMP_DOCS = (
    "PyTorch docs, torch.amp.GradScaler (scale, unscale_, step, update; backoff_factor, growth_interval) and "
    "Automatic Mixed Precision examples, 'Gradient clipping': call unscale_ before clip_grad_norm_"
)
MICIKEVICIUS = "Micikevicius et al. 2018, Mixed Precision Training (ICLR), sec. 3.2 Loss scaling"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="mean.denominator.elementwise",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            For elementwise losses (MSE, L1, SmoothL1, Huber, BCEWithLogits) reduction='mean' divides the sum of the
            element terms by the number of elements N x D (batch size times elements per sample), not by the batch
            size N, for the value and the gradient; so the mean-loss gradient shrinks as D grows. BCEWithLogits with
            weight= or pos_weight= still divides by the number of elements: the weights scale the terms but are not in
            the denominator.
        """),
        statement_zh=text("""
            对逐元素损失(MSE、L1、SmoothL1、Huber、BCEWithLogits),reduction='mean' 把
            所有元素项之和除以元素个数 N×D(batch 大小乘以每个样本的元素数),而不是除以 batch 大
            小 N;损失值和梯度都是如此,因此 D 越大,mean 损失的梯度越小。
            带 weight= 或 pos_weight= 的 BCEWithLogits 仍然除以元素个数:权重只缩放
            各项,不进入分母。
        """),
        sources=(
            ELEMENTWISE_DOCS,
            BCE_DOCS,
        ),
    ),
    Claim(
        id="mean.denominator.class-weight",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            CrossEntropyLoss and NLLLoss with class-index targets and weight=w: reduction='mean' is the weighted
            average sum_i w[y_i] l_i / sum_i w[y_i], not sum_i w[y_i] l_i / N, so scaling all weights by a constant
            leaves the mean unchanged. With class-probability targets CrossEntropyLoss divides by N: the weights are
            not in the denominator. For K-dimensional inputs (N, C, d1, ..., dK) every position is a term: the
            denominator is the sum of w[y] over all N x d1 x ... x dK positions.
        """),
        statement_zh=text("""
            CrossEntropyLoss 和 NLLLoss 使用类别索引目标并设
            置 weight=w 时,reduction='mean' 是加权平
            均 Σ_i w[y_i] l_i / Σ_i w[y_i],而不是除以 N;因此把所有权重乘以同一个常数不会
            改变 mean。若目标是类别概率,CrossEntropyLoss 除以 N,权重不进入分母。对 K 维输
            入 (N, C, d1, …, dK),每个位置都是一项:分母是所有 N×d1×…×dK 个位置
            上 w[y] 之和。
        """),
        sources=(
            CE_DOCS,
            NLL_DOCS,
        ),
    ),
    Claim(
        id="mean.denominator.ignore-index",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            Targets equal to ignore_index (default -100) contribute neither a term nor a denominator count to
            CrossEntropy/NLL 'mean' (nor weight), and neither does label smoothing's term for them; their logits get
            zero gradient. When every target is ignored, 'mean' is 0/0 = NaN while 'sum' is 0, and the input gradient
            is zero, not NaN.
        """),
        statement_zh=text("""
            等于 ignore_index(默认 -100)的目标
            在 CrossEntropy/NLL 的 'mean' 中既不贡献损失项,也不计入分母(也不计入权
            重),label smoothing 的平滑项同样不计它们;它们的 logits 梯度为零。当所有目标都被忽
            略时,'mean' 是 0/0 = NaN,'sum' 是 0,而输入的梯度是零,不是 NaN。
        """),
        sources=(
            CE_DOCS,
            NLL_DOCS,
        ),
    ),
    Claim(
        id="mean.denominator.kldiv",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            KLDivLoss(reduction='mean') divides the summed pointwise terms by the number of elements N x C and warns
            (UserWarning) that this is not the KL divergence; reduction='batchmean' divides by the batch size N and
            equals the average over samples of the mathematical KL(p || q) = sum_c p_c log(p_c / q_c). So 'mean' is
            the true KL divided by C.
        """),
        statement_zh=text("""
            KLDivLoss(reduction='mean') 把逐点项之和除以元素个数 N×C,并发出 UserWarning 说明这不是 KL 散度;reduction='batchmean' 除以 batch 大小
            N,等于各样本数学定义 KL(p‖q) = Σ_c p_c log(p_c/q_c) 的平均。因此 'mean' 等于真正的 KL 再除以 C。
        """),
        sources=(
            KL_DOCS,
        ),
    ),
    Claim(
        id="accumulation.micro-batches",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            Splitting a batch of N into k equal micro-batches and calling (loss_j / k).backward() on each mean loss
            accumulates exactly the full batch's mean-loss gradient. With unequal micro-batch sizes s_j, plain /k
            weights sample i by 1/(k s_j) instead of 1/N and gives a different gradient; weighting each micro-batch's
            mean loss by s_j / N (or summing and dividing by N) reproduces the full-batch gradient.
        """),
        statement_zh=text("""
            把大小为 N 的 batch 分成 k 个等大的 micro-batch,对每个 mean 损失调
            用 (loss_j / k).backward(),累积得到的正好是整个 batch 的 mean 损失梯度
            。若各 micro-batch 大小 s_j 不相等,简单地除以 k 会让样本 i 的权重变
            成 1/(k·s_j) 而不是 1/N,梯度因此不同;按 s_j / N 加权
            各 micro-batch 的 mean 损失(或先求和再除以 N)才能还原整个 batch 的梯度。
        """),
        sources=(
            AUTOGRAD_DOCS,
            GOYAL,
        ),
    ),
    Claim(
        id="coupling.batchnorm",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            BatchNorm in train mode normalises with the batch's mean and variance, so each sample's output and loss
            depend on the other samples: its output changes when another sample changes, it cannot be run on one
            sample alone, per-sample gradients taken with the statistics held fixed do not sum to the batch gradient
            (the difference is the path through mu_B and sigma_B^2), and gradient accumulation over micro-batches
            differs from the full-batch gradient. In eval mode (running statistics) the samples are independent again
            and all of these identities hold.
        """),
        statement_zh=text("""
            训练模式下的 BatchNorm 用当前 batch 的均值和方差做归一化,因此每个样本的输出和损失都依赖于
            其他样本:改变另一个样本会改变它的输出;它不能只对单个样本运行;把统计量当常数求得的逐样本梯度之和不等
            于 batch 梯度(差值正是经过 μ_B 和 σ_B² 的那条路径);在 micro-batch 上累积的
            梯度也不同于整个 batch 的梯度。在评估模式(使用滑动统计量)下样本重新相互独立,上述恒等式都成立。
        """),
        sources=(
            BN_PAPER,
            "PyTorch docs, torch.nn.BatchNorm1d (train mode: batch statistics; eval: running estimates)",
        ),
    ),
    Claim(
        id="coupling.dependencies",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            'Backprop to chart dependencies': for a model that treats samples independently, the gradient of sample
            i's output with respect to sample j's input (the Jacobian block d out_i / d x_j) is exactly zero for every
            i != j, while the diagonal blocks are not; a model that mixes the batch (a wrong view/reshape after a
            transpose, a batch-wise normalisation in train mode) has non-zero off-diagonal blocks, and the same check
            (support.dependencies) names the offending pairs.
        """),
        statement_zh=text("""
            “用反向传播画出依赖关系”:对逐样本独立处理的模型,样本 i 的输出对样本 j 的输入的梯度(雅可比
            块 ∂out_i/∂x_j)在 i ≠ j 时恰好为零,而对角块不为零;混合了 batch 的模型(例
            如 transpose 之后错误地 view/reshape、训练模式下按 batch 归一化)其非对角块不
            为零,同一个检查(support.dependencies)会指出出问题的样本对。
        """),
        sources=(
            KARPATHY,
            "PyTorch docs, torch.autograd.grad",
        ),
    ),
    Claim(
        id="per-sample.vmap",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(),
        statement=text("""
            For a model that does not couple samples, torch.func.vmap(grad(loss of one sample)) returns the same
            per-sample gradients as a loop of N backward passes, and their sum equals the gradient of the sum-reduced
            batch loss. It has documented limits: BatchNorm in train mode fails under grad/vmap (the in-place
            running-statistics update; a batch of one without running stats has no variance), and random operations
            such as dropout raise unless vmap's randomness is 'different' (an independent mask per sample, like a
            batched forward) or 'same' (one mask shared by all samples).
        """),
        statement_zh=text("""
            对不耦合样本的模型,torch.func.vmap(grad(单样本损失)) 给出的逐样本梯度与循环 N 次
            反向传播的结果相同,其总和等于 sum 归约的 batch 损失的梯度。它有文档记载的限制:训练模式下
            的 BatchNorm 在 grad/vmap 下会失败(滑动统计量的原地更新;不跟踪统计量时单个样本没有方
            差);dropout 等随机操作会报错,除非把 vmap 的 randomness 设
            为 'different'(每个样本独立的掩码,与批量前向一致)或 'same'(所有样本共用一个掩码)。
        """),
        sources=(
            FUNC_DOCS,
        ),
    ),
    Claim(
        id="distributed.ddp-mean",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(),
        statement=text("""
            DistributedDataParallel all-reduces and averages the gradients over the world size W. With a mean loss and
            equal local batch sizes, every rank then holds the single-process gradient of the global batch's mean
            loss. Inside no_sync() the gradients stay local (and are synchronised, accumulated, by the next backward
            outside it). With unequal local sizes n_r the average (1/W) sum_r g_r of the local mean gradients is not
            the global mean gradient sum_r (n_r / n) g_r; scaling rank r's mean loss by W n_r / n (equivalently, its
            summed loss by W / n) restores it.
        """),
        statement_zh=text("""
            DistributedDataParallel 对梯度做 all-reduce 并除以进程数 W 取平均。使
            用 mean 损失且各进程本地 batch 大小相同时,每个进程得到的梯度就等于单进程上整个全
            局 batch 的 mean 损失梯度。在 no_sync() 内梯度保持本地(随后在其外的第一次反向传播中
            累积并同步)。若各进程本地大小 n_r 不同,本地 mean 梯度的平均 (1/W) Σ_r g_r 并不等
            于全局 mean 梯度 Σ_r (n_r/n) g_r;把每个进程的损失乘以 W·n_r/n 才能还原。
        """),
        sources=(
            DDP_DOCS,
            LI_DDP,
            GOYAL,
        ),
    ),
    Claim(
        id="amp.grad-scaler",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(),
        statement=text("""
            torch.amp.GradScaler.scale(loss) multiplies the loss by the current scale, so backward produces scale x
            the true gradients; unscale_(optimizer) divides them back, so unscale_ followed by clip_grad_norm_ gives
            the same clipped gradients and the same step as an unscaled run, while clipping the still-scaled gradients
            clips a norm scale times too large. If any gradient is inf or NaN, scaler.step skips optimizer.step
            (parameters unchanged) and update() multiplies the scale by backoff_factor; after growth_interval clean
            steps it multiplies it by growth_factor.
        """),
        statement_zh=text("""
            torch.amp.GradScaler.scale(loss) 把损失乘以当前的缩放因子,因此反向传播得到
            的是真实梯度的 scale 倍;unscale_(optimizer) 再把它们除回来,所以
            先 unscale_ 再 clip_grad_norm_ 得到的裁剪后梯度和更新步与不缩放时完全相同,而直接
            裁剪仍被缩放的梯度则是按一个大了 scale 倍的范数裁剪。若有梯度
            为 inf 或 NaN,scaler.step 会跳过 optimizer.step(参数不
            变),update() 把缩放因子乘以 backoff_factor;连
            续 growth_interval 次正常的步之后再乘以 growth_factor。
        """),
        sources=(
            AMP_DOCS,
            MICIKEVICIUS,
        ),
    ),
)
