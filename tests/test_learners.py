import pytest
import torch
from torch import nn

from fewshot_fer.backbones import create_backbone
from fewshot_fer.learners import PrototypicalNetwork, class_means, create_learner


class Identity(nn.Module):
    def forward(self, x):
        return x


def test_protonet_logits_by_hand():
    # 2-way 2-shot in 2-D; prototypes (1, 0) and (0, 2).
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]).view(4, 2, 1, 1)
    support_y = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[1.0, 1.0], [0.0, 2.0]]).view(2, 2, 1, 1)
    logits = PrototypicalNetwork(Identity())(support, support_y, query)
    # q1: |(1,1)-(1,0)|^2 = 1, |(1,1)-(0,2)|^2 = 2 ; q2: 5 and 0
    assert logits.tolist() == [[-1.0, -2.0], [-5.0, -0.0]]


def test_class_means_and_cosine_variant():
    f = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    assert class_means(f, torch.tensor([0, 0, 1]), 2).tolist() == [[2.0, 0.0], [0.0, 2.0]]
    net = PrototypicalNetwork(Identity(), distance="cosine", temperature=5.0)
    logits = net(f.view(3, 2, 1, 1), torch.tensor([0, 0, 1]), torch.tensor([[1.0, 1.0]]).view(1, 2, 1, 1))
    assert logits.flatten().tolist() == pytest.approx([5 / 2 ** 0.5, 5 / 2 ** 0.5])


def test_gradients_reach_the_backbone_and_fit_matches_forward():
    torch.manual_seed(0)
    learner = create_learner("protonet", create_backbone("conv4", in_chans=3))
    sx, qx = torch.randn(6, 3, 32, 32), torch.randn(4, 3, 32, 32)
    sy = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = nn.functional.cross_entropy(learner(sx, sy, qx), torch.tensor([0, 1, 2, 0]))
    loss.backward()
    first_conv = learner.backbone.blocks[0][0].weight
    assert first_conv.grad is not None and first_conv.grad.abs().sum() > 0
    learner.eval()
    with torch.no_grad():
        direct = learner.score(learner.embed(sx), sy, learner.embed(qx))
    fitted = learner.fit(sx, sy)
    assert torch.allclose(fitted.predict_logits(qx, batch_size=3), direct, atol=1e-5)
    assert torch.allclose(fitted.predict_proba(qx).sum(-1), torch.ones(4))


def test_bad_support_labels_and_unknown_names():
    learner = PrototypicalNetwork(Identity())
    with pytest.raises(ValueError, match=r"support labels must be 0..n_way-1 with every class present, got \[0, 2\]"):
        learner(torch.zeros(2, 1, 1, 1), torch.tensor([0, 2]), torch.zeros(1, 1, 1, 1))
    with pytest.raises(ValueError, match="unknown learner 'nope'; choose one of: protonet"):
        create_learner("nope", Identity())
    with pytest.raises(ValueError, match="distance must be"):
        PrototypicalNetwork(Identity(), distance="manhattan")
