"""Part 2 of the source: gradient explosion, its causes and remedies."""

from support.claims.schema import Claim, Part, Verdict, bullets, text

P = Part.EXPLOSION
PASCANU = "Pascanu, Mikolov & Bengio 2013, On the difficulty of training recurrent neural networks"
PASCANU_21 = (
    "Pascanu, Mikolov & Bengio 2013, On the difficulty of training recurrent neural networks, sec. 2.1 (eq. 5-7: "
    "lambda_1 < 1/gamma suffices for vanishing, > 1/gamma is necessary for exploding)"
)
PASCANU_23 = (
    "Pascanu, Mikolov & Bengio 2013, On the difficulty of training recurrent neural networks, sec. 2.3, eq. 8 and "
    "Fig. 6 (one hidden unit, x_0 = 0.5, E = (sigmoid(x_50) - 0.7)^2)"
)
PASCANU_ALG1 = (
    "Pascanu, Mikolov & Bengio 2013, On the difficulty of training recurrent neural networks, sec. 3.2, Algorithm "
    "1 (rescale g to threshold * g / ||g|| when ||g|| >= threshold)"
)
GLOROT = "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks, eq. 10-13"
HE = "He, Zhang, Ren & Sun 2015, Delving deep into rectifiers, sec. 2.2 (backward case: 1/2 n Var[w] = 1)"
MEAN_FIELD = (
    "Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Deep information propagation, eq. 5-7 (per-layer factor "
    "chi_1 = sigma_w^2 E[phi'(h)^2]); Poole et al. 2016"
)
GBC = "Goodfellow, Bengio & Courville 2016, Deep Learning"
CLIP_NORM_DOCS = (
    "PyTorch docs, torch.nn.utils.clip_grad_norm_ (norm of all gradients viewed as one vector; grads scaled by "
    "min(max_norm / (total_norm + 1e-6), 1); error_if_nonfinite)"
)
CLIP_VALUE_DOCS = "PyTorch docs, torch.nn.utils.clip_grad_value_ (each element clamped to [-clip_value, clip_value])"
SGD_DOCS = "PyTorch docs, torch.optim.SGD (update p <- p - lr * g without momentum or weight decay)"
RNN_DOCS = "PyTorch docs, torch.nn.RNN, torch.nn.LSTM and torch.nn.GRU (the update equations of each cell)"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="explosion.definition",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Gradients so large that steps overshoot. On a quadratic any lr > 2/lambda_max diverges; a network's
            curvature moves, so slightly above 2/lambda_max at init can converge, far above it the gradient grows every
            step to inf/NaN; float16 overflows first (65520).
        """),
        short_answer_zh=text("""
            梯度大到更新越过了头。二次函数上任何 lr > 2/lambda_max 都发散;网络的曲率会变,略高于初始化时的 2/lambda_max 仍
            可能收敛,远高于它时梯度每步增长直到 inf/NaN;float16 在 65520 处先溢出。
        """),
        questions=(
            "What are exploding gradients?",
            "Why does my loss become NaN after a few steps?",
            "Why does float16 training overflow sooner than float32?",
        ),
        questions_zh=(
            "什么是梯度爆炸?",
            "为什么训练几步之后损失就变成 NaN?",
            "为什么 float16 训练比 float32 更早溢出?",
        ),
        quotes=(
            "梯度爆炸是指在反向传播过程中,梯度的值变得异常大,导致权重更新过于剧烈",
            "具体来说,当网络的某些权重值过大时,计算出的梯度也会相应增大,从而导致后续的权重更新变得不稳定。",
            "最终,这可能导致模型无法收敛,甚至出现数值溢出(NaN值)。",
        ),
        gloss=(
            (
                "Gradient explosion means that during backprop the gradients become abnormally large, making the "
                "weight updates too violent"
            ),
            (
                "Specifically, when some weights of the network are too large, the computed gradients grow "
                "accordingly, making subsequent weight updates unstable."
            ),
            "In the end the model may fail to converge, or even overflow numerically (NaN values).",
        ),
        statement=bullets("""
            - Exploding gradients are gradients so large that a step overshoots: on a quadratic, or far enough above the
              stability limit of the step (for SGD, lr > 2 / largest Hessian eigenvalue), each update lands where the
              gradient is larger.
            - At about three times the limit the gradient norm grows step over step and within a few steps loss and
              parameters overflow to inf/NaN; the same net with a learning rate below the limit stays finite and its
              loss decreases.
            - In a network the curvature changes as it trains, so the limit measured at initialisation is no sharp edge:
              the same net trained at 1.1 times that limit converges, its largest Hessian eigenvalue falling below 2 /
              lr.
            - In float16 the overflow comes sooner: any value of 65520 or more (past the largest finite 65504, after
              rounding) becomes inf, so a run held in float16 overflows at the first step where its float64 twin's loss
              or gradient norm passes 65504, earlier than in float32 or bfloat16 (largest value about 3.4e38).
            - Larger weights do give larger gradients: scaling every weight of a bias-free depth-L linear or ReLU net by
              c > 0 scales each weight gradient of the linear read-out u.f(x) by c^(L-1), up to rounding.
        """),
        statement_zh=bullets("""
            - 梯度爆炸指梯度大到让一步更新越过了头:在二次函数上,或在远高于步长稳定极限(对 SGD 即学习率大于 2 除以损失
              Hessian 的最大特征值)时,每次更新都落到梯度更大的地方。
            - 学习率约为该极限的三倍时,梯度范数逐步增长,几步之内损失和参数就溢出为 inf/NaN;同一个网络用低于该极限的学习
              率则保持有限,损失下降。
            - 网络的曲率随训练而变化,所以初始化时测得的极限并不是一条明确的界线:同一个网络以该极限 1.1 倍的学习率训练仍
              会收敛,其 Hessian 最大特征值降到 2 / lr 以下。
            - 在 float16 中溢出来得更早:任何不小于 65520 的数(舍入后超出最大有限值 65504)都会变成 inf,因此完全在
              float16 中进行的训练,会在其 float64 对照训练的损失或梯度范数超过 65504 的第一步就溢出,早于 float32 或
              bfloat16(最大值约 3.4e38)。
            - 权重越大梯度确实越大:把无偏置的 L 层线性或 ReLU 网络的每个权重乘以 c > 0,线性读出 u·f(x) 对各层权重的梯度
              乘以 c^(L-1)(在舍入误差内)。
        """),
        in_practice=text("""
            Log the loss and the gradient norm every step; a run in float16 turns inf as soon as any value reaches
            65520 (past the largest finite 65504), so watch for growth long before that (lower the learning rate,
            clip, or use bfloat16 or GradScaler).
        """),
        in_practice_zh=text("""
            每一步都记录损失和梯度范数;float16 训练中任何数一旦达到 65520(超出最大有限值 65504)就变成 inf,所以要在
            远未到达之前就留意增长(降低学习率、裁剪梯度,或改用 bfloat16 / GradScaler)。
        """),
        related=(
            "amp.grad-scaler",
            "remedy.clip-stabilises",
            "remedy.lower-lr",
            "remedy.monitor",
        ),
        sources=(
            SGD_DOCS,
            GBC + ", sec. 4.3.1 (gradient descent on a quadratic) and sec. 8.2.4 (cliffs and exploding gradients)",
            (
                "Lewkowycz, Bahri, Dyer, Sohl-Dickstein & Gur-Ari 2020, The large learning rate phase of deep "
                "learning: the catapult mechanism, arXiv:2003.02218 (above 2/lambda at init the curvature can fall "
                "until training converges)"
            ),
            (
                "Cohen, Kaur, Li, Kolter & Talwalkar 2021, Gradient descent on neural networks typically occurs at "
                "the edge of stability, arXiv:2103.00065 (the sharpness moves during training)"
            ),
            (
                "IEEE Std 754-2008, binary16 format: largest finite value (2 - 2^-10) * 2^15 = 65504; PyTorch docs, "
                "torch.finfo (max of float16, bfloat16, float32, float64)"
            ),
            (
                "Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training, arXiv:1905.12322, sec. 2 "
                "(bfloat16 has float32's exponent range)"
            ),
        ),
    ),
    Claim(
        id="explosion.rnn",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Backprop through time multiplies by the same W_hh every step: the gradient vanishes when sigma_max(W_hh) <
            1/gamma (gamma = 1 for tanh); exceeding it is necessary for explosion, not sufficient.
        """),
        short_answer_zh=text("""
            随时间反向传播每一步都乘以同一个 W_hh:sigma_max(W_hh) < 1/gamma(tanh 的 gamma 为 1)时梯度消失;超过它是爆炸的
            必要条件,而非充分条件。
        """),
        questions=(
            "Why do plain RNNs have exploding or vanishing gradients on long sequences?",
            "When does an RNN's gradient explode?",
        ),
        questions_zh=(
            "为什么普通 RNN 在长序列上梯度会爆炸或消失?",
            "RNN 的梯度什么时候会爆炸?",
        ),
        quotes=("这种情况通常发生在深层网络中,尤其是递归神经网络(RNN)中。",),
        gloss=("This usually happens in deep networks, especially in recurrent neural networks (RNNs).",),
        statement=bullets("""
            - Backpropagation through time multiplies the gradient by one Jacobian diag(phi'(a_t)) W_hh per step, always
              with the same W_hh, so after T steps its norm is at most (gamma sigma_max(W_hh))^T, gamma = max |phi'| (1
              for tanh, 1/4 for sigmoid).
            - If sigma_max(W_hh) < 1/gamma the gradient vanishes geometrically.
            - sigma_max > 1/gamma is necessary for explosion but not sufficient: at the zero state of a tanh RNN with
              W_hh = s times an orthogonal matrix the gradient grows exactly as s^T, while inputs that saturate the
              units make it vanish even for s > 1.
            - In the one-unit recurrence x_t = w sigmoid(x_{t-1}) + b the gradient with respect to b stays bounded for
              every sequence length when the map contracts (w = 3); for w = 5 it grows geometrically with the sequence
              length on a narrow wall of the error surface, which a fixed grid of b values misses.
        """),
        statement_zh=bullets("""
            - 随时间反向传播在每一步都把梯度乘以一个雅可比矩阵 diag(phi'(a_t)) W_hh,每一步用的都是同一个 W_hh,因此 T 步
              后梯度范数至多为 (gamma·sigma_max(W_hh))^T,其中 gamma = max|phi'|(tanh 为 1,sigmoid 为 1/4)。
            - 若 sigma_max(W_hh) < 1/gamma,梯度按几何级数消失。
            - sigma_max > 1/gamma 是梯度爆炸的必要条件而非充分条件:tanh RNN 在零状态、W_hh 为 s 乘以正交矩阵时,梯度恰好
              按 s^T 增长,而让单元饱和的输入即使在 s > 1 时也会使梯度消失。
            - 在单单元递归 x_t = w·sigmoid(x_{t-1}) + b 中,映射为压缩映射时(w = 3),对 b 的梯度对任意序列长度都有界;w = 5
              时,它在误差曲面上一堵很窄的“墙”上随序列长度按几何级数增长,而 b 的固定网格会错过这堵墙。
        """),
        in_practice=text("""
            For a plain RNN on long sequences, clip the gradient norm (clip_grad_norm_) and keep the largest singular
            value of W_hh near 1 at initialisation (e.g. torch.nn.init.orthogonal_).
        """),
        in_practice_zh=text("""
            在长序列上使用普通 RNN 时,要裁剪梯度范数(clip_grad_norm_),并在初始化时
            让 W_hh 的最大奇异值接近 1(例如 torch.nn.init.orthogonal_)。
        """),
        related=(
            "explosion.definition",
            "explosion.cause.depth",
            "remedy.lstm-gru",
            "remedy.clip-norm",
        ),
        sources=(
            PASCANU_21,
            PASCANU_23,
            RNN_DOCS,
            GBC + ", sec. 10.7 (the challenge of long-term dependencies)",
        ),
    ),
    Claim(
        id="explosion.cause.init",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes: the gradient changes by about s sqrt(n) per linear layer (s sqrt(n/2) per ReLU layer); above Glorot's
            (linear) or He's (ReLU) std it grows geometrically with depth, at that std it stays about flat.
        """),
        short_answer_zh=text("""
            会:每个线性层梯度约乘以 s·sqrt(n)(ReLU 层为 s·sqrt(n/2));标准差高于 Glorot(线性)或 He(ReLU)值时随深度几何增
            长,等于时大致平稳。
        """),
        questions=(
            "Do too-large initial weights make gradients explode?",
            "Which weight std keeps gradients stable with depth at initialisation?",
        ),
        questions_zh=(
            "初始权重过大会让梯度爆炸吗?",
            "初始化时什么样的权重标准差能让梯度不随深度变化?",
        ),
        quotes=("权重初始化不当:如果初始权重设置得过大,会导致在前向传播和反向传播中产生过大的激活和梯度。",),
        gloss=(
            (
                "Improper weight initialisation: if the initial weights are set too large, the forward and backward "
                "passes produce excessively large activations and gradients."
            ),
        ),
        statement=bullets("""
            - With weights drawn from N(0, s^2) in layers of width n, the input-gradient norm of a deep MLP changes
              geometrically with depth, by a factor of about s sqrt(n) per linear layer and s sqrt(n/2) per ReLU layer.
            - For linear layers around the Glorot std (1/sqrt(n) for square layers) and ReLU layers around the He std
              (sqrt(2/n)) it shrinks with depth below that std, stays about flat at it, and grows geometrically above
              it; the forward activations of linear layers follow the same law.
            - The flat std depends on the activation: a sigmoid stack still loses gradient at the Glorot std
              (remedy.relu).
            - Saturation slows the growth of a tanh network without removing it: at twice the Glorot std its gradient
              grows far more slowly per layer than a linear network's with the same weights, but it still explodes.
        """),
        statement_zh=bullets("""
            - 权重取自 N(0, s^2)、层宽为 n 时,深层 MLP 输入梯度的范数随深度按几何级数变化:线性层每层约乘以
              s·sqrt(n),ReLU 层每层约乘以 s·sqrt(n/2)。
            - 对线性层以 Glorot 标准差(方阵层为 1/sqrt(n))、对 ReLU 层以 He 标准差(sqrt(2/n))为界:低于它时梯度随深度缩
              小,等于它时大致保持平稳,高于它时按几何级数增长;线性层的前向激活也遵循同样的规律。
            - 保持平稳的标准差取决于激活函数:sigmoid 网络在 Glorot 标准差下梯度仍在消失(remedy.relu)。
            - 饱和会减缓 tanh 网络的增长,但不能消除它:在 2 倍 Glorot 标准差下,tanh 网络的梯度每层增长得远比相同权重的线
              性网络慢,但仍然是爆炸。
        """),
        in_practice=text("""
            Initialise with the Glorot or He std for your activation (torch.nn.init.xavier_normal_,
            torch.nn.init.kaiming_normal_ for ReLU) instead of a hand-picked std, and check the gradient norm at
            initialisation.
        """),
        in_practice_zh=text("""
            按激活函数选用 Glorot 或 He 标准差初始化(torch.nn.init.xavier_normal_;ReLU 用 torch.nn.init.kaiming_normal_),不
            要手选标准差,并在初始化后检查一次梯度范数。
        """),
        related=(
            "explosion.cause.depth",
            "explosion.definition",
            "remedy.relu",
        ),
        sources=(
            GLOROT,
            HE,
            MEAN_FIELD,
        ),
    ),
    Claim(
        id="explosion.cause.depth",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Only if the per-layer gain exceeds 1: the log gradient norm is linear in depth with slope log(gain), so
            depth amplifies growth or decay, and at gain 1 it adds none.
        """),
        short_answer_zh=text("""
            只有每层增益大于 1 时才会:梯度的对数范数与深度成线性关系,斜率为 log(增益);深度放大增长或衰减,增益为 1 时不带
            来增长。
        """),
        questions=("Does a deeper network make gradients explode?",),
        questions_zh=("网络越深,梯度就越容易爆炸吗?",),
        quotes=("深层网络结构:在深层网络中,由于链式法则的作用,梯度在传播过程中可能会累积并迅速增大。",),
        gloss=(
            (
                "Deep network structure: in deep networks, because of the chain rule, gradients may accumulate and "
                "grow rapidly as they propagate."
            ),
        ),
        statement=bullets("""
            - By the chain rule the gradient at the input is the product of the layers' Jacobians W_l^T diag(phi'(a_l)),
              so its log-norm is a sum of per-layer log gains and is linear in depth.
            - Depth is the exponent, not the cause: it amplifies the gradient geometrically when the per-layer gain
              exceeds 1 and attenuates it when the gain is below 1.
            - At gain 1 (for linear layers the Glorot std, for ReLU layers the He std) depth alone does not make
              gradients grow.
        """),
        statement_zh=bullets("""
            - 根据链式法则,输入处的梯度是各层雅可比矩阵 W_l^T diag(phi'(a_l)) 的乘积,因此其对数范数是各层对数增益之和,与
              深度成线性关系。
            - 深度是指数而不是原因:每层增益大于 1 时,它按几何级数放大梯度;增益小于 1 时,它使梯度衰减。
            - 增益等于 1(线性层为 Glorot 标准差,ReLU 层为 He 标准差)时,仅靠加深网络并不会让梯度增大。
        """),
        in_practice=text("""
            Before training a deeper network, check that the gradient norm at initialisation does not change
            geometrically with depth, and fix the per-layer gain (Glorot/He initialisation) if it does.
        """),
        in_practice_zh=text("""
            训练更深的网络之前,先检查初始化时的梯度范数是否随深度按几何级数变化;如果是,就调整每层增益(使
            用 Glorot/He 初始化)。
        """),
        related=(
            "gradient.chain-rule",
            "explosion.cause.init",
            "explosion.rnn",
        ),
        sources=(
            GLOROT,
            GBC + ", sec. 6.5 (back-propagation, chain rule) and sec. 8.2.5 (long-term dependencies: W^t)",
        ),
    ),
    Claim(
        id="explosion.cause.saturation",
        part=P,
        verdict=Verdict.REFUTED,
        short_answer=text("""
            No: saturation shrinks gradients (sigmoid' <= 1/4, tanh' <= 1, both -> 0). Huge or NaN gradients near
            saturation come from numerics, e.g. sigmoid + BCELoss in float16; BCEWithLogitsLoss stays finite.
        """),
        short_answer_zh=text("""
            不会:饱和会缩小梯度(sigmoid' <= 1/4,tanh' <= 1,都趋于 0)。饱和处的巨大或 NaN 梯度来自数值计算,如 float16
            下的 sigmoid + BCELoss;BCEWithLogitsLoss 保持有限。
        """),
        questions=(
            "Do saturating sigmoid or tanh units make gradients explode?",
            "Why does sigmoid + BCELoss give inf or NaN gradients in float16?",
        ),
        questions_zh=(
            "sigmoid 或 tanh 饱和会让梯度爆炸吗?",
            "为什么 float16 中 sigmoid + BCELoss 会给出 inf 或 NaN 梯度?",
        ),
        quotes=(
            "激活函数的选择:某些激活函数(如sigmoid或tanh)在特定输入范围内可能会饱和,从而导致梯度在某些层变得极大。",
        ),
        gloss=(
            (
                "Choice of activation: some activations (such as sigmoid or tanh) can saturate in certain input "
                "ranges, making the gradients in some layers extremely large."
            ),
        ),
        statement=bullets("""
            - Saturation shrinks gradients, it cannot make them large: sigmoid'(x) = s(1 - s) <= 1/4 and tanh'(x) = 1 -
              tanh^2 <= 1 everywhere, both -> 0 exponentially as |x| grows, so a saturated sigmoid/tanh stack has
              vanishing input gradients.
            - Large or non-finite gradients near saturation come from numerics, not from the activation: log(sigmoid(x))
              underflows to -inf once sigmoid(x) rounds to 0, and its autograd gradient is NaN.
            - BCELoss on a sigmoid output clamps dL/dp = (p - y) / max(p (1 - p), 1e-12), so the gradient reaching the
              logit is the exact sigmoid(x) - y times min(1, p (1 - p) / 1e-12): too small, not too large, and exactly 0
              once sigmoid(x) rounds to 0 (float32: below about x = -88.7), where the loss sits at its cap of 100.
            - In float16 the clamp is gone: dL/dp overflows to -inf once p < 1/65504, so the logit gradient is -inf for
              x between about -17.3 and -11.1 and NaN below, where sigmoid(x) rounds to 0.
            - BCEWithLogitsLoss and logsigmoid stay finite in every dtype, with gradient sigmoid(x) - y, bounded by 1.
        """),
        statement_zh=bullets("""
            - 饱和只会让梯度变小,不会让梯度变得极大:处处有 sigmoid'(x) = s(1 - s) <= 1/4、tanh'(x) = 1 - tanh^2 <= 1,且
              随 |x| 增大按指数趋于 0,所以饱和的 sigmoid/tanh 深层网络的输入梯度是消失而非爆炸。
            - 饱和处巨大或非有限的梯度来自数值计算,而不是激活函数本身:sigmoid(x) 一旦舍入为 0,log(sigmoid(x)) 就下溢为
              -inf,其自动求导梯度为 NaN。
            - 在 sigmoid 输出上使用 BCELoss 时,它把 dL/dp 截断为 (p - y) / max(p (1 - p), 1e-12),所以传到 logit 的梯度等
              于精确值 sigmoid(x) - y 乘以 min(1, p (1 - p) / 1e-12):是偏小而不是偏大;sigmoid(x) 舍入为 0 后(float32 中
              x 约低于 -88.7)梯度恰好为 0,而损失停在上限 100。
            - 在 float16 中截断不复存在:p < 1/65504 后 dL/dp 溢出为 -inf,所以 x 约在 -17.3 到 -11.1 之间时 logit 梯度为
              -inf,更低时(sigmoid(x) 舍入为 0)为 NaN。
            - BCEWithLogitsLoss 和 logsigmoid 在任何精度下都保持有限,梯度为 sigmoid(x) - y,绝对值不超过 1。
        """),
        in_practice=text("""
            Feed logits to BCEWithLogitsLoss (or use F.logsigmoid) instead of sigmoid followed by BCELoss, above all
            in float16, where sigmoid + BCELoss turns a saturated logit into an inf or NaN gradient.
        """),
        in_practice_zh=text("""
            把logit直接交给BCEWithLogitsLoss(或使用F.logsigmoid),而不要先sigmoid再用BCELoss;在float16中尤其如此,因为sigmoid +
            BCELoss会把饱和的logit变成inf或NaN梯度。
        """),
        related=(
            "remedy.relu",
            "explosion.definition",
            "amp.grad-scaler",
            "gradient.grows-with-loss",
        ),
        sources=(
            GBC + ", sec. 6.3.2 (logistic sigmoid and tanh saturate; their gradients become very small)",
            PASCANU + ", ICML, sec. 2.1 (derivative bounds gamma = 1/4 for sigmoid, 1 for tanh)",
            (
                "PyTorch docs, torch.nn.BCELoss (log outputs clamped to >= -100) and torch.nn.BCEWithLogitsLoss "
                "(log-sum-exp trick, more numerically stable)"
            ),
            (
                "PyTorch source, aten/src/ATen/native/Loss.cpp, binary_cross_entropy_out_cpu (max(log p, -100)) and "
                "binary_cross_entropy_backward_out_cpu (grad * (p - y) / max((1 - p) p, scalar_t(EPSILON)), EPSILON = "
                "1e-12, converted to the input's dtype: 0 in float16)"
            ),
            (
                "PyTorch source, aten/src/ATen/native/cpu/UnaryOpsKernel.cpp, sigmoid_kernel (1 / (1 + exp(-x)); "
                "float16 and bfloat16 computed in float32)"
            ),
            (
                'PyTorch docs, Automatic Mixed Precision package (torch.amp), "Prefer '
                "binary_cross_entropy_with_logits over binary_cross_entropy\" (BCELoss's backward can produce "
                "gradients not representable in float16)"
            ),
            "IEEE Std 754-2008, binary16: largest finite value 65504, smallest subnormal 2^-24",
        ),
    ),
    Claim(
        id="explosion.single-sample",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Partly: one sample's gradient is unbiased but longer on average; averaging B draws divides its covariance by
            B, and the lr guaranteed stable grows with B towards 2/lambda_max. Batching does nothing against gradients
            growing through depth or recurrence.
        """),
        short_answer_zh=text("""
            部分成立:单样本梯度无偏,但平均而言更长;对 B 次有放回抽取求平均,协方差除以 B,保证稳定的学习率随 B 增大,趋
            向 2/lambda_max;对随深度或循环增长的梯度,增大 batch 无济于事。
        """),
        questions=(
            "Does a single-sample gradient give larger updates than a batch gradient?",
            "Does a bigger batch prevent exploding gradients?",
            "Should I scale the learning rate with batch size?",
        ),
        questions_zh=(
            "单个样本的梯度比 batch 梯度带来更大的更新吗?",
            "增大 batch 能防止梯度爆炸吗?",
            "学习率要随 batch 大小缩放吗?",
        ),
        quotes=(
            "为什么对单个样本的Loss进行反向传播容易造成梯度爆炸?",
            "对单个样本进行反向传播时,模型只考虑该样本的损失,从而可能导致较大的梯度更新",
            "相比之下,在一个batch上计算损失并进行反向传播,可以通过平均化多个样本的损失来抑制这种剧烈变化。",
        ),
        gloss=(
            "Why does backpropagating the loss of a single sample easily cause gradient explosion?",
            (
                "When backpropagating one sample, the model considers only that sample's loss, which can lead to "
                "large gradient updates"
            ),
            (
                "By contrast, computing the loss on a batch and backpropagating it can suppress such violent changes "
                "by averaging the losses of many samples."
            ),
        ),
        statement=bullets("""
            - A single-sample gradient is an unbiased but on average longer estimate of the batch gradient: the
              batch-mean gradient is the mean of the per-sample gradients, and E||g_i|| >= ||E g_i|| (Jensen's
              inequality), with equality only when all g_i point the same way.
            - At the minimum of a loss that cannot fit every sample the batch gradient is zero while the single-sample
              gradients are not.
            - Averaging B samples drawn with replacement divides the gradient's covariance by B, so the spread of SGD's
              iterates around the solution shrinks about as 1/B, and at a fixed learning rate batch size 1 can diverge
              where larger batches converge (see per-sample.explosion): on least squares the learning rate guaranteed
              stable, 2B / (beta + (B - 1) lambda_max) with beta the largest per-sample curvature, grows with B towards
              2 / lambda_max.
            - Batch averaging therefore damps violent updates in the sense of step noise and stability at a given
              learning rate; it does nothing about gradients that grow through depth or recurrence in backprop, which
              act on the batch gradient too (see explosion.cause.*).
        """),
        statement_zh=bullets("""
            - 单个样本的梯度是对 batch 梯度的无偏估计,但平均而言更长:batch 平均梯度正是各样本梯度的平均,且 E||g_i|| >=
              ||E g_i||(Jensen 不等式),只有当所有 g_i 方向相同时才取等号。
            - 在一个无法拟合所有样本的损失的最小值处,batch 梯度为零,而单样本梯度并不为零。
            - 有放回地抽取 B 个样本求平均,会把梯度的协方差除以 B,因此 SGD 迭代点在最优解附近的波动大约按 1/B 缩小;而在固
              定学习率下,batch 大小为 1 时可能发散,更大的 batch 却能收敛(见 per-sample.explosion):在最小二乘问题上,保
              证稳定的学习率 2B / (beta + (B - 1) lambda_max)(beta 为单样本曲率的最大值)随 B 增大,趋向 2 /
              lambda_max。
            - 因此,batch 平均确实能“抑制剧烈更新”,但指的是更新步的噪声以及给定学习率下的稳定性;对于反向传播中随深度或循
              环而增长的梯度,它无能为力,因为这些因素同样作用于 batch 梯度(见 explosion.cause.*)。
        """),
        in_practice=text("""
            Treat batch size and learning rate together: a smaller batch gives noisier, on average longer steps and
            needs a smaller lr. On least squares the lr guaranteed stable grows about linearly with the batch size up
            to the critical size beta/lambda_max + 1 and then levels off towards 2/lambda_max (per-sample.explosion),
            so raising the lr with the batch size is backed by that guarantee only below that size. For gradients
            that grow through depth or time, batching is no fix -- use initialisation, normalisation, gated units or
            clipping.
        """),
        in_practice_zh=text("""
            把 batch 大小和学习率一起考虑:batch 越小,更新步噪声越大、平均越长,需要更小的学习率。在最小二乘问题上,保证稳
            定的学习率随 batch 大小近似线性增长,直到临界大小 beta/lambda_max + 1,之后趋于平缓,趋向
            2/lambda_max(per-sample.explosion),所以随 batch 增大而调高学习率,只在这个大小以下有这一保证的支持。对于随深
            度或时间步增长的梯度,增大 batch 不是办法,应当从初始化、归一化、门控单元或梯度裁剪入手。
        """),
        related=(
            "per-sample.explosion",
            "explosion.cause.depth",
            "explosion.cause.init",
            "explosion.rnn",
            "remedy.clip-norm",
        ),
        sources=(
            (
                "Ma, Bassily & Belkin 2018, The power of interpolation, arXiv:1712.06559, Thm 2 (convergence of "
                "minibatch SGD for lr < 2 eta*(m) = 2m/(beta + (m-1) lambda_1))"
            ),
            (
                "McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, An empirical model of large-batch training, "
                "arXiv:1812.06162, sec. 2 (the covariance of a batch-mean gradient is Sigma / B)"
            ),
            "PyTorch tutorial, Per-sample-gradients (torch.func.vmap(grad(...)))",
            "Jensen's inequality / triangle inequality: ||mean_i g_i|| <= mean_i ||g_i||",
        ),
    ),
    Claim(
        id="remedy.clip-norm",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            It returns the total norm before clipping and rescales all gradients by one factor min(1, max_norm / (total
            + 1e-6)), keeping the direction; a NaN or inf total wrecks them unless error_if_nonfinite=True.
        """),
        short_answer_zh=text("""
            返回裁剪前的总范数,并用同一个因子 min(1, max_norm / (total + 1e-6)) 缩放所有梯度,方向不变;总范数为 NaN 或
            inf 时,除非 error_if_nonfinite=True,梯度会被毁掉。
        """),
        questions=(
            "What does `clip_grad_norm_` return, and does it keep the gradient's direction?",
            "What does `clip_grad_norm_` do with NaN or inf gradients?",
        ),
        questions_zh=(
            "`clip_grad_norm_` 返回什么?会保持梯度方向吗?",
            "`clip_grad_norm_` 遇到 NaN 或 inf 梯度会怎样?",
        ),
        quotes=("例如,如果使用L2范数,可以将所有梯度归一化,使其不超过设定的最大值。",),
        gloss=(
            "For example, with the L2 norm, all gradients can be normalised so that they do not exceed a set maximum.",
        ),
        statement=bullets("""
            - torch.nn.utils.clip_grad_norm_(parameters, max_norm) computes the norm of all gradients viewed as one
              vector (parameters whose .grad is None are skipped) and returns that pre-clipping norm.
            - It multiplies every gradient in place by min(1, max_norm / (total + 1e-6)): the direction is unchanged, a
              gradient whose total norm is at most max_norm - 1e-6 is left untouched, and after clipping the total norm
              is max_norm * total / (total + 1e-6), at most max_norm.
            - norm_type=inf uses the largest absolute element instead.
            - A NaN or inf total raises with error_if_nonfinite=True; by default it is used anyway: a NaN total turns
              every gradient into NaN, an inf total zeroes the finite ones.
        """),
        statement_zh=bullets("""
            - torch.nn.utils.clip_grad_norm_(parameters, max_norm) 把所有梯度视为一个向量求范数(.grad 为 None 的参数跳
              过),并返回这个裁剪前的范数。
            - 它把每个梯度原地乘以 min(1, max_norm / (total + 1e-6)):梯度方向不变,总范数不超过 max_norm - 1e-6 的梯度保
              持不变,裁剪后的总范数为 max_norm·total / (total + 1e-6),不超过 max_norm。
            - norm_type=inf 时改用最大的元素绝对值。
            - 总范数为 NaN 或 inf 时,error_if_nonfinite=True 会报错;默认情况下照样使用它:NaN 的总范数会把每个梯度都变成
              NaN,inf 的总范数会把有限的梯度清零。
        """),
        in_practice=text("""
            Call clip_grad_norm_ after backward() and before optimizer.step(), log the norm it returns (the pre-clip
            total) and set max_norm from those gradient norms, and pass error_if_nonfinite=True (or check that norm)
            so that a NaN does not silently wipe out the gradients.
        """),
        in_practice_zh=text("""
            在 backward() 之后、optimizer.step() 之前调
            用 clip_grad_norm_,记录它返回的范数(裁剪前的总范数),并根据这些梯度范数来设定 max_norm;再传
            入 error_if_nonfinite=True(或检查这个范数),以免 NaN 悄无声息地毁掉梯度。
        """),
        related=(
            "remedy.clip-value",
            "remedy.clip-stabilises",
            "remedy.monitor",
            "amp.grad-scaler",
        ),
        sources=(
            CLIP_NORM_DOCS,
            PASCANU_ALG1,
        ),
    ),
    Claim(
        id="remedy.clip-value",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            clip_grad_value_ clamps each element to [-clip_value, clip_value]: it changes the direction and bounds no
            norm (up to clip_value sqrt(P)); clip_grad_norm_ rescales all gradients by one factor.
        """),
        short_answer_zh=text("""
            clip_grad_value_ 把每个元素截断到 [-clip_value, clip_value]:会改变方向,也不限制范数(可达
            clip_value·sqrt(P));clip_grad_norm_ 用同一个因子缩放全部梯度。
        """),
        questions=("What is the difference between `clip_grad_value_` and `clip_grad_norm_`?",),
        questions_zh=("`clip_grad_value_` 和 `clip_grad_norm_` 有什么区别?",),
        quotes=("通过设定一个阈值,当梯度超过该阈值时,将其缩放到该范围内。",),
        gloss=("By setting a threshold, gradients that exceed it are scaled back into that range.",),
        statement=bullets("""
            - torch.nn.utils.clip_grad_value_(parameters, clip_value) clamps every gradient element in place to
              [-clip_value, clip_value], leaves smaller elements alone and returns None.
            - Unlike norm clipping it changes the gradient's direction and bounds no norm: the clipped L2 norm can reach
              clip_value * sqrt(P) for P elements.
            - Scaling the gradient back into range with its direction kept is norm clipping,
              torch.nn.utils.clip_grad_norm_, which rescales all gradients by one common factor.
        """),
        statement_zh=bullets("""
            - torch.nn.utils.clip_grad_value_(parameters, clip_value) 把每个梯度元素原地截断到 [-clip_value,
              clip_value],较小的元素保持不变,返回 None。
            - 与按范数裁剪不同,它会改变梯度的方向,也不限制任何范数:P 个元素裁剪后的 L2 范数可达 clip_value·sqrt(P)。
            - 把梯度缩放回范围内并保持方向不变的是按范数裁剪,即 torch.nn.utils.clip_grad_norm_,它用同一个因子缩放所有梯
              度。
        """),
        in_practice=text("""
            Prefer clip_grad_norm_, which keeps the update's direction; use clip_grad_value_ only when you mean to cap
            individual gradient elements.
        """),
        in_practice_zh=text("""
            优先使用保持更新方向的 clip_grad_norm_;只有确实想限制单个梯度元素时才使
            用 clip_grad_value_。
        """),
        related=(
            "remedy.clip-norm",
            "remedy.clip-stabilises",
        ),
        sources=(
            CLIP_VALUE_DOCS,
            CLIP_NORM_DOCS,
            GBC + ", sec. 10.11.1 (clipping exploding gradients: element-wise vs. norm)",
        ),
    ),
    Claim(
        id="remedy.clip-stabilises",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Partly: with a finite gradient norm it caps plain SGD's step at lr x max_norm, momentum's only at lr x
            max_norm / (1 - mu); Adam's is not capped by max_norm (about lr per coordinate); an inf gradient becomes
            NaN.
        """),
        short_answer_zh=text("""
            部分成立:梯度范数有限时,普通 SGD 步长被限制在 lr x max_norm,动量的只限制在 lr x max_norm / (1 - mu);Adam 的
            步长不受 max_norm 限制(每个坐标约 lr);inf 梯度变成 NaN。
        """),
        questions=(
            "Does gradient clipping prevent exploding gradients?",
            "Does clipping bound the step with momentum or Adam?",
            "Why did my parameters become NaN although I clip gradients?",
        ),
        questions_zh=(
            "梯度裁剪能防止梯度爆炸吗?",
            "用动量或 Adam 时,裁剪能限制步长吗?",
            "为什么裁剪了梯度,参数还是变成了 NaN?",
        ),
        quotes=(
            "梯度裁剪(Gradient Clipping):这是最常用的方法之一。",
            "通过以上方法,可以有效地减轻或避免梯度爆炸问题,从而提高模型训练的稳定性和效率。",
        ),
        gloss=(
            "Gradient clipping: one of the most common methods.",
            (
                "With the methods above, gradient explosion can be effectively mitigated or avoided, improving the "
                "stability and efficiency of training."
            ),
        ),
        statement=bullets("""
            - For plain SGD, norm clipping bounds every update to lr * max_norm (Pascanu et al. 2013, sec. 3.2,
              Algorithm 1) as long as the gradient's total norm is finite.
            - An inf gradient gives an inf total norm, and clip_grad_norm_ turns it into NaN (inf x 0), which the step
              writes into the parameters; a finite gradient whose norm overflows (past 3.4e38 in float32) is zeroed
              instead, so the step does nothing.
            - A deep linear net trained by SGD at about twice its stability limit overflows to inf/NaN within a dozen
              steps; with clip_grad_norm_ the same run stays finite, moves its parameters by at most lr * max_norm per
              step, and brings the loss within 2x the least-squares optimum.
            - A too-large learning rate still does not converge: the clipped iterate ends in a period-2 oscillation of
              step lr * max_norm around the minimum.
            - With momentum mu the clipped gradients add up in the buffer: a step can exceed lr * max_norm and is
              bounded only by lr * max_norm * (1 - mu^t) / (1 - mu) at step t, below lr * max_norm / (1 - mu).
            - Adam normalises the clipped gradient, so each coordinate still moves by about lr (exactly lr g / (|g| +
              eps) at the first step): clipping does not cap Adam's step size.
        """),
        statement_zh=bullets("""
            - 对普通 SGD,只要梯度的总范数有限,按范数裁剪就把每次更新限制在 lr * max_norm 以内(Pascanu 等 2013,第 3.2
              节,算法 1)。
            - 含 inf 的梯度总范数为 inf,clip_grad_norm_ 会把它变成 NaN(inf x 0),更新一步就把 NaN 写进参数;有限但范数溢
              出(float32 中超过 3.4e38)的梯度则被清零,这一步什么也不做。
            - 一个深层线性网络用约为其稳定极限 2 倍的学习率做 SGD,十几步之内就溢出为 inf/NaN;同样的训练加上
              clip_grad_norm_ 后保持有限,每步参数位移不超过 lr * max_norm,损失降到最小二乘最优值的 2 倍以内。
            - 过大的学习率仍然不会收敛:裁剪后的迭代最终以步长 lr * max_norm 在最小值附近做周期为 2 的振荡。
            - 带动量 mu 时,裁剪后的梯度会在动量缓冲区里累加:一步可以超过 lr * max_norm,只受 lr * max_norm * (1 - mu^t) /
              (1 - mu)(第 t 步)的限制,低于 lr * max_norm / (1 - mu)。
            - Adam 会对裁剪后的梯度做归一化,每个坐标仍然移动约 lr(第一步恰为 lr g / (|g| + eps)):裁剪并不限制 Adam 的步
              长。
        """),
        in_practice=text("""
            Clip with clip_grad_norm_ to keep large gradients from wrecking a run, pass error_if_nonfinite=True (an
            inf gradient becomes NaN under clipping), and size the step through the learning rate: with momentum a
            clipped step is bounded only by lr * max_norm / (1 - mu), and with Adam it stays about lr per coordinate
            whatever max_norm.
        """),
        in_practice_zh=text("""
            用 clip_grad_norm_ 裁剪可以防止过大的梯度毁掉训练;要传入 error_if_nonfinite=True(含 inf 的梯度
            经裁剪会变成 NaN);步长要靠学习率来控制:带动量时裁剪后的一步只受 lr * max_norm / (1 - mu) 的
            限制,用 Adam 时无论 max_norm 多大,每个坐标的步长都约为 lr。
        """),
        related=(
            "remedy.clip-norm",
            "explosion.definition",
            "update.scales-with-loss",
            "remedy.lower-lr",
        ),
        sources=(
            PASCANU_ALG1,
            CLIP_NORM_DOCS,
            (
                "PyTorch docs, torch.optim.SGD (momentum buffer b_t = mu b_{t-1} + (1 - dampening) g_t, b_1 = g_1; "
                "step -lr b_t)"
            ),
            (
                "PyTorch docs, torch.optim.Adam; Kingma & Ba 2015, Adam, arXiv:1412.6980, sec. 2.1 (the effective "
                "step |Delta_t| is bounded by about lr, invariant to the scale of the gradient)"
            ),
            "Sutskever, Vinyals & Le 2014, Sequence to sequence learning, sec. 3.4 (LSTM gradients clipped at norm 5)",
        ),
    ),
    Claim(
        id="remedy.lower-lr",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Only divergence caused by the step size: a smaller lr shrinks every SGD step and on a quadratic converges
            exactly below 2/lambda_max, but it does not shrink the gradient itself.
        """),
        short_answer_zh=text("""
            只能解决由步长引起的发散:较小的学习率按比例缩小每一步 SGD,在二次函数上低于 2/lambda_max 时恰好收敛,但不会缩
            小梯度本身。
        """),
        questions=("Does lowering the learning rate fix exploding gradients?",),
        questions_zh=("降低学习率能解决梯度爆炸吗?",),
        quotes=("調整学习率:使用较小的学习率可以减少每次权重更新的幅度,从而降低发生梯度爆炸的风险。",),
        gloss=(
            (
                "Adjust the learning rate: a smaller learning rate reduces the size of each weight update and thus "
                "lowers the risk of gradient explosion."
            ),
        ),
        statement=bullets("""
            - A smaller learning rate shrinks every SGD step in proportion, since the step is exactly -lr * grad, but it
              does not shrink the gradient, which at given parameters does not depend on lr.
            - What it removes is divergence caused by the step size: on a quadratic, gradient descent multiplies the
              error along a direction of curvature lambda by (1 - lr * lambda) per step, so it converges if and only if
              0 < lr < 2 / lambda_max and diverges geometrically above that.
            - At given parameters the gradient does not depend on lr, so a gradient already large at initialisation
              (explosion.cause.init, explosion.cause.depth) is not reduced by a lower learning rate.
        """),
        statement_zh=bullets("""
            - 较小的学习率会按比例缩小每一步 SGD 更新(更新量恰为 -lr·grad),但不会缩小梯度本身:在给定参数处,梯度与 lr 无
              关。
            - 它消除的是由步长引起的发散:在二次函数上,梯度下降每一步把曲率为 lambda 的方向上的误差乘以 (1 -
              lr·lambda),因此当且仅当 0 < lr < 2 / lambda_max 时收敛,超过时按几何级数发散。
            - 在给定参数处梯度与 lr 无关,所以初始化时就已经很大的梯度(explosion.cause.init、explosion.cause.depth)不会
              因为降低学习率而变小。
        """),
        in_practice=text("""
            If the loss blows up within a few steps, lower the learning rate; if the gradient norm is already huge at
            initialisation, fix the initialisation or clip instead.
        """),
        in_practice_zh=text("""
            如果损失在几步之内就爆掉,就降低学习率;如果初始化时梯度范数就已经极大,应当修正初始化或使用裁剪。
        """),
        related=(
            "explosion.definition",
            "explosion.cause.init",
            "explosion.cause.depth",
            "update.sgd-rule",
        ),
        sources=(
            SGD_DOCS,
            GBC + ", sec. 4.3.1 and 8.2.1 (ill-conditioning; step size below 2/lambda)",
        ),
    ),
    Claim(
        id="remedy.lstm-gru",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            They reduce it, not remove it: at the zero state the per-step gain is 0.5 + 0.25s (plain RNN: s), so gated
            cells explode only for s > 2. They mainly fix vanishing (a forget or update gate near 1).
        """),
        short_answer_zh=text("""
            能减轻,但不能消除:在零状态下门控单元每步增益为 0.5 + 0.25s(普通 RNN 为 s),所以门控单元只在 s > 2 时爆
            炸。它们主要解决梯度消失(遗忘门或更新门接近 1)。
        """),
        questions=(
            "Do LSTM and GRU prevent exploding gradients?",
            "Why initialise the LSTM forget-gate bias to a positive value?",
        ),
        questions_zh=(
            "LSTM 和 GRU 能防止梯度爆炸吗?",
            "为什么要把 LSTM 遗忘门的偏置初始化为正值?",
        ),
        quotes=(
            "使用更为稳定的网络架构,如长短期记忆网络(LSTM)或门控循环单元(GRU),这些结构设计上能够更好地处理长序列数据并减少梯度爆炸的风险。",
        ),
        gloss=(
            (
                "Use a more stable architecture such as long short-term memory (LSTM) or gated recurrent units (GRU), "
                "which are designed to handle long sequences better and to reduce the risk of gradient explosion."
            ),
        ),
        statement=bullets("""
            - LSTM and GRU add a path through time whose per-step gain is a gate value rather than a weight matrix:
              without recurrent coupling and with zero inputs the gradient carried over T steps is f^T along an LSTM's
              cell state and z^T along a GRU's hidden state, while a plain RNN's is 0.
            - A forget or update gate held near 1 keeps the gradient alive over long sequences; that is a fix for
              vanishing.
            - Gated cells explode less readily but can still explode: at the zero state with every recurrent weight
              block s*I and zero biases the per-step gain is s for an RNN and 0.5 + 0.25 s for an LSTM and a GRU, so for
              1 < s < 2 the RNN's gradient grows while the gated cells' decays, and for s > 2 both grow.
            - Each gate adds its slices of bias_ih and bias_hh: setting the forget-gate (or update-gate) slice to 1 in
              one of them gives the gate a bias of 1, in both a bias of 2.
            - At PyTorch's default initialisation, with random non-zero inputs, the gradients of RNN, LSTM and GRU
              typically vanish with sequence length (the median over random initialisations; a single small network
              can decay more slowly) unless a gate bias holds the forget or update gate open.
        """),
        statement_zh=bullets("""
            - LSTM 和 GRU 增加了一条跨越时间的通路,其每步增益是门的取值,而不是权重矩阵:没有循环耦合且输入为零时,沿 LSTM
              的细胞状态传递 T 步的梯度为 f^T,沿 GRU 的隐藏状态为 z^T,而普通 RNN 为 0。
            - 遗忘门或更新门保持在接近 1 时,梯度能在长序列上保持下来;这是对梯度消失的补救。
            - 门控单元不那么容易爆炸,但仍然可能爆炸:在零状态、每个循环权重块为 s·I、偏置为零时,每步增益对 RNN 为 s,对
              LSTM 和 GRU 为 0.5 + 0.25·s,因此 1 < s < 2 时 RNN 的梯度增长而门控单元的梯度衰减,s > 2 时两者都增长。
            - 每个门把 bias_ih 和 bias_hh 中属于它的那一段相加:只在其中一个里把遗忘门(或更新门)那一段设为 1,门的偏置就
              是 1;两个里都设为 1,偏置就是 2。
            - 在 PyTorch 的默认初始化下、输入为随机非零值时,RNN、LSTM 和 GRU 的梯度通常会随序列长度消失(就随机初始化的
              中位数而言;单个小网络可能衰减得更慢),除非用门的偏置让遗忘门或更新门保持打开。
        """),
        in_practice=text("""
            Use LSTM or GRU for long sequences and give the forget gate a positive bias: for a bias of 1 set the
            forget-gate slice of bias_ih or of bias_hh (rows H to 2H of an LSTM's) to 1, not of both, which gives 2;
            still clip the gradient norm.
        """),
        in_practice_zh=text("""
            长序列使用 LSTM 或 GRU,并给遗忘门一个正的偏置:要得到偏置 1,把 bias_ih 或 bias_hh 中遗忘门那一段(LSTM 的第
            H 到 2H 行)设为 1,不要两个都设(那样得到 2);并且仍然要裁剪梯度范数。
        """),
        related=(
            "explosion.rnn",
            "remedy.clip-norm",
        ),
        sources=(
            RNN_DOCS,
            PASCANU_21,
            (
                "Hochreiter & Schmidhuber 1997, Long short-term memory (constant error carousel); Gers, Schmidhuber & "
                "Cummins 2000 (forget gate)"
            ),
            (
                "Jozefowicz, Zaremba & Sutskever 2015, An empirical exploration of recurrent network architectures "
                "(forget-gate bias 1)"
            ),
            "Sutskever, Vinyals & Le 2014, Sequence to sequence learning, sec. 3.4 (LSTM gradients clipped at norm 5)",
        ),
    ),
    Claim(
        id="remedy.relu",
        part=P,
        verdict=Verdict.REFUTED,
        short_answer=text("""
            Not for the reason given: not saturating removes a brake on growth. At equal weights ReLU's gradient grows
            slower than tanh's only below about 1.5x Glorot's std (its zero half halves the squared gain); He's std
            keeps it flat.
        """),
        short_answer_zh=text("""
            不是因为所说的理由:不饱和去掉的是抑制增长的刹车。权重相同时,只有标准差低于约 1.5 倍 Glorot 值,ReLU 网络的梯
            度才比 tanh 网络增长得慢(它的零半边让平方增益减半),高于时更快;He 标准差让它保持平稳。
        """),
        questions=(
            "Does ReLU fix exploding gradients?",
            "Are ReLU or tanh networks more prone to exploding gradients?",
        ),
        questions_zh=(
            "ReLU 能解决梯度爆炸吗?",
            "ReLU 网络和 tanh 网络哪个更容易梯度爆炸?",
        ),
        quotes=("选择ReLU等非饱和激活函数可以帮助减轻梯度爆炸问题,因为这些函数在正输入区域不会饱和。",),
        gloss=(
            (
                "Choosing non-saturating activations such as ReLU can help mitigate gradient explosion, because these "
                "functions do not saturate for positive inputs."
            ),
        ),
        statement=bullets("""
            - ReLU does not saturate on the positive side (relu'(x) = 1 for x > 0, 0 for x < 0), but that is no reason
              it helps against explosion: non-saturation removes a brake on growth instead of adding one.
            - The input gradient of a deep ReLU MLP scales like (s sqrt(n/2))^depth: flat at He's std sqrt(2/n),
              geometric growth above it, faster the larger the weights.
            - A tanh net with the same weights also grows once s exceeds Glorot's 1/sqrt(n), but more slowly: above a
              crossover at about 1.5 times the Glorot std (where the mean-field slopes of the two are equal) the ReLU
              net's gradient grows faster with depth than the tanh net's, below it more slowly.
            - Saturation slows the growth, it does not cap it; a sigmoid stack (sigmoid' <= 1/4) still loses gradient at
              up to 4 times the Glorot std.
            - What ReLU fixes is vanishing: at He's std it keeps the gradient flat where a sigmoid stack at the Glorot
              std loses it geometrically; what keeps a ReLU net's gradient flat with depth at initialisation is He's
              std, not the activation.
        """),
        statement_zh=bullets("""
            - ReLU 在正区间不饱和(x > 0 时 relu'(x) = 1,x < 0 时为 0),但这并不是它能对付梯度爆炸的理由:不饱和只是去掉
              了抑制增长的“刹车”,而不是加上一道。
            - 深层 ReLU MLP 的输入梯度按 (s sqrt(n/2))^depth 变化:在 He 标准差 sqrt(2/n) 处保持平稳,高于它就几何增长,权
              重越大增长越快。
            - 同样权重的 tanh 网络在 s 超过 Glorot 标准差 1/sqrt(n) 后也会增长,但更慢:在约 1.5 倍 Glorot 标准差的交叉
              点(两者的平均场斜率相等处)以上,ReLU 网络的梯度随深度增长得比 tanh 网络更快,在它以下则更慢。
            - 饱和减缓增长,却不能封顶;sigmoid 网络(sigmoid' <= 1/4)在直到 4 倍 Glorot 标准差时梯度仍在消失。
            - ReLU 解决的是梯度消失:在 He 标准差下它让梯度保持平稳,而 Glorot 标准差下的 sigmoid 网络梯度几何衰减;在初始
              化时让 ReLU 网络的梯度不随深度变化的是 He 标准差,而不是激活函数。
        """),
        in_practice=text("""
            Match the initialisation to the activation (kaiming_normal_/He for ReLU, Glorot for tanh) and clip or
            monitor the gradient norm; switching to ReLU does not stop an explosion caused by weights that are too
            large.
        """),
        in_practice_zh=text("""
            让初始化与激活函数匹配(ReLU用kaiming_normal_/He初始化,tanh用Glorot初始
            化),并裁剪或监控梯度范数;换成ReLU并不能阻止由权重过大引起的爆炸。
        """),
        related=(
            "explosion.cause.init",
            "explosion.cause.saturation",
            "explosion.cause.depth",
            "remedy.clip-norm",
        ),
        sources=(
            (
                "He, Zhang, Ren & Sun 2015, Delving deep into rectifiers, ICCV, arXiv:1502.01852, sec. 2.2 (backward "
                "case: 1/2 n Var[w] = 1)"
            ),
            (
                "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks, "
                "AISTATS, eq. 10-13"
            ),
            (
                "Poole, Lahiri, Raghu, Sohl-Dickstein & Ganguli 2016, Exponential expressivity in deep neural "
                "networks through transient chaos, NeurIPS, arXiv:1606.05340 (variance map q_l, order-to-chaos "
                "transition at sigma_w^2 = 1 without biases for tanh)"
            ),
            (
                "Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Deep information propagation, ICLR, "
                "arXiv:1611.01232, eq. 5-7 (per-layer gradient factor chi_1 = sigma_w^2 E[phi'(h)^2])"
            ),
            GBC + ", sec. 6.3.1 (rectified linear units) and sec. 6.3.2 (sigmoid saturation)",
            (
                "Trefethen & Weideman 2014, The exponentially convergent trapezoidal rule, SIAM Review 56(3), thm 5.1 "
                "(the quadrature of support.theory.mean_field_log_norms)"
            ),
        ),
    ),
    Claim(
        id="remedy.monitor",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Log the loss and the total gradient norm every step; a spike flags the explosion while every number is still
            finite, and torch.autograd.detect_anomaly() names the backward function that returned NaN.
        """),
        short_answer_zh=text("""
            每步记录损失和总梯度范数,在所有数值仍有限时,尖峰就能暴露爆炸;torch.autograd.detect_anomaly() 会指出返回 NaN
            的反向函数。
        """),
        questions=(
            "How do I detect exploding gradients during training?",
            "How do I find which operation produced a NaN in backward?",
        ),
        questions_zh=(
            "训练中怎样发现梯度爆炸?",
            "怎样找出反向传播中产生 NaN 的那个运算?",
        ),
        quotes=("监控训练过程: 实时监控训练过程中的损失和梯度值,一旦发现异常,可以采取措施调整 学习率或停止训练。",),
        gloss=(
            (
                "Monitor training: watch the loss and gradient values in real time during training, and once "
                "something abnormal appears, take action such as adjusting the learning rate or stopping training."
            ),
        ),
        statement=bullets("""
            - Recording the loss and the total gradient norm (the norm clip_grad_norm_ computes and returns) after every
              backward flags an explosion as a spike, a norm far above the median of the recent ones, while every number
              is still finite, before the gradients overflow.
            - It then names the parameters whose gradients went non-finite; a healthy run raises no flag.
            - For a NaN born inside backward, torch.autograd.detect_anomaly() makes backward raise at the first function
              that returns NaN and names it, instead of letting the NaN flow silently into .grad.
        """),
        statement_zh=bullets("""
            - 每次反向传播之后记录损失和总梯度范数(即 clip_grad_norm_ 计算并返回的范数),能在所有数值仍然有限、梯度尚未溢
              出时,就以“尖峰”(范数远高于近期范数的中位数)的形式发现爆炸。
            - 随后还能指出哪些参数的梯度变成了非有限值;正常的训练不会触发任何警报。
            - 对于在反向传播内部产生的 NaN,torch.autograd.detect_anomaly() 会让反向传播在第一个返回 NaN 的函数处报错并给
              出它的名称,而不是让 NaN 悄悄流进 .grad。
        """),
        in_practice=text("""
            Log the loss and the total gradient norm every step, lower the learning rate or stop on a spike or a
            non-finite value, and turn on torch.autograd.detect_anomaly() only while hunting a NaN (it slows training
            down).
        """),
        in_practice_zh=text("""
            每一步记录损失和总梯度范数,出现尖峰或非有限值时降低学习率或停止训练;只在排查 NaN 时才打
            开 torch.autograd.detect_anomaly()(它会拖慢训练)。
        """),
        related=(
            "explosion.definition",
            "remedy.clip-norm",
            "remedy.lower-lr",
        ),
        sources=(
            "PyTorch docs, torch.autograd.detect_anomaly (backward raises naming the function that returned NaN)",
            CLIP_NORM_DOCS,
            PASCANU_ALG1,
        ),
    ),
)
