import pytest
import torch
from torch import nn

from fewshot_fer.backbones import create_backbone
from fewshot_fer.learners import PrototypicalNetwork, class_means, create_learner


class Identity(nn.Module):
    def __init__(self, out_channels=2):
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x):
        return x


def test_protonet_logits_by_hand():
    # 2-way 2-shot in 2-D; prototypes (1, 0) and (0, 2).
    support = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]).view(4, 2, 1, 1)
    support_y = torch.tensor([0, 0, 1, 1])
    query = torch.tensor([[1.0, 1.0], [0.0, 2.0]]).view(2, 2, 1, 1)
    # squared distances: q1: |(1,1)-(1,0)|^2 = 1, |(1,1)-(0,2)|^2 = 2 ; q2: 5 and 0
    squared = PrototypicalNetwork(Identity(), distance="squared")(support, support_y, query)
    assert squared.tolist() == [[-1.0, -2.0], [-5.0, -0.0]]
    # the default is the plain Euclidean distance (easyfsl's -cdist): square roots of the above
    plain = PrototypicalNetwork(Identity())(support, support_y, query)
    assert torch.allclose(plain, torch.tensor([[-1.0, -2 ** 0.5], [-5 ** 0.5, 0.0]]), atol=1e-5)
    # a fixed temperature multiplies the logits
    scaled = PrototypicalNetwork(Identity(), distance="squared", temperature=0.5)(support, support_y, query)
    assert scaled.tolist() == [[-0.5, -1.0], [-2.5, -0.0]]
    assert not any(n == "log_temperature" for n, _ in PrototypicalNetwork(Identity()).named_parameters())


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


def test_fit_and_predict_reject_undecoded_or_mismatched_images():
    learner = PrototypicalNetwork(Identity())
    sy = torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"support_x has dtype torch.uint8; .*to_model_input"):
        learner.fit(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), sy)
    with pytest.raises(ValueError, match=r"support_x must be an image batch \[B, C, H, W\], got shape \(2, 16\)"):
        learner.fit(torch.zeros(2, 16), sy)
    with pytest.raises(ValueError, match="support_x has 3 images but support_y 2 labels"):
        learner.fit(torch.zeros(3, 1, 4, 4), sy)
    fitted = learner.fit(torch.zeros(2, 1, 4, 4), sy)
    with pytest.raises(ValueError, match="images has dtype torch.uint8"):
        fitted.predict_proba(torch.zeros(5, 1, 4, 4, dtype=torch.uint8))
    assert fitted.predict_proba(torch.zeros(5, 1, 4, 4)).shape == (5, 2)


def test_bad_support_labels_and_unknown_names():
    learner = PrototypicalNetwork(Identity())
    with pytest.raises(ValueError, match=r"support labels must be 0..n_way-1 with every class present, got \[0, 2\]"):
        learner(torch.zeros(2, 1, 1, 1), torch.tensor([0, 2]), torch.zeros(1, 1, 1, 1))
    with pytest.raises(ValueError, match="unknown learner .nope.; choose one of: centroid, feat, maml, protonet, relationnet"):
        create_learner("nope", Identity())
    with pytest.raises(ValueError, match="distance must be"):
        PrototypicalNetwork(Identity(), distance="manhattan")


def test_relation_network_scores_every_class_query_pair():
    torch.manual_seed(0)
    net = create_learner("relationnet", Identity(out_channels=3)).eval()
    sx, sy = torch.randn(4, 3, 2, 2), torch.tensor([0, 1, 0, 1])
    qx = torch.randn(3, 3, 2, 2)
    logits = net(sx, sy, qx)
    classes = [(sx[0] + sx[2]) / 2, (sx[1] + sx[3]) / 2]  # class feature maps: support means
    for q in range(3):
        for k in range(2):
            pair = torch.cat([classes[k], qx[q]]).unsqueeze(0)  # [1, 2C, h, w]
            assert torch.allclose(logits[q, k], net.relation(pair)[0], atol=1e-6)
    loss, _ = net.episode_loss(sx, sy, qx, torch.tensor([1, 0, 1]))
    target = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(loss, ((torch.sigmoid(logits) - target) ** 2).mean())
    ce = create_learner("relationnet", Identity(out_channels=3), objective="ce")
    ce.load_state_dict(net.state_dict())
    ce.eval()
    assert torch.allclose(ce.episode_loss(sx, sy, qx, torch.tensor([1, 0, 1]))[0],
                          nn.functional.cross_entropy(logits, torch.tensor([1, 0, 1])), atol=1e-6)


def layer_norm(x, weight, bias, eps=1e-5):
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * weight + bias


