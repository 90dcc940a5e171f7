"""The test-time feature transforms (SimpleShot normalisation, signed power, flip and shift views,
transductive refinement): golden values by hand, alone and inside learners."""

import pytest
import torch
from torch import nn

from fewshot_fer.features import FeatureSteps, SignedPower, TestTimeViews, evaluation_views, refine_prototypes
from fewshot_fer.learners import PrototypicalNetwork, create_learner
from fewshot_fer.learners.base import FewShotLearner, check_support_labels
from fewshot_fer.learners.protonet import class_means


class Identity(nn.Module):
    out_channels = 2

    def forward(self, x):
        return x


def as_images(rows):
    return torch.tensor(rows, dtype=torch.float32).view(len(rows), 2, 1, 1)


def test_centring_and_l2_by_hand():
    net = PrototypicalNetwork(Identity(), centre=True, l2=True)
    net.set_feature_mean(torch.tensor([1.0, 1.0]))
    # support (4, 1), (1, 5) -> centred (3, 0), (0, 4) -> unit (1, 0), (0, 1); query (2, 2) -> (1, 1)/sqrt2
    logits = net(as_images([[4, 1], [1, 5]]), torch.tensor([0, 1]), as_images([[2, 2]]))
    d = (2 - 2 ** 0.5) ** 0.5  # |(1/sqrt2, 1/sqrt2) - (1, 0)|
    assert torch.allclose(logits, torch.tensor([[-d, -d]]), atol=1e-6)
    only_l2 = PrototypicalNetwork(Identity(), l2=True)
    # (3, 4) -> (0.6, 0.8); prototype of class 0 from (6, 8) -> (0.6, 0.8): distance 0
    out = only_l2(as_images([[6, 8], [0, 2]]), torch.tensor([0, 1]), as_images([[3, 4]]))
    assert torch.allclose(out, torch.tensor([[0.0, -((0.6 ** 2 + 0.2 ** 2) ** 0.5)]]), atol=1e-3)


def test_centring_needs_the_mean_and_the_mean_travels_in_the_state_dict():
    net = PrototypicalNetwork(Identity(), centre=True)
    with pytest.raises(ValueError, match="centre=true needs the mean feature of the training classes"):
        net(as_images([[1, 0], [0, 1]]), torch.tensor([0, 1]), as_images([[1, 1]]))
    net.set_feature_mean(torch.tensor([0.5, -2.0]))
    fresh = PrototypicalNetwork(Identity(), centre=True)
    fresh.load_state_dict(net.state_dict())
    assert fresh.norm.centring.mean.tolist() == [0.5, -2.0]
    # without centring nothing is stored: checkpoints of plain learners keep their keys
    plain = PrototypicalNetwork(Identity())
    assert "norm.centring.mean" not in plain.state_dict()
    plain.load_state_dict(net.state_dict())  # centring turned off at evaluation ignores the stored mean
    assert not plain.norm.needs_mean and plain.norm.centring.mean.numel() == 0
    later = PrototypicalNetwork(Identity(), centre=True)
    later.load_state_dict(plain.state_dict())  # centring turned on at evaluation: the mean comes later
    later.set_feature_mean(torch.tensor([1.0, 1.0]))
    assert "norm.centring.mean" in later.state_dict()
    # set_feature_mean turns centring on: (3, 2) -> (2, 1) is nearer (2, 2) -> (1, 1) than (0, 4) -> (-1, 3)
    plain.set_feature_mean(torch.tensor([1.0, 1.0]))
    logits = plain(as_images([[2, 2], [0, 4]]), torch.tensor([0, 1]), as_images([[3, 2]]))
    assert torch.allclose(logits, -torch.tensor([[1.0, 13 ** 0.5]]), atol=1e-6)


class FirstColumn(nn.Module):
    """Embeds a 1x2 image as its left pixel: a mirror image gives the right pixel."""
    out_channels = 1

    def forward(self, x):
        return x[..., :1]


def test_flip_averaging_by_hand():
    net = PrototypicalNetwork(FirstColumn(), flip=True)
    x = torch.tensor([[[[2.0, 6.0]]], [[[1.0, 3.0]]]])  # [2, 1, 1, 2]
    net.train()
    assert net.embed(x).flatten().tolist() == [2.0, 1.0]  # training: no averaging
    net.eval()
    assert net.embed(x).flatten().tolist() == [4.0, 2.0]  # (2 + 6) / 2, (1 + 3) / 2


