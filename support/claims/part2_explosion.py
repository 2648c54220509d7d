"""Part 2 of the source: gradient explosion, its causes and remedies."""

from support.claims.model import Claim, Part, Verdict, text

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
        quotes=(
            "梯度爆炸是指在反向传播过程中,梯度的值变得异常大,导致权重更新过于剧烈",
            "具体来说,当网络的某些权重值过大时,计算出的梯度也会相应增大,从而导致后续的权重更新变得不稳定。",
            "最终,这可能导致模型无法收敛,甚至出现数值溢出(NaN值)。",
        ),
        statement=text("""
            Exploding gradients are gradients so large that a step overshoots: past the stability limit of the step
            (for SGD, lr > 2 / largest Hessian eigenvalue) each update lands where the gradient is larger, the
            gradient norm grows step over step and within a few steps loss and parameters overflow to inf/NaN; the
            same net with a learning rate below the limit stays finite and its loss decreases. Larger weights do give
            larger gradients: scaling every weight of a bias-free depth-L linear or ReLU net by c scales each weight
            gradient of the linear read-out u.f(x) by exactly c^(L-1).
        """),
        statement_zh=text("""
            梯度爆炸指梯度大到让一步更新越过了头:当步长超过稳定极限(对SGD即学习率大于2除以损失Hessian的最大
            特征值)时,每次更新都落到梯度更大的地方,梯度范数逐步增长,几步之内损失和参数就溢出为inf/NaN;同一个
            网络用低于该极限的学习率则保持有限且损失下降。权重越大梯度确实越大:把无偏置的L层线性或ReLU网络的每个权
            重乘以c,线性读出u·f(x)对各层权重的梯度恰好乘以c^(L-1)。
        """),
        sources=(
            SGD_DOCS,
            GBC + ", sec. 4.3.1 (gradient descent on a quadratic) and sec. 8.2.4 (cliffs and exploding gradients)",
        ),
    ),
    Claim(
        id="explosion.rnn",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "这种情况通常发生在深层网络中,尤其是递归神经网络(RNN)中。",
        ),
        statement=text("""
            Backpropagation through time multiplies one Jacobian diag(phi'(a_t)) W_hh^T per step, all with the same
            W_hh, so ||dh_T/dh_0|| <= (gamma * sigma_max(W_hh))^T with gamma = max |phi'| (1 for tanh, 1/4 for
            sigmoid): sigma_max < 1/gamma guarantees geometric vanishing and sigma_max > 1/gamma is necessary, not
            sufficient, for explosion (at the zero state of a tanh RNN the gradient is exactly s^T for W_hh = s *
            orthogonal; saturating inputs make it vanish even with s > 1). In Pascanu et al.'s one-unit model x_t = w
            sigmoid(x_{t-1}) + b, the largest |dE/db| stays below 2 * 0.7 * (1/4) / (1 - w/4) = 1.4 for every T when w
            = 3 (w/4 < 1), while for w = 5 the error has a wall at b* = x0 - w sigmoid(x0) where |dE/db| =
            2|sigmoid(x0) - 0.7| sigmoid'(x0) (lambda^T - 1)/(lambda - 1), lambda = w sigmoid'(x0) = 1.175: it grows
            geometrically with T.
        """),
        statement_zh=text("""
            随时间反向传播在每一步都乘以一个雅可比矩阵diag(phi'(a_t)) W_hh^T,而且每一步用的是同一个W_hh,所以||dh_T/dh_0|| <= (gamma *
            sigma_max(W_hh))^T,其中gamma = max|phi'|(tanh为1,sigmoid为1/4):sigma_max < 1/gamma 足以保证梯度几何级数地消失,sigma_max >
            1/gamma 只是爆炸的必要条件而非充分条件(tanh RNN在零状态、W_hh = s乘正交矩阵时梯度恰为s^T;输入使单元饱和时即使s > 1梯度也会消失)。在Pascanu等人的单单元模型x_t = w
            sigmoid(x_{t-1}) + b中,w = 3(w/4 < 1)时对任意T,最大的|dE/db|都不超过1.4;w = 5时误差曲面在b* = x0 - w
            sigmoid(x0)处有一堵“墙”,那里的|dE/db| = 2|sigmoid(x0) - 0.7| sigmoid'(x0) (lambda^T - 1)/(lambda - 1),lambda = w
            sigmoid'(x0) = 1.175,随T几何增长。
        """),
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
        quotes=(
            "权重初始化不当:如果初始权重设置得过大,会导致在前向传播和反向传播中产生过大的激活和梯度。",
        ),
        statement=text("""
            With weights N(0, s^2) and width n, each linear layer multiplies the expected squared gradient norm by s^2
            n and each activation by E[phi'(a)^2]: the input-gradient norm of a deep MLP scales like gain^depth with
            gain s sqrt(n) for linear layers (exactly: E log-norm per layer = 1/2 [log s^2 + digamma(n/2) + log 2])
            and s sqrt(n/2) for ReLU. Below the Glorot std (1/sqrt(n) for square layers) or He std (sqrt(2/n)) it
            shrinks, at it it stays flat, above it it grows geometrically, and forward activations grow with the same
            factor. For tanh, saturation caps the growth: at 2x the Glorot std the log-norm slope is the mean-field
            1/2 log chi = 0.15 per layer instead of log 2 = 0.69, still an explosion.
        """),
        statement_zh=text("""
            权重取N(0, s^2)、宽度为n时,每个线性层把梯度范数平方的期望乘以s^2 n,每个激活函数再乘
            以E[phi'(a)^2]:深层MLP输入梯度的范数按gain^depth变化,线性层
            的gain为s sqrt(n)(精确地说,每层对数范数的期望
            为1/2 [log s^2 + digamma(n/2) + log 2]),ReLU为s sqrt(n/2)。
            标准差低于Glorot值(方阵层为1/sqrt(n))或He值(sqrt(2/n))时梯度随深度缩小,等于它
            时保持平稳,高于它时几何增长,前向激活也按同一因子增长。tanh的饱和会压低增长:在2倍Glorot标准差
            下,对数范数每层斜率是平均场给出的1/2 log chi = 0.15,而不是log 2 = 0.69,但仍
            然是爆炸。
        """),
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
        quotes=(
            "深层网络结构:在深层网络中,由于链式法则的作用,梯度在传播过程中可能会累积并迅速增大。",
        ),
        statement=text("""
            By the chain rule the input gradient is the product of the layers' Jacobians W_l^T diag(phi'(a_l)), so its
            log-norm is a sum of per-layer log gains and is linear in depth (for Gaussian linear layers its
            expectation is exactly depth times 1/2 [log s^2 + digamma(n/2) + log 2]). Depth is the exponent: it
            amplifies when the per-layer gain exceeds 1 and attenuates when it is below 1; at gain 1 (Glorot/He) depth
            alone does not make gradients grow.
        """),
        statement_zh=text("""
            根据链式法则,输入梯度是各层雅可比矩阵W_l^T diag(phi'(a_l))的乘积,因此其对数范数是各层
            对数增益之和,与深度成线性关系(高斯线性层时其期望恰为深度乘
            以1/2 [log s^2 + digamma(n/2) + log 2])。深度是指数:每层增益大于1时放
            大,小于1时衰减;增益等于1(Glorot/He初始化)时,仅靠加深网络并不会让梯度增大。
        """),
        sources=(
            GLOROT,
            GBC + ", sec. 6.5 (back-propagation, chain rule) and sec. 8.2.5 (long-term dependencies: W^t)",
        ),
    ),
    Claim(
        id="explosion.cause.saturation",
        part=P,
        verdict=Verdict.REFUTED,
        quotes=(
            "激活函数的选择:某些激活函数(如sigmoid或tanh)在特定输入范围内可能会饱和,从而导致梯度在某些层变得极大。",
        ),
        statement=text("""
            Saturation shrinks gradients, it cannot make them large: sigmoid'(x) = s(1 - s) <= 1/4 and tanh'(x) = 1 -
            tanh^2 <= 1 everywhere, both -> 0 exponentially as |x| grows (sigmoid' <= e^-|x|, tanh' <= 4 e^-2|x|), so
            a saturated sigmoid/tanh stack has vanishing input gradients. The 'huge gradient' people see comes from
            numerics, not from the activation: log(sigmoid(x)) underflows to -inf and its autograd gradient is NaN
            (the true derivative 1 - sigmoid(x) is below 1); BCELoss clamps its log at -100 and its gradient vanishes,
            while BCEWithLogitsLoss / logsigmoid stay finite with gradient sigmoid(x) - y, bounded by 1.
        """),
        statement_zh=text("""
            饱和只会让梯度变小,不会让梯度变得极大:处处有sigmoid'(x) = s(1 - s) <= 1/4、tanh'(x) = 1 - tanh^2 <= 1,且
            随|x|增大按指数趋于0(sigmoid' <= e^-|x|,tanh' <= 4 e^-2|x|),所以
            饱和的sigmoid/tanh深层网络的输入梯度是消失而非爆炸。人们看到的“梯度极大”来自数值计算而非激活函
            数本身:log(sigmoid(x))会下溢为-inf,其自动求导梯度为NaN(真实导
            数1 - sigmoid(x)小于1);BCELoss把log截断在-100,梯度随之消
            失;而BCEWithLogitsLoss/logsigmoid保持有限,梯度
            为sigmoid(x) - y,绝对值不超过1。
        """),
        sources=(
            GBC + ", sec. 6.3.2 (logistic sigmoid and tanh saturate; their gradients become very small)",
            PASCANU_21,
            (
                "PyTorch docs, torch.nn.BCELoss (log outputs clamped to >= -100) and torch.nn.BCEWithLogitsLoss "
                "(log-sum-exp trick, more numerically stable)"
            ),
            (
                "PyTorch source, aten/src/ATen/native/Loss.cpp, binary_cross_entropy_backward: grad * (x - y) / "
                "max((1 - x) x, EPSILON = 1e-12)"
            ),
        ),
    ),
    Claim(
        id="explosion.single-sample",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "为什么对单个样本的Loss进行反向传播容易造成梯度爆炸?",
            "对单个样本进行反向传播时,模型只考虑该样本的损失,从而可能导致较大的梯度更新",
            "相比之下,在一个batch上计算损失并进行反向传播,可以通过平均化多个样本的损失来抑制这种剧烈变化。",
        ),
        statement=text("""
            A single-sample gradient is a noisier, not a larger-in-expectation, estimate of the batch gradient:
            ||mean_i g_i|| <= mean_i ||g_i|| (triangle inequality), the mean of B samples drawn with replacement has
            the same expectation and a covariance of Sigma / B (total variance tr(Sigma)/B, log-log slope -1 in B).
            Averaging damps the noise of the update; it does not prevent an explosion, whose causes (weights, depth,
            learning rate) act on the batch gradient too.
        """),
        statement_zh=text("""
            单个样本的梯度是对batch梯度的一个噪声更大的估计,而不是期望更大的估
            计:||mean_i g_i|| <= mean_i ||g_i||(三角不等式),有放回抽取B个样本求平
            均,期望不变,协方差为Sigma / B(总方差tr(Sigma)/B,对B取双对数时斜率为-1)。求平均抑
            制的是更新的噪声,并不能防止梯度爆炸;爆炸的原因(权重、深度、学习率)对batch梯度同样起作用。
        """),
        sources=(
            (
                "McCandlish, Kaplan, Amodei & OpenAI Dota Team 2018, An empirical model of large-batch training, sec. "
                "2 (cov = Sigma / B)"
            ),
            "PyTorch tutorial, Per-sample-gradients (torch.func.vmap(grad(...)))",
        ),
    ),
    Claim(
        id="remedy.clip-norm",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "例如,如果使用L2范数,可以将所有梯度归一化,使其不超过设定的最大值。",
        ),
        statement=text("""
            torch.nn.utils.clip_grad_norm_(params, max_norm) computes the norm of all gradients concatenated
            (parameters without .grad skipped), returns it, and multiplies every gradient by min(1, max_norm / (total
            + 1e-6)): the direction is unchanged, the new total norm is max_norm * total / (total + 1e-6) <= max_norm
            when total > max_norm, and nothing changes below the threshold. norm_type=inf uses the largest |element|.
            A NaN/inf total raises with error_if_nonfinite=True; by default it is used anyway and turns the gradients
            into NaN (or 0).
        """),
        statement_zh=text("""
            torch.nn.utils.clip_grad_norm_(params, max_norm)把所有梯度拼
            成一个向量求范数(没有.grad的参数跳过)并返回该范数,然后把每个梯度乘
            以min(1, max_norm / (total + 1e-6)):方向不
            变,当total > max_norm时新的总范数为max_norm * total / (total + 1e-6) <= max_norm,低
            于阈值时什么也不改变。norm_type=inf时使用最大的元素绝对值。总范数
            为NaN/inf时,error_if_nonfinite=True会报错;默认情况下照样使用它,结果把梯度变
            成NaN(或0)。
        """),
        sources=(
            CLIP_NORM_DOCS,
            PASCANU_ALG1,
        ),
    ),
    Claim(
        id="remedy.clip-value",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "通过设定一个阈值,当梯度超过该阈值时,将其缩放到该范围内。",
        ),
        statement=text("""
            Clipping 'the gradients that exceed a threshold' elementwise (torch.nn.utils.clip_grad_value_) clamps
            every element to [-c, c] in place and leaves smaller elements alone: it changes the gradient's direction
            (e.g. (10, 1) -> (1, 1), cosine 11 / sqrt(202) = 0.77) and bounds no norm (the norm can reach c sqrt(P)),
            unlike norm clipping, which rescales all gradients by one factor and keeps the direction. The source's
            'scale into the range' describes norm clipping.
        """),
        statement_zh=text("""
            按元素裁剪“超过阈值的梯度”(torch.nn.utils.clip_grad_value_)会把每个元素原
            地截断到[-c, c],较小的元素不变:它会改变梯度方向(例如(10, 1) -> (1, 1),余弦
            为11 / sqrt(202) = 0.77),也不限制范数(范数可达c sqrt(P));而按范数裁剪用同
            一个因子缩放所有梯度,方向不变。原文“将其缩放到该范围内”描述的是按范数裁剪。
        """),
        sources=(
            CLIP_VALUE_DOCS,
            CLIP_NORM_DOCS,
            GBC + ", sec. 10.11.1 (clipping exploding gradients: element-wise vs. norm)",
        ),
    ),
    Claim(
        id="remedy.clip-stabilises",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "梯度裁剪(Gradient Clipping):这是最常用的方法之一。",
            "通过以上方法,可以有效地减轻或避免梯度爆炸问题,从而提高模型训练的稳定性和效率。",
        ),
        statement=text("""
            Norm clipping bounds every update to lr * max_norm, so a run cannot diverge however large the raw
            gradient: a deep linear net whose SGD run overflows to inf/NaN within a dozen steps at lr = 1 (3x the
            stability limit 2/lambda_max = 0.33) stays finite with clip_grad_norm_(max_norm=0.05), moves its
            parameters by at most lr * max_norm per step, and brings the loss to within 2x the least-squares optimum.
            Clipping keeps the run alive; it does not make a too-large learning rate converge exactly: the iterate
            ends in a period-2 oscillation of step lr * max_norm around the minimum.
        """),
        statement_zh=text("""
            按范数裁剪把每次更新限制在lr * max_norm以内,因此无论原始梯度多大,训练都不会发散:一个深层线性
            网络在lr = 1(稳定极限2/lambda_max = 0.33的3倍)时十几步之内就溢出
            为inf/NaN,而使用clip_grad_norm_(max_norm=0.05)后保持有限,每步参数位移
            不超过lr * max_norm,损失降到最小二乘最优值的2倍以内。裁剪让训练得以继续,但不会让过大的学习率
            精确收敛:迭代最终以步长lr * max_norm在最小值附近做周期为2的振荡。
        """),
        sources=(
            PASCANU_ALG1,
            CLIP_NORM_DOCS,
            "Sutskever, Vinyals & Le 2014, Sequence to sequence learning, sec. 3.4 (LSTM gradients clipped at norm 5)",
        ),
    ),
    Claim(
        id="remedy.lower-lr",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "調整学习率:使用较小的学习率可以减少每次权重更新的幅度,从而降低发生梯度爆炸的风险。",
        ),
        statement=text("""
            A smaller learning rate shrinks every SGD step in proportion (step = -lr * g exactly) but not the gradient
            itself, which at given parameters does not depend on lr. On a quadratic with curvature lambda, gradient
            descent multiplies the error along that direction by (1 - lr * lambda) per step, so it converges iff 0 <
            lr < 2 / lambda_max and diverges geometrically above: lowering lr below 2/lambda_max removes divergence
            caused by the step size, not large gradients caused by weights or depth.
        """),
        statement_zh=text("""
            较小的学习率会按比例缩小每一步SGD更新(更新量恰为-lr * g),但不会缩小梯度本身;在给定参数处梯度与
            学习率无关。在曲率为lambda的二次函数上,梯度下降每步把该方向的误差乘
            以(1 - lr * lambda),因此当且仅当0 < lr < 2 / lambda_max时收敛,超过
            时几何发散:把学习率降到2/lambda_max以下能消除由步长引起的发散,但不能消除由权重或深度造成的大梯
            度。
        """),
        sources=(
            SGD_DOCS,
            GBC + ", sec. 4.3.1 and 8.2.1 (ill-conditioning; step size below 2/lambda)",
        ),
    ),
    Claim(
        id="remedy.lstm-gru",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "使用更为稳定的网络架构,如长短期记忆网络(LSTM)或门控循环单元(GRU),这些结构设计上能够更好地处理长序列数据并减少梯度爆炸的风险。",
        ),
        statement=text("""
            LSTM and GRU add a path whose per-step gain is a gate value: with no recurrent coupling, dc_T/dc_0 = f^T
            for an LSTM and dh_T/dh_0 = z^T for a GRU (a plain RNN gives 0), so a forget/update gate held near 1 keeps
            the gradient alive over long sequences; that fixes vanishing. They can still explode: at the zero state
            with recurrent blocks s*I the per-step gain is s for an RNN, f + o*i*s for an LSTM and z + (1 - z)*r*s for
            a GRU, which exceeds 1 for large s (1.5 at s = 4 with zero biases), and LSTMs are clipped in practice.
        """),
        statement_zh=text("""
            LSTM和GRU增加了一条每步增益等于门值的通路:没有循环耦合
            时,LSTM的dc_T/dc_0 = f^T,GRU的dh_T/dh_0 = z^T(普通RNN为0),因此
            遗忘门/更新门保持在接近1时,梯度能在长序列上保持下来;这解决的是梯度消失。它们仍然可能爆炸:在零状态、循环
            权重块为s*I时,每步增益对RNN为s,对LSTM为f + o*i*s,对GRU为z + (1 - z)*r*s,s较
            大时超过1(偏置为0、s = 4时为1.5);实践中LSTM仍要做梯度裁剪。
        """),
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
        verdict=Verdict.QUALIFIED,
        quotes=(
            "选择ReLU等非饱和激活函数可以帮助减轻梯度爆炸问题,因为这些函数在正输入区域不会饱和。",
        ),
        statement=text("""
            ReLU'(x) = 1 for x > 0 (and 0 for x < 0): it does not saturate on the positive side, which removes the
            vanishing that saturating activations cause (a sigmoid stack at the Glorot std loses about 1.45 in
            log-norm per layer, a ReLU stack at the He std keeps it flat). It does not prevent explosion: a deep ReLU
            MLP's input gradient still grows as (s sqrt(n/2))^depth, i.e. geometrically as soon as the weight std
            exceeds He's sqrt(2/n).
        """),
        statement_zh=text("""
            ReLU'(x)在x > 0时等于1(x < 0时为0):它在正区间不饱和,从而消除了饱和激活函数造成的梯度
            消失(Glorot标准差下的sigmoid深层网络每层对数范数约损失1.45,He标准差下的ReLU网络保持
            平稳)。但它不能防止爆炸:深层ReLU MLP的输入梯度仍按(s sqrt(n/2))^depth变化,权重
            标准差一旦超过He的sqrt(2/n)就几何增长。
        """),
        sources=(
            HE,
            GLOROT,
            GBC + ", sec. 6.3.1 (rectified linear units)",
        ),
    ),
    Claim(
        id="remedy.monitor",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "监控训练过程: 实时监控训练过程中的损失和梯度值,一旦发现异常,可以采取措施调整 学习率或停止训练。",
        ),
        statement=text("""
            Monitoring works: recording the total gradient norm (the norm clip_grad_norm_ computes) and the loss every
            step flags an explosion as a spike while every number is still finite (before the gradients overflow),
            then names the parameters whose gradients went non-finite; a healthy run raises no flag.
            torch.autograd.detect_anomaly makes backward raise at the first function that returns NaN and names it
            (e.g. SqrtBackward0), instead of letting NaN flow silently into .grad.
        """),
        statement_zh=text("""
            监控确实有效:每一步记录总梯度范数(即clip_grad_norm_计算的范数)和损失,能在所有数值仍然有限
            时就以“尖峰”的形式发现爆炸(早于梯度溢出),随后指出哪些参数的梯度变成了非有限值;正常的训练不会触发任何警
            报。torch.autograd.detect_anomaly会让反向传播在第一个返回NaN的函数处报错并给
            出其名称(例如SqrtBackward0),而不是让NaN悄悄流进.grad。
        """),
        sources=(
            "PyTorch docs, torch.autograd.detect_anomaly (backward raises naming the function that returned NaN)",
            CLIP_NORM_DOCS,
            PASCANU_ALG1,
        ),
    ),
)
