import pytest
import torch
from torch import nn

from fewshot_fer.backbones import create_backbone
from fewshot_fer.backbones.conv4 import Conv4


@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize("size, out", [(48, 3), (84, 5), (32, 2)])
def test_conv4_shapes(chans, size, out):
    net = create_backbone("conv4", in_chans=chans)
    assert net(torch.zeros(2, chans, size, size)).shape == (2, 64, out, out)


def test_conv4_input_errors():
    net = create_backbone("conv4", in_chans=1)
    with pytest.raises(ValueError, match=r"expects \[B, 1, H, W\] input, got \(2, 3, 48, 48\)"):
        net(torch.zeros(2, 3, 48, 48))
    with pytest.raises(ValueError, match=r"needs images of at least 16x16 pixels, got \(8, 8\)"):
        net(torch.zeros(2, 1, 8, 8))


@pytest.mark.parametrize("pools, out", [(4, 3), (3, 6), (2, 12)])
def test_conv4_pools_keeps_a_larger_map(pools, out):
    net = create_backbone("conv4", in_chans=1, pools=pools)
    assert net(torch.zeros(2, 1, 48, 48)).shape == (2, 64, out, out)
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == pools
    # same weights whatever the pooling: a checkpoint of one loads into the other
    assert net.state_dict().keys() == Conv4().state_dict().keys()
    with pytest.raises(ValueError, match="pools must be between 0 and 4 .*got 5"):
        create_backbone("conv4", pools=5)
    with pytest.raises(ValueError, match=r"needs images of at least 8x8 pixels, got \(4, 4\)"):
        create_backbone("conv4", pools=3)(torch.zeros(1, 1, 4, 4))


def test_pretrained_round_trip_and_errors(tmp_path):
    src = create_backbone("conv4", in_chans=1)
    torch.nn.init.normal_(src.blocks[0][0].weight)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": src.state_dict()}, path)
    dst = create_backbone("conv4", in_chans=1, pretrained=path)
    assert torch.equal(dst.blocks[0][0].weight, src.blocks[0][0].weight)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        create_backbone("conv4", pretrained=tmp_path / "missing.pt")
    wide = create_backbone("conv4", in_chans=1, width=32)
    torch.save(wide.state_dict(), tmp_path / "wide.pt")
    with pytest.raises(ValueError, match=r"shape mismatches \(file vs model\) \['blocks.0.0.weight \(32, 1, 3, 3\) vs \(64, 1, 3, 3\)'"):
        create_backbone("conv4", in_chans=1, pretrained=tmp_path / "wide.pt")
    torch.save({"other.weight": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="missing keys"):
        create_backbone("conv4", pretrained=tmp_path / "x.pt")
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        create_backbone("vgg")


@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize("name, shape", [("resnet12", (640, 3, 3)), ("resnet18", (512, 2, 2)),
                                         ("resnet50", (2048, 2, 2)), ("vgcnn", (384, 3, 3))])
def test_backbone_output_shapes(name, shape, chans):
    net = create_backbone(name, in_chans=chans).eval()
    assert net(torch.zeros(2, chans, 48, 48)).shape == (2, *shape)
    assert net.out_channels == shape[0]


def test_resnet_small_input_stem_keeps_a_spatial_map():
    net = create_backbone("resnet18", in_chans=1, small_input=True).eval()
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert net(torch.zeros(1, 1, 48, 48)).shape == (1, 512, 6, 6)  # 48 / 8, where the ImageNet stem gives 2x2
    assert net(torch.zeros(1, 1, 16, 16)).shape == (1, 512, 2, 2)


def test_vgcnn_width_multiplier_and_size_errors():
    net = create_backbone("vgcnn", in_chans=1, width=0.25).eval()
    assert net(torch.zeros(1, 1, 48, 48)).shape == (1, 96, 3, 3)
    with pytest.raises(ValueError, match=r"resnet18 needs images of at least 32x32 pixels, got \(16, 16\)"):
        create_backbone("resnet18")(torch.zeros(1, 1, 16, 16))


def test_torchvision_weights_with_prefix_load_into_a_grayscale_resnet(tmp_path):
    import torchvision
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, tmp_path / "tv.pth")
    net = create_backbone("resnet18", in_chans=1, pretrained=tmp_path / "tv.pth").eval()
    assert torch.equal(net.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    # the adapted stem answers a grey image as the RGB stem answers the same image in three channels
    grey = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        features = net(grey)
        x = reference.maxpool(reference.relu(reference.bn1(reference.conv1(grey.expand(-1, 3, -1, -1)))))
        expected = reference.layer4(reference.layer3(reference.layer2(reference.layer1(x))))
    assert torch.allclose(features, expected, atol=1e-5)


def test_timm_safetensors_weights_and_mismatch_errors(tmp_path):
    timm = pytest.importorskip("timm")
    from safetensors.torch import save_file
    source = timm.create_model("resnet18", pretrained=False, in_chans=3)
    save_file(source.state_dict(), str(tmp_path / "model.safetensors"))
    net = create_backbone("resnet18", in_chans=3, pretrained=tmp_path / "model.safetensors")
    assert torch.equal(net.conv1.weight, source.conv1.weight)
    with pytest.raises(ValueError, match=r"do not fit backbone 'resnet50': .*missing keys, first \['layer1.0.conv3.weight'"):
        create_backbone("resnet50", pretrained=tmp_path / "model.safetensors")
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="could not be read as a weights file"):
        create_backbone("resnet18", pretrained=tmp_path / "junk.pt")


@pytest.mark.parametrize("activation", [nn.ReLU(), nn.LeakyReLU(0.1)])
def test_pooling_before_activation_gives_the_same_values_and_gradients(activation):
    """Conv-4 and ResNet-12 pool before their activation; that is exact because the activations
    are monotone. Compare with the textbook order on the same batch-norm outputs."""
    torch.manual_seed(0)
    x = torch.randn(4, 8, 12, 12)
    x[0, 0, :2, :2] = -1.0  # a window with no positive value
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    textbook = nn.functional.max_pool2d(activation(a), 2)
    ours = activation(nn.functional.max_pool2d(b, 2))
    assert torch.equal(textbook, ours)
    weight = torch.randn_like(ours)
    (textbook * weight).sum().backward()
    (ours * weight).sum().backward()
    assert torch.allclose(a.grad, b.grad)
    assert [type(m) for m in Conv4().blocks[0]][2:] == [nn.MaxPool2d, nn.ReLU]


def test_the_model_layer_does_not_import_the_runtime():
    """Models, backbones, learners and data read weights through fewshot_fer.weights: importing
    them (and loading a checkpoint) never pulls in the training runtime (fewshot_fer.training) nor
    the command layer (fewshot_fer.commands.cli)."""
    import subprocess
    import sys

    code = ("import sys; import fewshot_fer.models.build, fewshot_fer.backbones, fewshot_fer.learners, fewshot_fer.data, "
            "fewshot_fer.backbones.pretrained; from fewshot_fer.models.build import load_trained; "
            "print(sorted(m for m in sys.modules if m.startswith(('fewshot_fer.training', 'fewshot_fer.commands.cli'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
