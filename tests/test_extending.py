"""Bringing one's own pieces: a learner defined outside the package (one class and its decorator),
a backbone given as a plain ``nn.Module``, a learner given as an object and datasets given as
objects, each trained and evaluated through the API."""

import pytest
import torch
from torch import nn

from fewshot_fer.api import evaluate, train
from fewshot_fer.learners import FewShotLearner, register_learner
from fewshot_fer.models.build import load_trained

FAST = dict(image_size=24, way=3, shot=2, query=3, episodes_per_epoch=4, val_episodes=5, epochs=2, seed=1)


@register_learner("test-nearest-mean")
class NearestMean(FewShotLearner):
    """Negative squared distance to each class mean: ``[n_query, n_way]``."""

    episode_independent_embedding = True

    def score(self, support_f, support_y, query_f):
        n_way = int(support_y.max()) + 1
        means = torch.stack([support_f[support_y == c].mean(0) for c in range(n_way)])
        return -torch.cdist(query_f, means) ** 2


class TinyNet(nn.Module):
    """A backbone of the user's: ``[B, 1, H, W]`` -> ``[B, 16, H/4, W/4]``."""

    out_channels = 16

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(4))

    def forward(self, x):
        return self.body(x)


def test_a_learner_of_ones_own_trains_and_evaluates(tmp_path):
    run = train(learner="test-nearest-mean", **FAST, output=str(tmp_path), name="own")
    assert len(run.history) == 2 and 0 <= run.best_accuracy <= 1
    scores = evaluate(run.checkpoint, split="test", shots=[2], way=3, episodes=6, output=str(tmp_path / "ev"))
    assert scores.accuracies[2].shape == (6,)
    model, checkpoint = load_trained(run.checkpoint)
    assert isinstance(model, NearestMean) and checkpoint["model_config"]["learner"] == "test-nearest-mean"


def test_a_backbone_module_trains_and_evaluates_and_stays_untouched(tmp_path):
    net = TinyNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    run = train(backbone=net, **FAST, output=str(tmp_path), name="net")
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # trained a copy
    model, checkpoint = load_trained(run.checkpoint, backbone=TinyNet())
    assert isinstance(model.backbone, TinyNet)
    assert checkpoint["model_config"]["backbone"] == "module:test_extending.TinyNet"
    trained = torch.load(run.checkpoint, weights_only=False)["model"]
    assert any(not torch.equal(trained[f"backbone.{k}"], v) for k, v in before.items() if v.is_floating_point())
    scores = evaluate(run.checkpoint, backbone=TinyNet(), split="test", shots=[2], way=3, episodes=6,
                      output=str(tmp_path / "ev"))
    assert scores.accuracies[2].shape == (6,)
    with pytest.raises(ValueError, match=r"backbone was given as a Python module \(module:test_extending.TinyNet\); "
                                         r"pass the same module again"):
        load_trained(run.checkpoint)
    with pytest.raises(TypeError, match=r"register_learner\('x'\) takes a FewShotLearner subclass"):
        register_learner("x")(TinyNet)


class ScaledNearestMean(FewShotLearner):
    """An unregistered learner of the user's, given as an object: nearest class mean, with a learned
    scale on the logits."""

    episode_independent_embedding = True

    def __init__(self, backbone, scale=2.0):
        super().__init__(backbone)
        self.scale = nn.Parameter(torch.tensor(scale))

    def score(self, support_f, support_y, query_f):
        n_way = int(support_y.max()) + 1
        means = torch.stack([support_f[support_y == c].mean(0) for c in range(n_way)])
        return -self.scale * torch.cdist(query_f, means)


def test_a_learner_object_trains_and_evaluates_and_stays_untouched(tmp_path):
    mine = ScaledNearestMean(TinyNet())
    before = {k: v.clone() for k, v in mine.state_dict().items()}
    run = train(learner=mine, **FAST, output=str(tmp_path), name="obj")
    assert all(torch.equal(v, mine.state_dict()[k]) for k, v in before.items())  # trained a copy
    model, checkpoint = load_trained(run.checkpoint, learner=ScaledNearestMean(TinyNet()))
    assert checkpoint["model_config"]["learner"] == "module:test_extending.ScaledNearestMean"
    assert checkpoint["model_config"]["backbone"] == "module:test_extending.TinyNet"
    assert float(model.scale.detach()) != 2.0  # the trained scale came back with the weights
    scores = evaluate(run.checkpoint, learner=ScaledNearestMean(TinyNet()), split="test", shots=[2], way=3,
                      episodes=6, output=str(tmp_path / "ev"))
    assert scores.accuracies[2].shape == (6,)
    with pytest.raises(ValueError, match=r"learner was given as a Python object "
                                         r"\(module:test_extending.ScaledNearestMean\); pass one of the same class"):
        load_trained(run.checkpoint)
    with pytest.raises(ValueError, match="a learner given as an object brings its own backbone"):
        train(learner=mine, backbone=TinyNet(), **FAST, output=str(tmp_path), name="both")
    with pytest.raises(ValueError, match="test-time options .flip. rebuild a registered learner"):
        load_trained(run.checkpoint, test_time={"flip": True}, learner=ScaledNearestMean(TinyNet()))


def test_datasets_given_as_objects_train_and_evaluate(tmp_path):
    from fewshot_fer.data import FaceDataset, create_dataset

    def faces(split, name):  # a user's own faces, already decoded: any FaceDataset
        d = create_dataset("synthetic-compound", split, image_size=20)
        return FaceDataset(d.images, d.labels, d.class_names, [f"mine/{k}" for k in d.keys], d.groups, name, split)

    train_set, val_set = faces("train", "mine"), faces("val", "mine")
    settings = {k: v for k, v in FAST.items() if k != "image_size"}
    run = train(train_set=train_set, val_set=val_set, **settings, output=str(tmp_path), name="objs")
    args = torch.load(run.checkpoint, weights_only=False)["args"]
    assert (args["dataset"], args["val_dataset"], args["image_size"]) == ("object:mine", "object:mine", 20)
    scores = evaluate(run.checkpoint, test_set=faces("test", "mine"), shots=[2], way=3, episodes=6,
                      output=str(tmp_path / "ev"))
    assert scores.accuracies[2].shape == (6,) and scores.summary["dataset"] == "object:mine"
    with pytest.raises(ValueError, match="trained on datasets given from Python .object:mine, object:mine.; "
                                         "resume it from Python with the same objects"):
        train(resume=str(tmp_path / "objs"), epochs=3)
    with pytest.raises(ValueError, match="image_size=24 does not match the given datasets' faces .20."):
        train(train_set=train_set, val_set=val_set, **FAST, output=str(tmp_path), name="size")
    with pytest.raises(ValueError, match="val_set must be a fewshot_fer.data.FaceDataset .give train_set and val_set "
                                         "together., got NoneType"):
        train(train_set=train_set, **settings, output=str(tmp_path), name="half")
