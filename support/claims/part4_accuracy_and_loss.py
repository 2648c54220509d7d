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
        gloss=(
            "Accuracy: the proportion of correctly predicted samples among all samples, usually given as a "
            "percentage. It is a discrete metric that increases only when the model classifies correctly.",
        ),
        statement=text("""
            Accuracy is the number of samples whose argmax class equals the target, divided by N, so it takes only the
            values k / N; ties go to the first maximal class, as torch.argmax returns. As a function of the logits it is
            piecewise constant: perturbations smaller than half of every sample's gap between its two largest logits
            change no prediction, and it moves only by jumps of 1/N, when a sample's top class changes, while the loss
            changes continuously. Its gradient is therefore zero almost everywhere, and autograd cannot differentiate it
            at all (argmax returns integers), which is why training minimises a differentiable loss instead.
        """),
        statement_zh=text("""
            准确率是 argmax 类别等于目标的样本数除以 N,因此只取 k / N 这些值;并列时取第一个最大类
            别,与 torch.argmax 的返回值一致。作为 logits 的函数,它是分段常数:小于每个样本最大两
            个 logit 之差一半的扰动不会改变任何预测;只有当某个样本的最大类别改变时,它才以 1/N 跳变,而损失是连续变化
            的。因此它的梯度几乎处处为零,autograd 也根本无法对它求导(argmax 返回整数),这就是训练时最小化可微的损
            失而不是准确率的原因。
        """),
        in_practice=text("""
            Train on a differentiable loss, compute accuracy under torch.no_grad() as a metric, and expect it to move in
            steps of 1/N on a small evaluation set.
        """),
        in_practice_zh=text("""
            用可微的损失训练,在 torch.no_grad() 下把准确率作为指标计算;在小的评估集上,它会以 1/N 为步长跳
            动。
        """),
        related=("loss.continuous", "imbalance.misleading", "high-acc-high-loss"),
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
        gloss=(
            "The loss value is a continuous variable that reflects the uncertainty or the degree of error of the "
            "model's predictions.",
        ),
        statement=text("""
            Cross-entropy is a smooth function of the logits that reflects confidence, where accuracy does not:
            multiplying the logits by any temperature T > 0 keeps every argmax, hence the accuracy, while the loss
            changes continuously with T, by at most |T - 1| times the mean over samples of the largest gap |z_ij - z_iy|
            between a logit and the target's. As T grows, the loss of a correctly classified sample falls towards 0 and
            that of a misclassified one grows linearly in T.
        """),
        statement_zh=text("""
            交叉熵是 logits 的光滑函数,能反映置信度,而准确率不能:把 logits 乘以任意温度 T > 0,每
            个 argmax 都不变,准确率因此不变,而损失随 T 连续变化,变化量至多为 |T - 1| 乘以各样本
            中 logit 与目标 logit 之差的最大绝对值 |z_ij - z_iy| 的平均。随着 T 增大,分类正确的样本
            的损失趋于 0,分类错误的样本的损失随 T 线性增长。
        """),
        in_practice=text("""
            Track the validation loss next to accuracy: it shows growing over- or under-confidence (a drifting logit
            scale) that accuracy cannot see.
        """),
        in_practice_zh=text("""
            在准确率之外同时跟踪验证集损失:它能显示准确率看不到的、逐渐增强的过度自信或信心不足(logit 尺度的漂移)。
        """),
        related=("accuracy.definition", "loss.measures-error", "confidence.vs-boundary"),
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
        gloss=(
            "High accuracy but high loss: in some cases a model may predict most samples correctly but make large "
            "errors on a few. Then, although the accuracy is high, those few wrong predictions cause a high loss.",
            "For example, a binary classifier may be right on 95% of the samples but very confidently wrong on the "
            "other 5%, which leads to a high loss.",
        ),
        statement=text("""
            A classifier can be more accurate and still have the higher loss: a binary classifier right on 95% of the
            samples with p_y = 0.99 and confidently wrong on 5% with p_y = 1e-4 has a mean cross-entropy of 0.470, above
            the 0.423 of a calibrated classifier that is right on only 85% (p_y = 0.85 on those, 0.15 on the rest), and
            its few confident mistakes carry almost all of that loss. Their contribution, (1 - accuracy) * (-ln(1 - q))
            for a wrong confidence q, grows without bound as q -> 1, so any accuracy below 100% is compatible with any
            loss, however large.
        """),
        statement_zh=text("""
            准确率更高的分类器,损失也可能更高:一个二分类器在 95% 的样本上以 p_y = 0.99 预测正确,在 5% 的样本
            上以 p_y = 1e-4 自信地预测错误,其平均交叉熵为 0.470,高于一个只在 85% 的样本上正确、但经过校准的
            分类器的 0.423(正确样本 p_y = 0.85,其余为 0.15),而且这个损失几乎全部来自那几个自信的错误。它们
            的贡献 (1 - 准确率)·(-ln(1 - q))(q 为对错误类别的置信度)在 q → 1 时无界增长,所以任何低
            于 100% 的准确率都可能伴随任意大的损失。
        """),
        in_practice=text("""
            When accuracy is high but the loss is high or rising, inspect the samples with the largest per-sample loss:
            a few confident mistakes (or mislabelled samples) can dominate the mean.
        """),
        in_practice_zh=text("""
            准确率高而损失也高或在上升时,检查逐样本损失最大的那些样本:少数自信的错误(或标注错误的样本)就可能主导平均损失。
        """),
        related=("confidence.vs-boundary", "loss.continuous", "accuracy.definition"),
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
        gloss=(
            "Class imbalance: on a class-imbalanced data set accuracy can be misleading. For example, if one class "
            "makes up most of the data, a model can reach high accuracy simply by always predicting that class, "
            "which does not reflect how well it has learned the other classes.",
        ),
        statement=text("""
            On data where the majority class holds a share s of the samples, the constant predictor that always outputs
            that class reaches an accuracy equal to s (exactly its count divided by N) while its recall on every
            minority class is 0. Balanced accuracy, the mean of the per-class recalls, is then exactly 1/K for K classes
            and exposes it. A model that recovers the minority classes can have a lower accuracy than the constant
            predictor and a far higher balanced accuracy.
        """),
        statement_zh=text("""
            在多数类占样本比例为 s 的数据上,总是输出该类别的常数预测器,其准确率就等于 s(恰为该类样本数除以 N),而它在每个
            少数类上的召回率都是 0。平衡准确率,即各类召回率的平均,此时对 K 个类别恰为 1/K,能揭示这一点。一个能找出少数类
            的模型,准确率可能低于常数预测器,平衡准确率却高得多。
        """),
        in_practice=text("""
            On imbalanced data, report balanced accuracy or per-class recall next to accuracy, and compare every model
            with the majority-class baseline.
        """),
        in_practice_zh=text("""
            在类别不平衡的数据上,同时报告平衡准确率或各类召回率,并把每个模型都与“总是预测多数类”的基线比较。
        """),
        related=("accuracy.definition", "mean.denominator.class-weight"),
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
        gloss=(
            "Confidence and decision boundary: the loss function usually takes the confidence of the predictions "
            "into account, while accuracy only looks at the final classification. So in some cases a model may "
            "misclassify some samples very confidently, which leads to a high loss alongside a relatively high "
            "accuracy.",
        ),
        statement=text("""
            The loss sees confidence; accuracy sees only which side of the decision boundary a prediction falls on. Two
            predictions of the same class with different confidence give the same accuracy and different cross-entropy,
            and a confident mistake costs far more than a hesitant one. Two models with the same accuracy can differ in
            calibration: at accuracy 0.75, a model that always says 0.99 has an expected calibration error (ECE, 15
            equal-width bins) of 0.24 and an NLL of 1.159, while one whose confidence matches its accuracy in every bin
            has ECE 0. Dividing the overconfident logits by a suitable temperature changes neither the predictions nor
            the accuracy, but brings the ECE to 0 and the NLL down to the binary entropy of 0.75, 0.562.
        """),
        statement_zh=text("""
            损失看得到置信度,准确率只看预测落在决策边界的哪一侧。同一类别、不同置信度的两个预测,准确率相同,交叉熵不同;自信的错误
            比犹豫的错误代价大得多。准确率相同的两个模型,校准程度可以不同:准确率为 0.75 时,总是给出 0.99 置信度的模
            型,期望校准误差(ECE,15 个等宽区间)为 0.24,NLL 为 1.159;而在每个区间中置信度都等于准确率的模
            型,ECE 为 0。把过度自信的 logits 除以一个合适的温度,既不改变预测也不改变准确率,却能使 ECE 降
            为 0,NLL 降到 0.75 的二元熵 0.562。
        """),
        in_practice=text("""
            Check calibration (ECE or a reliability diagram) on held-out data, and if the model is overconfident fit one
            temperature on validation logits: it fixes the confidence without changing any prediction.
        """),
        in_practice_zh=text("""
            在留出数据上检查校准(ECE 或可靠性图);如果模型过度自信,就在验证集 logits 上拟合一个温度:它能修正置信
            度,而不改变任何预测。
        """),
        related=("loss.continuous", "high-acc-high-loss", "trend.inverse"),
        sources=(
            GUO + ", sec. 2 (reliability diagrams, ECE eq. 3 with M = 15 bins) and sec. 4.2 (temperature scaling)",
        ),
    ),
)