def test_soft_kmeans_refinement_by_hand():
    support = torch.tensor([[0.0, 0.0], [4.0, 0.0]])
    support_y = torch.tensor([0, 1])
    query = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    w = torch.tensor([[0.75, 0.25], [0.25, 0.75]])
    # class 0: (0 + 0.75 * 1 + 0.25 * 3) / (1 + 0.75 + 0.25) = 1.5 / 2 = 0.75; class 1: (4 + 0.25 + 2.25) / 2 = 3.25
    assert refine_prototypes(support, support_y, query, w).tolist() == [[0.75, 0.0], [3.25, 0.0]]
    # one step inside the learner: squared distances, temperature 1
    net = PrototypicalNetwork(Identity(), distance="squared", transductive_steps=1)
    logits = net(as_images(support.tolist()), support_y, as_images(query.tolist()))
    p0 = torch.softmax(torch.tensor([-1.0, -9.0]), 0)  # query 1 against prototypes 0 and 4
    c0 = (0 + p0[0] * 1 + p0[1] * 3) / (1 + p0[0] + p0[1])  # symmetric: class 1 is 4 - c0
    expected = -torch.tensor([[(1 - c0) ** 2, (3 - c0) ** 2], [(3 - c0) ** 2, (1 - c0) ** 2]])
    assert torch.allclose(logits, expected, atol=1e-5)
    assert torch.equal(PrototypicalNetwork(Identity(), distance="squared")(
        as_images(support.tolist()), support_y, as_images(query.tolist())), -torch.tensor([[1.0, 9.0], [9.0, 1.0]]))


def test_centroid_necks_give_the_documented_embeddings():
    from fewshot_fer.backbones import create_backbone

    x = torch.randn(3, 1, 48, 48)
    for neck, size, classifier_input in (("pool", 64, 64), ("flatten", 576, 576), ("dense", 64, 256)):
        net = create_learner("centroid", create_backbone("conv4"), n_classes=4, neck=neck).eval()
        assert net.embed(x).shape == (3, size), neck
        assert net.penultimate(x).shape == (3, classifier_input), neck
        assert net.classify(x).shape == (3, 4), neck
    # the dense neck is trained to separate the training classes: few-shot features are the pooled maps
    dense = create_learner("centroid", create_backbone("conv4"), n_classes=4, neck="dense").eval()
    assert torch.allclose(dense.embed(x), dense.backbone(x).mean(dim=(-2, -1)))
    with pytest.raises(ValueError, match="neck must be one of dense, pool, flatten; got 'gap'"):
        create_learner("centroid", create_backbone("conv4"), neck="gap")


def test_separate_passes_change_only_training_batch_statistics():
    from fewshot_fer.backbones import create_backbone

    torch.manual_seed(0)
    joint = create_learner("protonet", create_backbone("conv4"))
    separate = create_learner("protonet", create_backbone("conv4"), separate_passes=True)
    separate.load_state_dict(joint.state_dict())
    sx, qx, sy = torch.randn(6, 1, 32, 32), torch.randn(4, 1, 32, 32), torch.tensor([0, 0, 1, 1, 2, 2])
    joint.eval(), separate.eval()
    assert torch.allclose(joint(sx, sy, qx), separate(sx, sy, qx), atol=1e-5)  # running statistics: the same
    joint.train(), separate.train()
    # training: support alone and query alone are normalised by their own batch statistics
    assert not torch.allclose(joint(sx, sy, qx), separate(sx, sy, qx), atol=1e-3)
    by_hand = separate.score(separate.embed(sx), sy, separate.embed(qx))
    assert torch.allclose(separate(sx, sy, qx), by_hand, atol=1e-5)


class TopLeft(nn.Module):
    """Embeds an image as its top-left pixel."""
    out_channels = 1

    def forward(self, x):
        return x[..., :1, :1]


def test_shift_averaging_by_hand():
    x = torch.arange(1.0, 10.0).view(1, 1, 3, 3)  # rows 1 2 3 / 4 5 6 / 7 8 9
    net = PrototypicalNetwork(TopLeft(), shift=1).eval()
    # the image (top-left 1) and its four 1-pixel shifts on a replicate-padded copy: moved down and
    # right its top-left is the repeated 1; moved down-left 2, up-right 4, up-left 5
    assert net.embed(x).item() == pytest.approx((1 + 1 + 2 + 4 + 5) / 5)
    # with flip also the mirror image's views: its rows are 3 2 1 / 6 5 4 / 9 8 7, top-left views 3, 3, 2, 6, 5
    both = PrototypicalNetwork(TopLeft(), shift=1, flip=True).eval()
    assert both.embed(x).item() == pytest.approx((13 + 19) / 10)
    assert net.train().embed(x).item() == 1.0  # training: the image alone
    with pytest.raises(ValueError, match=r"transductive_steps must be from 0 to 1000 and shift from 0 to 16, "
                                         r"got 0 and -1\.$"):
        PrototypicalNetwork(TopLeft(), shift=-1)


