"""``--backbone timm:NAME``: any timm model as a feature extractor, weights only from a local file."""

import pytest
import torch

from fewshot_fer.backbones import TimmBackbone, create_backbone


def test_a_timm_model_gives_its_last_feature_map_and_learns_in_an_episode():
    backbone = create_backbone("timm:resnet18", in_chans=1)
    assert isinstance(backbone, TimmBackbone) and backbone.out_channels == 512 and backbone.reduction == 32
    assert backbone(torch.zeros(2, 1, 64, 64)).shape == (2, 512, 2, 2)
    with pytest.raises(ValueError, match=r"timm:resnet18 needs images of at least 32x32 pixels, got \(16, 16\)"):
        backbone(torch.zeros(1, 1, 16, 16))


def test_local_timm_weights_load_with_the_first_convolution_adapted(tmp_path):
    import timm

    full = timm.create_model("resnet18", pretrained=False)  # an RGB ImageNet-shaped model with its classifier
    torch.save(full.state_dict(), tmp_path / "resnet18.pth")
    grey = create_backbone("timm:resnet18", in_chans=1, pretrained=tmp_path / "resnet18.pth")
    assert torch.allclose(grey.net.conv1.weight, full.conv1.weight.sum(1, keepdim=True))  # a grey image, same response
    assert torch.equal(grey.net.layer4[1].conv2.weight, full.layer4[1].conv2.weight)
    torch.save(timm.create_model("resnet34").state_dict(), tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"^weights in \S*other\.pth do not fit backbone 'timm:resnet18'"):
        create_backbone("timm:resnet18", pretrained=tmp_path / "other.pth")
    with pytest.raises(FileNotFoundError, match=r"not found at \S*missing\.pth; download them yourself"):
        create_backbone("timm:resnet18", pretrained=tmp_path / "missing.pth")


def test_unknown_names_and_options_are_one_sentence():
    with pytest.raises(ValueError, match=r"^timm has no model 'resnet19'; did you mean resnet1"):
        create_backbone("timm:resnet19")
    with pytest.raises(ValueError, match=r"^timm model 'resnet18' could not be built as a feature extractor"):
        create_backbone("timm:resnet18", colour=3)


@pytest.mark.slow
def test_a_trained_timm_backbone_round_trips_through_train_evaluate_and_pretrained(tmp_path):
    """train --backbone timm:NAME writes a checkpoint that evaluate rebuilds and that --pretrained
    reads back into a new timm backbone (keys of fewshot-fer's own checkpoint)."""
    from fewshot_fer.commands import evaluate, train
    from fewshot_fer.models.build import load_trained

    assert train.main(["--backbone", "timm:resnet18", "--image-size", "32", "--way", "2", "--shot", "1", "--query", "2",
                       "--epochs", "1", "--episodes-per-epoch", "2", "--val-episodes", "2", "--output", str(tmp_path),
                       "--name", "t"]) == 0
    ckpt = tmp_path / "t" / "best.pt"
    learner, checkpoint = load_trained(ckpt)
    assert checkpoint["model_config"]["backbone"] == "timm:resnet18" and isinstance(learner.backbone, TimmBackbone)
    again = create_backbone("timm:resnet18", in_chans=1, pretrained=ckpt)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), learner.backbone.state_dict().values()))
    assert evaluate.main(["--checkpoint", str(ckpt), "--way", "2", "--shots", "1", "--query", "2", "--episodes", "3",
                          "--output", str(tmp_path / "ev")]) == 0
