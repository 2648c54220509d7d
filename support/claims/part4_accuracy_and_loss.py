"""Part 4 of the source: accuracy and loss."""

from support.claims.model import Claim, Part, Verdict, text

P = Part.ACCURACY_AND_LOSS
GUO = "Guo, Pleiss, Sun, Weinberger 2017, On Calibration of Modern Neural Networks"
CE_DOCS = "PyTorch docs, torch.nn.CrossEntropyLoss"
ARGMAX_DOCS = "PyTorch docs, torch.argmax: if there are multiple maximal values, the index of the first is returned"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="accuracy.definition",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "准确率:表示模型正确预测的样本数量占总样本数量的比例,通常以百分比形式表示。它是一个离散的指标,只有在模型做出正确分类时才会增加。",
        ),
        statement=text("""
            Accuracy is (number of samples whose argmax class equals the target) / N, so it takes only the values k/N
            (ties go to the first maximal class, as torch.argmax does). As a function of the logits it is piecewise
            constant: it changes by jumps of 1/N only when a sample's top class changes, so its gradient is zero
            almost everywhere (and autograd cannot differentiate it at all), which is why training minimises a loss
            instead.
        """),
        statement_zh=text("""
            准确率 = (argmax 类别等于目标的样本数) / N,所以只取 k/N 这些值(并列时取第一个最大类
            别,与 torch.argmax 相同)。作为 logits 的函数它是分段常数:只有当某个样本的最大类别改
            变时才以 1/N 跳变,因此几乎处处梯度为零(autograd 也根本无法对它求导),这就是训练时最小化损失
            而不是准确率的原因。
        """),
        sources=(
            ARGMAX_DOCS,
            "Goodfellow, Bengio, Courville, Deep Learning, sec. 8.1.2 (surrogate loss functions)",
        ),
    ),
    Claim(
        id="loss.continuous",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "损失值是一个连续变量,反映了模型预测的不确定性或错误程度。",
        ),
        statement=text("""
            Cross-entropy is a continuous (smooth) function of the logits that reflects confidence, where accuracy
            does not: scaling the logits by any T > 0 leaves every argmax, hence the accuracy, unchanged, while the
            loss moves continuously (|CE(Tz) - CE(z)| <= |T - 1| mean_i max_j |z_ij - z_iy|, with derivative mean_i
            (E_p[z_i] - z_iy) at T = 1). A correctly classified sample's loss falls towards 0 as T grows; a
            misclassified one's grows like T (max_j z_j - z_y).
        """),
        statement_zh=text("""
            交叉熵是 logits 的连续(光滑)函数,能反映置信度,而准确率不能:把 logits 乘以任
            意 T > 0,每个 argmax 都不变,准确率因此不变,而损失连续变
            化(|CE(Tz) - CE(z)| ≤ |T - 1|·mean_i max_j |z_ij - z_iy|,在 T = 1 处
            的导数为 mean_i (E_p[z_i] - z_iy))。分类正确的样本的损失随 T 增大趋于 0;分类
            错误的样本的损失像 T·(max_j z_j - z_y) 一样增长。
        """),
        sources=(
            CE_DOCS,
            GUO + ", sec. 4.2 (temperature scaling does not change the argmax)",
        ),
    ),
    Claim(
        id="trend.inverse",
        part=P,
        verdict=Verdict.QUALIFIED,
        quotes=(
            "通常情况下,随着模型性能的提升,准确率会提高,而损失值会降低。这是因为较低的损失值 意味着模型的预测更接近真实标签,从而导致更高的准确率。然而,这种关系并不是绝对的。",
        ),
        statement=text("""
            Usually, not always. Training a small classifier on synthetic data, held-out loss and accuracy move in
            opposite directions: their Spearman rank correlation over the epochs is strongly negative in most runs
            (weaker when accuracy plateaus, since it only takes values k/N). But a small network trained long on few
            noisy samples can show the opposite (not every such run does): after its minimum the held-out NLL rises
            substantially while held-out accuracy still improves, because the network grows overconfident on the
            samples it gets wrong (Guo et al. 2017, Fig. 3, sec. 3).
        """),
        statement_zh=text("""
            通常如此,但并不总是。在合成数据上训练一个小分类器,验证集的损失和准确率朝相反方向变化:多数运行中二者在
            各 epoch 上的 Spearman 秩相关强烈为负(准确率进入平台期时较弱,因为它只取 k/N)。但一个
            在少量含噪样本上训练很久的小网络可能出现相反的情形(并非每次运行都会):验证集 NLL 过了最低点后明显上
            升,而验证集准确率仍在提高,因为网络对它分错的样本越来越过度自
            信(Guo 等 2017,图 3,第 3 节)。
        """),
        sources=(
            GUO + ", sec. 3 and Fig. 3 (NLL overfitting while error keeps falling)",
            "Spearman rank correlation with average ranks for ties",
        ),
    ),
    Claim(
        id="high-acc-high-loss",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "**高准确率但高损失**:在某些情况下,模型可能在大多数样本上做出正确预测,但在少数样本上犯了较大的错误。这种情况下,尽管准确率很高,但由于少数错误预测导致较高的损失。",
            "例如,一个二分类模型可能在95%的样本上预测正确,但对于5%的样本,它可能非常自信地预测错误,从而导致较高的损失。",
        ),
        statement=text("""
            True. A binary classifier right on 95% of the samples (p_y = 0.99) but confidently wrong on 5% (p_y =
            1e-4) has a mean cross-entropy of 0.470, above the 0.423 of a calibrated classifier that is right on only
            85% (p_y = 0.85 on those, 0.15 on the rest). The wrong samples' share of the loss, (1 - acc) (-ln(1 - q))
            for wrong confidence q, grows without bound as q -> 1, so any accuracy below 100% can come with any loss.
            Guo et al. 2017 report this for real networks (ResNet-110 on CIFAR-100: 27.83% error with NLL 1.50 and ECE
            16.5% before calibration).
        """),
        statement_zh=text("""
            成立。一个二分类器在 95% 的样本上预测正确(p_y = 0.99),但在 5% 的样本上自信地预测错
            误(p_y = 1e-4),其平均交叉熵为 0.470,高于一个只在 85% 的样本上正确、但经过校准的分类
            器的 0.423(正确样本 p_y = 0.85,其余为 0.15)。错误样本对损失的贡
            献 (1 - acc)(-ln(1 - q))(q 为错误的置信度)在 q → 1 时无界增长,所以任何低
            于 100% 的准确率都可以伴随任意大的损失。Guo 等 2017 在真实网络上报告了这一现
            象(CIFAR-100 上的 ResNet-110:校准前错误
            率 27.83%,NLL 1.50,ECE 16.5%)。
        """),
        sources=(
            CE_DOCS,
            GUO + ", Table 1 and Tables S2-S3 (ResNet-110, CIFAR-100)",
        ),
    ),
    Claim(
        id="low-acc-low-loss",
        part=P,
        verdict=Verdict.REFUTED,
        quotes=(
            "低准确率但低损失:相反,也可能出现模型总体表现不佳(低准确率),但由于其对每个样本的预测相对一致(即使不正确),导致较低的损失。这种情况通常发生在模型对所有类别都没有很强信心时。",
        ),
        statement=text("""
            False in absolute terms. A misclassified sample's predicted class j != y has p_j >= p_y, and p_j + p_y <=
            1, so p_y <= 1/2 and its cross-entropy is at least ln 2, whatever the tie rule; hence mean CE >= (1 -
            accuracy) ln 2: low accuracy forces a loss of at least that. A model unconfident about every class
            (uniform predictions) has loss exactly ln K, the loss of knowing nothing, not a low one. Only a relative
            inversion exists: a model wrong on every sample with p_y = 0.49 (accuracy 0, CE 0.713) has a lower loss
            than one right on 90% (p_y = 0.99) and confidently wrong on 10% (p_y = 1e-4; CE 0.930).
        """),
        statement_zh=text("""
            在绝对意义上不成立。被分错的样本,其预测类别 j ≠ y 满
            足 p_j ≥ p_y,且 p_j + p_y ≤ 1,所以 p_y ≤ 1/2,其交叉熵至少
            为 ln 2(与并列时的取法无关);因此平均交叉熵 ≥ (1 - 准确率)·ln 2:准确率低必然带来至少这
            么大的损失。对所有类别都没有信心(均匀预测)的模型,损失恰为 ln K,即一无所知时的损失,并不低。只存在相
            对的倒置:一个在所有样本上都以 p_y = 0.49 分错的模型(准确率 0,交叉熵 0.713),损失低于
            一个 90% 正确(p_y = 0.99)、10% 自信地分错(p_y = 1e-4)的模型(交叉
            熵 0.930)。
        """),
        sources=(
            CE_DOCS,
            ARGMAX_DOCS,
        ),
    ),
    Claim(
        id="imbalance.misleading",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "**类别不平衡**:在类别不平衡的数据集中,准确率可能会给出误导性的结果。例如,如果某一类别占据了大部分数据,模型可能只需简单地预测该类别就能获得高准确率,但这并不能反映其对其他类别的学习能力。",
        ),
        statement=text("""
            True. On data where class 0 has share s, the constant majority predictor reaches accuracy exactly s (e.g.
            0.9) while its recall on every minority class is 0; balanced accuracy (the mean per-class recall) is
            exactly 1/K and exposes it. A model that finds the minority classes can have lower accuracy and much
            higher balanced accuracy.
        """),
        statement_zh=text("""
            成立。在类别 0 占比为 s 的数据上,总是预测多数类的常数预测器的准确率恰为 s(例如 0.9),而它在每
            个少数类上的召回率都是 0;平衡准确率(各类召回率的平均)恰为 1/K,能揭示这一点。一个能找出少数类的模
            型,准确率可能更低,平衡准确率却高得多。
        """),
        sources=(
            "Brodersen, Ong, Stephan, Buhmann 2010, The balanced accuracy and its posterior distribution (ICPR)",
            "scikit-learn docs, balanced_accuracy_score",
        ),
    ),
    Claim(
        id="confidence.vs-boundary",
        part=P,
        verdict=Verdict.CONFIRMED,
        quotes=(
            "置信度与决策边界: 损失函数通常考虑了模型预测的置信度,而准确率只关注最终分类结果。因此,在一些情况下,模型可能在某些样本上非常自信地做出错误分类,这会导致较高的损失而相对较高的准确率。",
        ),
        statement=text("""
            True. Two predictions of the same class with different confidence give the same accuracy and different
            cross-entropy. Two models with the same accuracy (0.75) can differ in calibration: one that always says
            0.99 has expected calibration error (15 equal-width bins, Guo et al. 2017 eq. 3) of 0.24 and NLL 1.159;
            one whose confidence matches its accuracy in every bin has ECE 0. Dividing the overconfident logits by a
            temperature (Guo sec. 4.2) changes neither prediction nor accuracy but brings ECE to 0 and the NLL down to
            the binary entropy of 0.75 (0.562).
        """),
        statement_zh=text("""
            成立。同一类别、不同置信度的两个预测,准确率相同,交叉熵不同。准确率相同(0.75)的两个模型,校准程度可以
            不同:总是给出 0.99 置信度的模型,其期望校准误差(15 个等宽区
            间,Guo 等 2017 式 3)为 0.24,NLL 为 1.159;而在每个区间中置信度都等于准确率的模
            型 ECE 为 0。把过度自信的 logits 除以一个温度(Guo 第 4.2 节)既不改变预测也不改变准
            确率,却使 ECE 降为 0,NLL 降到 0.75 的二元熵(0.562)。
        """),
        sources=(
            GUO + ", sec. 2 (reliability diagrams, ECE eq. 3 with M = 15 bins) and sec. 4.2 (temperature scaling)",
        ),
    ),
)
