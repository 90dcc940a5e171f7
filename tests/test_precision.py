"""--precision bf16: the classifier trainer's forward pass in bfloat16, weights and loss in float32."""

import pytest
import torch

from fewshot_fer.backbones.conv4 import Conv4
from fewshot_fer.commands import pretrain
from fewshot_fer.learners import CentroidBaseline
from fewshot_fer.training.baselines.supervised import train_epoch
from fewshot_fer.training.precision import autocast, check_precision, prepare_input, prepare_model
from fewshot_fer.weights import load_checkpoint


def tiny_classifier() -> CentroidBaseline:
    torch.manual_seed(0)
    return CentroidBaseline(Conv4(in_chans=1), n_classes=3, neck="pool", dropout=0.0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_forward_pass_runs_in_the_chosen_format_and_the_weights_stay_float32(precision):
    model = prepare_model(tiny_classifier(), precision)
    seen = []
    model.backbone.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    images, labels = torch.randint(0, 256, (16, 1, 24, 24), dtype=torch.uint8), torch.arange(16) % 3
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss, acc = train_epoch(model, images, labels, optimizer, torch.Generator().manual_seed(0), torch.device("cpu"),
                            batch_size=8, augmentation="none", precision=precision)
    assert seen == [torch.bfloat16 if precision == "bf16" else torch.float32] * 2  # two batches
    assert torch.isfinite(torch.tensor(loss)) and 0 <= acc <= 1
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()) if a.dim() == 4)  # convs learned
    conv = [p for p in model.parameters() if p.dim() == 4][-1]  # 64 input channels: the layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) == (precision == "bf16")


def test_bf16_changes_no_values_only_layout_and_format():
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(prepare_input(x, "bf16"), x) and prepare_input(x, "bf16").is_contiguous(
        memory_format=torch.channels_last)
    assert prepare_input(x, "fp32") is x
    with autocast(torch.device("cpu"), "bf16"):
        assert (x @ x.transpose(-1, -2)).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (x @ x.transpose(-1, -2)).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16; got 'fp16'"):
        check_precision("fp16")


@pytest.mark.slow
def test_pretrain_in_bf16_saves_a_float32_checkpoint_that_resumes_to_the_same_weights(tmp_path):
    fast = ["--image-size", "24", "--val-way", "3", "--val-shot", "2", "--val-query", "3", "--val-episodes", "5",
            "--batch-size", "32", "--seed", "1", "--precision", "bf16", "--output", str(tmp_path)]
    assert pretrain.main([*fast, "--epochs", "2", "--name", "straight"]) == 0
    assert pretrain.main([*fast, "--epochs", "1", "--name", "split"]) == 0
    assert pretrain.main(["--resume", str(tmp_path / "split"), "--epochs", "2"]) == 0
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["args"]["precision"] == b["args"]["precision"] == "bf16"
    for key, value in a["model"].items():
        assert value.dtype == b["model"][key].dtype, key
        if value.is_floating_point():
            assert value.dtype == torch.float32, key
        assert torch.allclose(value.float(), b["model"][key].float(), atol=1e-6), key


@pytest.mark.slow
def test_selftrain_in_bf16_trains_every_member_in_bfloat16_and_saves_float32_weights(tmp_path, monkeypatch):
    from fewshot_fer.commands import selftrain
    from fewshot_fer.training import self_trainer

    used = []
    real = self_trainer.RoundTask  # one per member: args (its third argument) hold the precision
    monkeypatch.setattr(self_trainer, "RoundTask", lambda *a, **k: used.append(a[2]["precision"]) or real(*a, **k))
    tiny = ["--image-size", "24", "--labelled-fraction", "0.05", "--unlabeled-limit", "60", "--epochs", "1",
            "--round-epochs", "1", "--mc-passes", "2", "--threshold", "0.0", "--backbone-option", "width=0.125",
            "--rounds", "1", "--fresh", "0.5", "--output", str(tmp_path)]
    assert selftrain.main([*tiny, "--name", "fp32"]) == 0
    assert used == ["fp32"] * 3  # round 0, round 1, the fresh member
    assert selftrain.main([*tiny, "--precision", "bf16", "--name", "bf16"]) == 0
    assert used[3:] == ["bf16"] * 3
    a, b = (load_checkpoint(tmp_path / name / "last.pt") for name in ("fp32", "bf16"))
    assert (a["args"]["precision"], b["args"]["precision"]) == ("fp32", "bf16")
    assert all(v.dtype == torch.float32 for v in b["model"].values() if v.is_floating_point())
    assert any(not torch.equal(a["model"][k], v) for k, v in b["model"].items() if v.is_floating_point())


def test_episodic_training_takes_bf16_too(tmp_path, monkeypatch):
    """Every recipe has --precision: an episodic run computes its episodes in bfloat16 and saves
    float32 weights that evaluate reads as any other checkpoint."""
    from fewshot_fer.commands import train
    from fewshot_fer.training import episode_task

    seen, original = [], episode_task.autocast

    def recording(device, precision):
        seen.append(precision)
        return original(device, precision)

    monkeypatch.setattr(episode_task, "autocast", recording)
    assert train.main(["--precision", "bf16", "--image-size", "24", "--way", "3", "--shot", "2", "--query", "3",
                       "--episodes-per-epoch", "3", "--val-episodes", "3", "--epochs", "1",
                       "--output", str(tmp_path), "--name", "b"]) == 0
    assert seen == ["bf16"] * 3
    checkpoint = load_checkpoint(tmp_path / "b" / "best.pt")
    assert checkpoint["args"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in checkpoint["model"].values() if v.is_floating_point())


def test_bf16_on_a_cpu_that_would_emulate_it_warns_with_what_to_do(tmp_path, monkeypatch):
    from fewshot_fer.training import precision as module

    (tmp_path / "avx2").write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    (tmp_path / "amx").write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    assert module.native_bf16(tmp_path / "avx2") is False and module.native_bf16(tmp_path / "amx") is True
    assert module.native_bf16(tmp_path / "absent") is None
    monkeypatch.setattr(module, "native_bf16", lambda: False)
    with pytest.warns(UserWarning, match=r"--precision bf16: this CPU has neither AMX nor AVX-512 BF16 .*train with "
                                         r"--precision fp32 here"):
        prepare_model(tiny_classifier(), "bf16")
    monkeypatch.setattr(module, "native_bf16", lambda: True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_model(tiny_classifier(), "bf16")  # native: no warning
        prepare_model(tiny_classifier(), "fp32")