def test_feat_adapts_prototypes_with_multi_head_attention():
    torch.manual_seed(0)
    net = create_learner("feat", Identity(out_channels=4), heads=2, distance="squared").eval()
    sx = torch.randn(6, 4, 1, 1)
    sy = torch.tensor([0, 1, 2, 0, 1, 2])
    qx = torch.randn(5, 4, 1, 1)
    protos = torch.stack([sx[sy == k].mean(0).flatten() for k in range(3)])  # [3, 4]
    attn = net.set_to_set.attention
    wq, wk, wv = attn.in_proj_weight.chunk(3)
    bq, bk, bv = attn.in_proj_bias.chunk(3)
    q, k, v = protos @ wq.T + bq, protos @ wk.T + bk, protos @ wv.T + bv
    heads = []
    for h in range(2):  # 2 heads of 2 dimensions each
        cols = slice(2 * h, 2 * h + 2)
        weights = torch.softmax(q[:, cols] @ k[:, cols].T / 2 ** 0.5, dim=-1)
        heads.append(weights @ v[:, cols])
    mixed = torch.cat(heads, -1) @ attn.out_proj.weight.T + attn.out_proj.bias
    adapted = layer_norm(protos + mixed, net.set_to_set.norm.weight, net.set_to_set.norm.bias)
    expected = -((qx.flatten(1)[:, None] - adapted[None]) ** 2).sum(-1) * net.log_scale.exp()
    assert torch.allclose(net(sx, sy, qx), expected, atol=1e-5)
    # the auxiliary term: each class's support + query embeddings transformed as one set
    qy = torch.tensor([0, 1, 2, 0, 1])
    plain = create_learner("feat", Identity(out_channels=4), heads=2, distance="squared", contrastive=0.0)
    plain.load_state_dict(net.state_dict())
    plain.eval()
    feats, labels = torch.cat([sx, qx]).flatten(1), torch.cat([sy, qy])
    centres = torch.stack([net.set_to_set(feats[labels == c][None])[0].mean(0) for c in range(3)])
    aux = -((feats[:, None] - centres[None]) ** 2).sum(-1) * net.log_scale.exp()
    gap = net.episode_loss(sx, sy, qx, qy)[0] - plain.episode_loss(sx, sy, qx, qy)[0]
    assert torch.allclose(gap, 0.1 * nn.functional.cross_entropy(aux, labels), atol=1e-5)


def test_maml_one_inner_step_from_a_zero_head_by_hand():
    # zero head: uniform softmax, so the CE gradient is (p - y) f / N with p = 1/2
    net = create_learner("maml", Identity(), inner_steps=1, eval_steps=1, inner_lr=0.5, head_init="zero").eval()
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    sy = torch.tensor([0, 1])
    grad_w = torch.tensor([[(0.5 - 1) * 1.0 / 2, 0.5 * 2.0 / 2], [0.5 * 1.0 / 2, (0.5 - 1) * 2.0 / 2]])
    grad_b = torch.tensor([(0.5 - 1 + 0.5) / 2, (0.5 + 0.5 - 1) / 2])
    w, b = -0.5 * grad_w, -0.5 * grad_b  # [[0.125, -0.25], [-0.125, 0.25]], [0, 0]
    query = torch.tensor([[2.0, 1.0]])
    expected = query @ w.T + b  # [[0.0, 0.0]] ... 2*0.125 - 0.25 = 0, -0.25 + 0.25 = 0
    with torch.no_grad():
        logits = net(f.view(2, 2, 1, 1), sy, query.view(1, 2, 1, 1))
    assert torch.allclose(logits, expected)
    query = torch.tensor([[4.0, 1.0]])
    assert torch.allclose(net(f.view(2, 2, 1, 1), sy, query.view(1, 2, 1, 1)), torch.tensor([[0.25, -0.25]]))


class TinyBody(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.out_channels = 3

    def forward(self, x):
        return torch.tanh(self.linear(x.flatten(1)))


def meta_loss(net, sx, sy, qx, qy):
    return nn.functional.cross_entropy(net(sx, sy, qx), qy)


def test_maml_second_order_gradient_matches_finite_differences_and_first_order_differs():
    torch.manual_seed(0)
    sx, qx = torch.randn(4, 1, 2, 2, dtype=torch.float64), torch.randn(4, 1, 2, 2, dtype=torch.float64)
    sy, qy = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1, 1, 0])
    body = TinyBody().double()
    second = create_learner("maml", body, inner_steps=2, inner_lr=0.5).train()
    grad = torch.autograd.grad(meta_loss(second, sx, sy, qx, qy), body.linear.weight)[0]
    numeric = torch.zeros_like(grad)
    eps = 1e-6
    with torch.no_grad():
        for i in range(3):
            for j in range(4):
                w = body.linear.weight
                w[i, j] += eps
                up = meta_loss(second, sx, sy, qx, qy)
                w[i, j] -= 2 * eps
                down = meta_loss(second, sx, sy, qx, qy)
                w[i, j] += eps
                numeric[i, j] = (up - down) / (2 * eps)
    assert torch.allclose(grad, numeric, atol=1e-7), (grad, numeric)
    first = create_learner("maml", body, inner_steps=2, inner_lr=0.5, first_order=True).train()
    first_grad = torch.autograd.grad(meta_loss(first, sx, sy, qx, qy), body.linear.weight)[0]
    assert (first_grad - grad).abs().max() > 1e-4


@pytest.mark.parametrize("name, kwargs", [("relationnet", {}), ("feat", {}), ("maml", {"inner_steps": 2}),
                                          ("maml", {"adapt": "all", "inner_steps": 1, "first_order": True,
                                                    "batch_norm": "running"})])
def test_every_learner_trains_its_backbone_and_fit_matches_forward(name, kwargs):
    torch.manual_seed(0)
    learner = create_learner(name, create_backbone("conv4", in_chans=1), **kwargs)
    sx, qx = torch.randn(6, 1, 32, 32), torch.randn(4, 1, 32, 32)
    sy, qy = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 2, 0])
    loss, logits = learner.episode_loss(sx, sy, qx, qy)
    assert logits.shape == (4, 3)
    loss.backward()
    grad = learner.backbone.blocks[0][0].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    learner.eval()
    with torch.no_grad():
        direct = learner(sx, sy, qx)
    fitted = learner.fit(sx, sy)
    assert torch.allclose(fitted.predict_logits(qx), direct, atol=1e-4)