def test_a_checkpoint_from_before_the_split_keeps_its_mean():
    # checkpoints written before the steps were files of their own stored the mean as norm.mean
    net = PrototypicalNetwork(Identity(), centre=True)
    net.load_state_dict({"norm.mean": torch.tensor([3.0, 4.0])})
    assert net.norm.centring.mean.tolist() == [3.0, 4.0]


def test_signed_power_and_shifted_views_by_hand():
    assert SignedPower(0.5)(torch.tensor([[4.0, -9.0, 0.0]])).tolist() == [[2.0, -3.0, 0.0]]
    assert torch.equal(SignedPower(1)(torch.tensor([[-2.0]])), torch.tensor([[-2.0]]))
    with pytest.raises(ValueError, match="power must be a number > 0"):
        SignedPower(0)
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # [1, 1, 2, 2]
    views = evaluation_views(x, flip=False, shift=1)
    # moved one pixel towards the top-left corner: edges repeated
    assert len(views) == 5 and views[1].flatten().tolist() == [1.0, 1.0, 1.0, 1.0]
    assert views[4].flatten().tolist() == [4.0, 4.0, 4.0, 4.0]  # towards the bottom-right
    assert len(evaluation_views(x, flip=True, shift=1)) == 10
    with pytest.raises(ValueError, match="shift must be a whole number of pixels from 0 to 16"):
        TestTimeViews(shift=17)


class CentredCosine(FewShotLearner):
    """A learner of the test's own, composed from the transforms: centred, power 0.5, unit length,
    flip views, prototypes compared by dot product."""

    episode_independent_embedding = True

    def __init__(self, backbone):
        super().__init__(backbone)
        self.steps = FeatureSteps(centre=True, l2=True, power=0.5)
        self.views = TestTimeViews(flip=True)

    def score(self, support_f, support_y, query_f):
        support_f, query_f = self.steps(support_f), self.steps(query_f)
        return query_f @ class_means(support_f, support_y, check_support_labels(support_y)).T


def test_the_transforms_compose_in_any_learner():
    net = CentredCosine(FirstColumn()).eval()
    net.steps.set_mean(torch.tensor([1.0]))
    # views: (2 + 6) / 2 = 4 and (1 + 3) / 2 = 2 -> centred 3 and 1 -> power sqrt(3), 1 -> unit 1, 1
    x = torch.tensor([[[[2.0, 6.0]]], [[[1.0, 3.0]]], [[[0.0, 0.0]]]])
    assert net.embed(x).flatten().tolist() == [4.0, 2.0, 0.0]
    logits = net(x[:2], torch.tensor([0, 1]), x[2:])  # query 0 -> -1 -> -1: opposite both prototypes
    assert logits.tolist() == [[-1.0, -1.0]]
    assert list(net.state_dict()) == ["steps.centring.mean"]


def test_centring_on_the_episode_by_hand():
    from fewshot_fer.features import CentreOnEpisode

    support, query = torch.tensor([[1.0, 0.0], [3.0, 0.0]]), torch.tensor([[2.0, 2.0]])
    s, q = CentreOnEpisode("support")(support, query)  # support mean (2, 0)
    assert s.tolist() == [[-1.0, 0.0], [1.0, 0.0]] and q.tolist() == [[0.0, 2.0]]
    s, q = CentreOnEpisode("episode")(support, query)  # mean of all three: (2, 2/3)
    assert torch.allclose(s, torch.tensor([[-1.0, -2 / 3], [1.0, -2 / 3]]))
    assert torch.allclose(q, torch.tensor([[0.0, 4 / 3]]))
    assert CentreOnEpisode("off")(support, query) == (support, query)
    with pytest.raises(ValueError, match=r"centre_episode must be one of off, support, episode, got 'train'"):
        CentreOnEpisode("train")
    # inside a prototypical network with l2: support (1, 0), (3, 0) centred on their mean -> (-1, 0), (1, 0);
    # the query (2, 2) -> (0, 2) -> unit (0, 1): equally far from both prototypes, sqrt(2) each
    net = create_learner("protonet", Identity(), l2=True, centre_episode="support")
    logits = net(as_images([[1, 0], [3, 0]]), torch.tensor([0, 1]), as_images([[2, 2]]))
    assert torch.allclose(logits, torch.full((1, 2), -(2 ** 0.5)), atol=1e-6)


def test_centring_on_the_episode_is_a_test_time_option_of_a_trained_model():
    from benchmarks.faults import fixtures as fx
    from fewshot_fer.models.build import load_trained

    learner, _ = load_trained(fx.tiny_run() / "best.pt", test_time={"centre_episode": "support"})
    assert learner.episode_centring.source == "support"
