import pytest
import torch

from fewshot_fer.backbones import create_backbone


@pytest.mark.parametrize("chans", [1, 3])
@pytest.mark.parametrize("size, out", [(48, 3), (84, 5), (32, 2)])
def test_conv4_shapes(chans, size, out):
    net = create_backbone("conv4", in_chans=chans)
    assert net(torch.zeros(2, chans, size, size)).shape == (2, 64, out, out)


def test_conv4_input_errors():
    net = create_backbone("conv4", in_chans=1)
    with pytest.raises(ValueError, match=r"expects \[B, 1, H, W\] input, got \(2, 3, 48, 48\)"):
        net(torch.zeros(2, 3, 48, 48))
    with pytest.raises(ValueError, match="smaller than the 16x16 minimum"):
        net(torch.zeros(2, 1, 8, 8))


def test_pretrained_round_trip_and_errors(tmp_path):
    src = create_backbone("conv4", in_chans=1)
    torch.nn.init.normal_(src.blocks[0][0].weight)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": src.state_dict()}, path)
    dst = create_backbone("conv4", in_chans=1, pretrained=path)
    assert torch.equal(dst.blocks[0][0].weight, src.blocks[0][0].weight)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        create_backbone("conv4", pretrained=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"shape mismatches \(file vs model\) \['blocks.0.0.weight \(64, 1, 3, 3\) vs \(64, 3, 3, 3\)'\]"):
        create_backbone("conv4", in_chans=3, pretrained=path)
    torch.save({"other.weight": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="missing keys"):
        create_backbone("conv4", pretrained=tmp_path / "x.pt")
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        create_backbone("vgg")
