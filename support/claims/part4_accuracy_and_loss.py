"""Part 4 of the source: accuracy and loss."""

from support.claims.schema import Claim, Part, Verdict, bullets, text

P = Part.ACCURACY_AND_LOSS
GUO = "Guo, Pleiss, Sun, Weinberger 2017, On Calibration of Modern Neural Networks"
CE_DOCS = "PyTorch docs, torch.nn.CrossEntropyLoss"
ARGMAX_DOCS = "PyTorch docs, torch.argmax: if there are multiple maximal values, the index of the first is returned"

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="accuracy.definition",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Because accuracy = correct / N takes only the values k/N and is piecewise constant in the logits: its
            gradient is zero almost everywhere and argmax cannot be differentiated, so training minimises a loss.
        """),
        short_answer_zh=text("""
            因为准确率 = 正确数 / N,只取 k/N 这些值,对 logits 是分段常数:梯度几乎处处为零,argmax 也无法求导,所以训练时最
            小化损失。
        """),
        questions=(
            "Why can't I train on accuracy directly?",
            "Why does accuracy move in jumps while the loss moves smoothly?",
        ),
        questions_zh=(
            "为什么不能直接用准确率训练?",
            "为什么准确率跳跃变化,而损失平滑变化?",
        ),
        quotes=(
            "准确率:表示模型正确预测的样本数量占总样本数量的比例,通常以百分比形式表示。它是一个离散的指标,只有在模型做出正确分类时才会增加。",
        ),
        gloss=(
            (
                "Accuracy: the proportion of correctly predicted samples among all samples, usually given as a "
                "percentage. It is a discrete metric that increases only when the model classifies correctly."
            ),
        ),
        statement=bullets("""
            - Accuracy is the number of samples whose argmax class equals the target, divided by N, so it takes only the
              values k / N; ties go to the first maximal class, as torch.argmax returns.
            - As a function of the logits it is piecewise constant: perturbations smaller than half of every sample's
              gap between its two largest logits change no prediction, and it moves only by jumps of 1/N, when a
              sample's top class changes, while the loss changes continuously.
            - Its gradient is therefore zero almost everywhere, and autograd cannot differentiate it at all (argmax
              returns integers), which is why training minimises a differentiable loss instead.
        """),
        statement_zh=bullets("""
            - 准确率是 argmax 类别等于目标的样本数除以 N,因此只取 k / N 这些值;并列时取第一个最大类别,与 torch.argmax 的
              返回值一致。
            - 作为 logits 的函数,它是分段常数:小于每个样本最大两个 logit 之差一半的扰动不会改变任何预测;只有当某个样本的
              最大类别改变时,它才以 1/N 跳变,而损失是连续变化的。
            - 因此它的梯度几乎处处为零,autograd 也根本无法对它求导(argmax 返回整数),这就是训练时最小化可微的损失而不是准
              确率的原因。
        """),
        in_practice=text("""
            Train on a differentiable loss, compute accuracy under torch.no_grad() as a metric, and expect it to move
            in steps of 1/N on a small evaluation set.
        """),
        in_practice_zh=text("""
            用可微的损失训练,在 torch.no_grad() 下把准确率作为指标计算;在小的评估集上,它会
            以 1/N 为步长跳动。
        """),
        related=(
            "loss.continuous",
            "imbalance.misleading",
            "high-acc-high-loss",
        ),
        sources=(
            ARGMAX_DOCS,
            "Goodfellow, Bengio, Courville, Deep Learning, sec. 8.1.2 (surrogate loss functions)",
        ),
    ),
    Claim(
        id="loss.continuous",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes: scaling the logits by any temperature T > 0 keeps every prediction and the accuracy, while
            cross-entropy changes continuously with T, reflecting the model's confidence.
        """),
        short_answer_zh=text("""
            会:把 logits 乘以任意温度 T > 0,每个预测和准确率都不变,而交叉熵随 T 连续变化,反映模型的置信度。
        """),
        questions=("Can the loss change while accuracy stays the same?",),
        questions_zh=("准确率不变时,损失会变化吗?",),
        quotes=("损失值是一个连续变量,反映了模型预测的不确定性或错误程度。",),
        gloss=(
            (
                "The loss value is a continuous variable that reflects the uncertainty or the degree of error of the "
                "model's predictions."
            ),
        ),
        statement=bullets("""
            - Cross-entropy is a smooth function of the logits that reflects confidence, where accuracy does not.
            - Multiplying the logits by any temperature T > 0 keeps every argmax, hence the accuracy, while the loss
              changes continuously with T, by at most |T - 1| times the mean over samples of the largest gap |z_ij -
              z_iy| between a logit and the target's.
            - As T grows, the loss of a correctly classified sample falls towards 0 and that of a misclassified one
              grows linearly in T.
        """),
        statement_zh=bullets("""
            - 交叉熵是 logits 的光滑函数,能反映置信度,而准确率不能。
            - 把 logits 乘以任意温度 T > 0,每个 argmax 都不变,准确率因此不变,而损失随 T 连续变化,变化量至多为 |T - 1| 乘
              以各样本中 logit 与目标 logit 之差的最大绝对值 |z_ij - z_iy| 的平均。
            - 随着 T 增大,分类正确的样本的损失趋于 0,分类错误的样本的损失随 T 线性增长。
        """),
        in_practice=text("""
            Track the validation loss next to accuracy: it shows growing over- or under-confidence (a drifting logit
            scale) that accuracy cannot see.
        """),
        in_practice_zh=text("""
            在准确率之外同时跟踪验证集损失:它能显示准确率看不到的、逐渐增强的过度自信或信心不足(logit 尺度的漂
            移)。
        """),
        related=(
            "accuracy.definition",
            "loss.measures-error",
            "confidence.vs-boundary",
        ),
        sources=(
            CE_DOCS,
            GUO + ", sec. 4.2 (temperature scaling does not change the argmax)",
        ),
    ),
    Claim(
        id="trend.inverse",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Usually, not always: in most seeded runs held-out loss and accuracy move inversely, but a held-out NLL can
            rise while accuracy still improves, from overconfidence rather than a worse classifier.
        """),
        short_answer_zh=text("""
            通常如此,但并非总是:多数带种子的训练中验证损失与准确率反向变化;但验证 NLL 可能在准确率仍提高时上升,这来自过
            度自信,而不是分类器变差。
        """),
        questions=(
            "Validation loss rises while accuracy still improves: is the model getting worse?",
            "Do loss and accuracy always move in opposite directions?",
        ),
        questions_zh=(
            "验证损失上升而准确率仍在提高:模型变差了吗?",
            "损失和准确率总是反向变化吗?",
        ),
        quotes=(
            "通常情况下,随着模型性能的提升,准确率会提高,而损失值会降低。这是因为较低的损失值 意味着模型的预测更接近真实标签,从而导致更高的准确率。然而,这种关系并不是绝对的。",
        ),
        gloss=(
            (
                "Usually, as the model improves, accuracy rises and the loss falls, because a lower loss means "
                "predictions closer to the true labels and hence higher accuracy. But the relation is not absolute."
            ),
        ),
        statement=bullets("""
            - Usually, not always. Say that held-out loss and accuracy move inversely in a training run when their
              Spearman rank correlation over the run's evaluations is negative.
            - Training small MLPs on synthetic Gaussian blobs with minibatch SGD, most seeded runs do: more than half of
              all seeds, at 99% confidence from a one-sided Clopper-Pearson bound over independent runs.
            - From one epoch to the next, held-out loss falls when held-out accuracy rises (and the other way round)
              more often than not, by a Hoeffding bound over runs; single epochs can disagree, since accuracy moves in
              steps of 1/N.
            - The relation is not absolute: with few training samples and one informative low-variance feature, the
              held-out NLL reaches its minimum early and then rises while held-out accuracy still improves, both by more
              than twice their paired standard error, in a sizeable share of seeded runs (at least one in four, at 99%
              confidence).
            - The network grows confident on the samples it still gets wrong (Guo et al. 2017, sec. 3 and Fig. 3);
              gradient descent can keep improving the classifier while the validation loss rises (Soudry et al. 2018).
        """),
        statement_zh=bullets("""
            - 通常如此,但并不总是。若一次训练中验证集损失与验证集准确率在各次评估上的 Spearman 秩相关为负,就称二者在这次
              训练中反向变化。
            - 用小批量 SGD 在合成高斯团数据上训练小型 MLP,大多数带种子的训练都是如此:根据对相互独立的训练所作的单侧
              Clopper-Pearson 界,以 99% 的置信度,超过一半的种子如此。
            - 从一个 epoch 到下一个 epoch,验证集准确率上升时验证集损失下降(反之亦然)的情况多于相反的情况(对各次训练的
              Hoeffding 界);单个 epoch 可能不一致,因为准确率以 1/N 为步长变化。
            - 这种关系并非绝对:当训练样本很少、且只有一个低方差的特征携带主要信息时,验证集 NLL 很早就达到最低点,之后上
              升,而验证集准确率仍在提高,两者的变化都超过各自配对标准误的两倍;这在相当一部分带种子的训练中出现(以 99% 的
              置信度,至少四次中有一次)。
            - 网络对它仍然分错的样本越来越自信(Guo 等 2017,第 3 节与图 3);梯度下降可以在验证损失上升的同时继续改进分类
              器(Soudry 等 2018)。
        """),
        in_practice=text("""
            Watch held-out loss and accuracy together: they usually move in opposite directions, but a validation NLL
            that rises while accuracy still rises means overconfidence (calibrate, e.g. temperature scaling, or
            early-stop on the metric you care about), not necessarily a worse classifier.
        """),
        in_practice_zh=text("""
            同时监控验证集损失和准确率:二者通常反向变化,但若验证 NLL 上升而准确率仍在上升,说明模型变得过度自
            信(可做校准,如温度缩放,或按真正关心的指标早停),不一定是分类器变差了。
        """),
        related=(
            "confidence.vs-boundary",
            "high-acc-high-loss",
            "low-acc-low-loss",
            "accuracy.definition",
        ),
        sources=(
            (
                "Guo, Pleiss, Sun & Weinberger 2017, On Calibration of Modern Neural Networks, ICML, "
                "arXiv:1706.04599, sec. 3 and Fig. 3 (NLL overfitting while the test error keeps falling)"
            ),
            (
                "Soudry, Hoffer, Nacson, Gunasekar & Srebro 2018, The Implicit Bias of Gradient Descent on Separable "
                'Data, JMLR 19(70), arXiv:1710.10345 (abstract: optimising on helps "even if the validation loss '
                'increases")'
            ),
            (
                "Clopper & Pearson 1934, The use of confidence or fiducial limits illustrated in the case of the "
                "binomial, Biometrika 26(4):404-413"
            ),
            "Hoeffding 1963, Probability inequalities for sums of bounded random variables, JASA 58(301):13-30, Thm 1",
            (
                "McNemar 1947, Note on the sampling error of the difference between correlated proportions or "
                "percentages, Psychometrika 12(2):153-157"
            ),
            "Spearman rank correlation with average ranks for ties",
        ),
    ),
    Claim(
        id="high-acc-high-loss",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Yes: a few confidently wrong predictions can dominate the mean cross-entropy; at any accuracy below 100% the
            loss has no upper bound.
        """),
        short_answer_zh=text("""
            可能:少数自信的错误预测就能主导平均交叉熵;在任何低于 100% 的准确率下,损失都没有上界。
        """),
        questions=(
            "Can a more accurate model have a higher loss?",
            "Why is my loss high although accuracy is high?",
        ),
        questions_zh=(
            "准确率更高的模型,损失可能也更高吗?",
            "为什么准确率很高,损失却也很高?",
        ),
        quotes=(
            "**高准确率但高损失**:在某些情况下,模型可能在大多数样本上做出正确预测,但在少数样本上犯了较大的错误。这种情况下,尽管准确率很高,但由于少数错误预测导致较高的损失。",
            "例如,一个二分类模型可能在95%的样本上预测正确,但对于5%的样本,它可能非常自信地预测错误,从而导致较高的损失。",
        ),
        gloss=(
            (
                "High accuracy but high loss: in some cases a model may predict most samples correctly but make large "
                "errors on a few. Then, although the accuracy is high, those few wrong predictions cause a high loss."
            ),
            (
                "For example, a binary classifier may be right on 95% of the samples but very confidently wrong on "
                "the other 5%, which leads to a high loss."
            ),
        ),
        statement=bullets("""
            - A classifier can be more accurate and still have the higher loss: a binary classifier right on 95% of the
              samples with p_y = 0.99 and confidently wrong on 5% with p_y = 1e-4 has a mean cross-entropy of 0.470,
              above the 0.423 of a calibrated classifier that is right on only 85% (p_y = 0.85 on those, 0.15 on the
              rest).
            - Its few confident mistakes carry almost all of that loss.
            - Their contribution, (1 - accuracy) * (-ln(1 - q)) for a wrong confidence q, grows without bound as q -> 1,
              so at any accuracy below 100% the loss has no upper bound; its lower bound is the floor (1 - accuracy) ln
              2 of low-acc-low-loss.
        """),
        statement_zh=bullets("""
            - 准确率更高的分类器,损失也可能更高:一个二分类器在 95% 的样本上以 p_y = 0.99 预测正确,在 5% 的样本上以 p_y =
              1e-4 自信地预测错误,其平均交叉熵为 0.470,高于一个只在 85% 的样本上正确、但经过校准的分类器的 0.423(正确样
              本 p_y = 0.85,其余为 0.15)。
            - 这个损失几乎全部来自那几个自信的错误。
            - 它们的贡献 (1 - 准确率)·(-ln(1 - q))(q 为对错误类别的置信度)在 q → 1 时无界增长,所以在任何低于 100% 的准确
              率下,损失都没有上界;它的下界是 low-acc-low-loss 中的下限 (1 - 准确率)·ln 2。
        """),
        in_practice=text("""
            When accuracy is high but the loss is high or rising, inspect the samples with the largest per-sample
            loss: a few confident mistakes (or mislabelled samples) can dominate the mean.
        """),
        in_practice_zh=text("""
            准确率高而损失也高或在上升时,检查逐样本损失最大的那些样本:少数自信的错误(或标注错误的样本)就可能主导平均
            损失。
        """),
        related=(
            "confidence.vs-boundary",
            "loss.continuous",
            "accuracy.definition",
        ),
        sources=(
            CE_DOCS,
            GUO + ", Table 1 and Tables S2-S3 (ResNet-110, CIFAR-100)",
        ),
    ),
    Claim(
        id="low-acc-low-loss",
        part=P,
        verdict=Verdict.QUALIFIED,
        short_answer=text("""
            Yes, compared with another model, but never below (1 - accuracy) ln 2, since a misclassified sample has p_y
            <= 1/2; every loss above that floor is reachable at every accuracy.
        """),
        short_answer_zh=text("""
            可能(与另一个模型相比),但永远不低于 (1 - 准确率)·ln 2,因为分错的样本 p_y ≤ 1/2;在任何准确率下,下限之上的每个
            损失值都能达到。
        """),
        questions=(
            "Can a model with low accuracy have a lower loss?",
            "How low can the loss be at a given accuracy?",
        ),
        questions_zh=(
            "准确率低的模型,损失可能更低吗?",
            "在给定的准确率下,损失最低能到多少?",
        ),
        quotes=(
            "低准确率但低损失:相反,也可能出现模型总体表现不佳(低准确率),但由于其对每个样本的预测相对一致(即使不正确),导致较低的损失。这种情况通常发生在模型对所有类别都没有很强信心时。",
        ),
        gloss=(
            (
                "Low accuracy but low loss: conversely, a model can perform poorly overall (low accuracy) yet have a "
                "lower loss because its predictions are fairly uniform across samples (even if wrong). This usually "
                "happens when the model is not strongly confident about any class."
            ),
        ),
        statement=bullets("""
            - True as a comparison, above a floor: a misclassified sample has p_y <= 1/2, so its cross-entropy is at
              least ln 2, whatever the tie rule, and mean CE >= (1 - accuracy) ln 2.
            - That floor is the only condition: at every accuracy below 1, every loss above it is reached, so a less
              accurate model can have the lower loss.
            - The source's case, a model slightly wrong everywhere, is one: a binary model at p_y = 0.49 on every sample
              (accuracy 0, CE -ln 0.49, about 0.713) has a lower loss than one right on 90% at p_y = 0.99 and
              confidently wrong on 10% at p_y = 1e-4 (accuracy 0.9, CE about 0.930).
            - The source's reason, no strong confidence about any class, does not make a loss low by itself: uniform
              predictions over K classes cost exactly ln K, the loss of knowing nothing, which is high for large K.
            - What keeps the example's loss low is a target probability close to 1/2: with the rest on one other class
              it costs -ln 0.49 for any K, below the uniform model's ln K from K = 3 on, although the uniform model is
              the more accurate.
        """),
        statement_zh=bullets("""
            - 作为比较成立,但有下限:被分错的样本 p_y ≤ 1/2,所以其交叉熵至少为 ln 2(与并列时取哪个类别无关),平均交叉熵 ≥
              (1 − 准确率)·ln 2。
            - 这个下限是唯一的条件:在任何低于 1 的准确率下,高于下限的每个损失值都能达到,所以准确率较低的模型可以有较低的
              损失。
            - 原文的情形——一个处处都只错一点的模型——就是一例:一个二分类模型在每个样本上 p_y = 0.49(准确率 0,交叉熵 −ln
              0.49,约 0.713),其损失低于一个在 90% 的样本上以 p_y = 0.99 分对、在 10% 的样本上以 p_y = 1e-4 自信地分错的
              模型(准确率 0.9,交叉熵约 0.930)。
            - 原文给出的原因——对所有类别都没有很强的信心——本身并不能让损失变低:在 K 个类别上均匀预测的损失恰为 ln K,即一
              无所知时的损失,K 大时很高。
            - 让例子中的损失偏低的是接近 1/2 的目标概率:其余概率都放在另外一个类别上时,无论 K 是多少损失都是 −ln 0.49,从
              K = 3 起低于均匀模型的 ln K,尽管均匀模型的准确率更高。
        """),
        in_practice=text("""
            Do not read a lowish loss as decent accuracy: compare the loss with the floor (1 - accuracy) ln 2 and with
            ln K (uniform guessing), and always report accuracy next to it.
        """),
        in_practice_zh=text("""
            不要把偏低的损失当作准确率尚可:把损失与下限 (1 − 准确率)·ln 2 以及 ln K(均匀猜测的损
            失)相比较,并始终同时报告准确率。
        """),
        related=(
            "high-acc-high-loss",
            "trend.inverse",
            "accuracy.definition",
        ),
        sources=(
            CE_DOCS,
            ARGMAX_DOCS,
        ),
    ),
    Claim(
        id="imbalance.misleading",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Always predicting the majority class reaches an accuracy equal to its share with zero recall on every other
            class; balanced accuracy, the mean per-class recall, is then exactly 1/K and exposes it.
        """),
        short_answer_zh=text("""
            总是预测多数类,准确率就等于它的占比,而其他每个类的召回率都是零;平衡准确率(各类召回率的平均)此时恰为 1/K,能揭
            示这一点。
        """),
        questions=(
            "Why is accuracy misleading on imbalanced data?",
            "Which metric should I report on imbalanced classes?",
        ),
        questions_zh=(
            "为什么在类别不平衡的数据上准确率有误导性?",
            "类别不平衡时应该报告什么指标?",
        ),
        quotes=(
            "**类别不平衡**:在类别不平衡的数据集中,准确率可能会给出误导性的结果。例如,如果某一类别占据了大部分数据,模型可能只需简单地预测该类别就能获得高准确率,但这并不能反映其对其他类别的学习能力。",
        ),
        gloss=(
            (
                "Class imbalance: on a class-imbalanced data set accuracy can be misleading. For example, if one "
                "class makes up most of the data, a model can reach high accuracy simply by always predicting that "
                "class, which does not reflect how well it has learned the other classes."
            ),
        ),
        statement=bullets("""
            - On data where the majority class holds a share s of the samples, the constant predictor that always
              outputs that class reaches an accuracy equal to s (exactly its count divided by N) while its recall on
              every minority class is 0.
            - Balanced accuracy, the mean of the per-class recalls, is then exactly 1/K for K classes and exposes it.
            - A model that recovers the minority classes can have a lower accuracy than the constant predictor and a far
              higher balanced accuracy.
        """),
        statement_zh=bullets("""
            - 在多数类占样本比例为 s 的数据上,总是输出该类别的常数预测器,其准确率就等于 s(恰为该类样本数除以 N),而它在每
              个少数类上的召回率都是 0。
            - 平衡准确率,即各类召回率的平均,此时对 K 个类别恰为 1/K,能揭示这一点。
            - 一个能找出少数类的模型,准确率可能低于常数预测器,平衡准确率却高得多。
        """),
        in_practice=text("""
            On imbalanced data, report balanced accuracy or per-class recall next to accuracy, and compare every model
            with the majority-class baseline.
        """),
        in_practice_zh=text("""
            在类别不平衡的数据上,同时报告平衡准确率或各类召回率,并把每个模型都与“总是预测多数类”的基线比较。
        """),
        related=(
            "accuracy.definition",
            "mean.denominator.class-weight",
        ),
        sources=(
            "Brodersen, Ong, Stephan, Buhmann 2010, The balanced accuracy and its posterior distribution (ICPR)",
            "scikit-learn docs, balanced_accuracy_score",
        ),
    ),
    Claim(
        id="confidence.vs-boundary",
        part=P,
        verdict=Verdict.CONFIRMED,
        short_answer=text("""
            Because the loss sees confidence and accuracy only the decision: at equal accuracy calibration (ECE, NLL)
            can differ, and dividing the logits by a suitable temperature changes calibration without changing any
            prediction.
        """),
        short_answer_zh=text("""
            因为损失看得到置信度,准确率只看判定:准确率相同时校准(ECE、NLL)可以不同;把 logits 除以合适的温度能改变校准,而
            不改变任何预测。
        """),
        questions=(
            "Why do two models with the same accuracy have different losses?",
            "How do I fix an overconfident model without changing its predictions?",
        ),
        questions_zh=(
            "为什么准确率相同的两个模型损失不同?",
            "怎样在不改变预测的情况下修正过度自信的模型?",
        ),
        quotes=(
            "置信度与决策边界: 损失函数通常考虑了模型预测的置信度,而准确率只关注最终分类结果。因此,在一些情况下,模型可能在某些样本上非常自信地做出错误分类,这会导致较高的损失而相对较高的准确率。",
        ),
        gloss=(
            (
                "Confidence and decision boundary: the loss function usually takes the confidence of the predictions "
                "into account, while accuracy only looks at the final classification. So in some cases a model may "
                "misclassify some samples very confidently, which leads to a high loss alongside a relatively high "
                "accuracy."
            ),
        ),
        statement=bullets("""
            - The loss sees confidence; accuracy sees only which side of the decision boundary a prediction falls on.
            - Two predictions of the same class with different confidence give the same accuracy and different
              cross-entropy, and a confident mistake costs far more than a hesitant one.
            - Two models with the same accuracy can differ in calibration: at accuracy 0.75, a model that always says
              0.99 has an expected calibration error (ECE, 15 equal-width bins) of 0.24 and an NLL of 1.159, while one
              whose confidence matches its accuracy in every bin has ECE 0.
            - Dividing the overconfident logits by a suitable temperature changes neither the predictions nor the
              accuracy, but brings the ECE to 0 and the NLL down to the binary entropy of 0.75, 0.562.
        """),
        statement_zh=bullets("""
            - 损失看得到置信度,准确率只看预测落在决策边界的哪一侧。
            - 同一类别、不同置信度的两个预测,准确率相同,交叉熵不同;自信的错误比犹豫的错误代价大得多。
            - 准确率相同的两个模型,校准程度可以不同:准确率为 0.75 时,总是给出 0.99 置信度的模型,期望校准误差(ECE,15 个等
              宽区间)为 0.24,NLL 为 1.159;而在每个区间中置信度都等于准确率的模型,ECE 为 0。
            - 把过度自信的 logits 除以一个合适的温度,既不改变预测也不改变准确率,却能使 ECE 降为 0,NLL 降到 0.75 的二元熵
              0.562。
        """),
        in_practice=text("""
            Check calibration (ECE or a reliability diagram) on held-out data, and if the model is overconfident fit
            one temperature on validation logits: it fixes the confidence without changing any prediction.
        """),
        in_practice_zh=text("""
            在留出数据上检查校准(ECE 或可靠性图);如果模型过度自信,就在验证集 logits 上拟合一个温度:它能
            修正置信度,而不改变任何预测。
        """),
        related=(
            "loss.continuous",
            "high-acc-high-loss",
            "trend.inverse",
        ),
        sources=(
            GUO + ", sec. 2 (reliability diagrams, ECE eq. 3 with M = 15 bins) and sec. 4.2 (temperature scaling)",
        ),
    ),
)
