import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fewshot_fer.commands import evaluate, predict, train
from fewshot_fer.evaluation.episodes import EpisodeResults, evaluate_episodes, vote_episodes


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert train.main(["--image-size", "24", "--way", "3", "--shot", "2", "--query", "3", "--epochs", "1",
                       "--episodes-per-epoch", "4", "--val-episodes", "5", "--output", str(out), "--name", "r"]) == 0
    return out / "r" / "best.pt"


def read_rows(path):
    return list(csv.DictReader(open(path)))


def test_same_episodes_file_gives_identical_results_and_ci_by_hand(checkpoint, tmp_path):
    common = ["--checkpoint", str(checkpoint), "--way", "3", "--shot", "2", "--query", "3", "--episodes", "30",
              "--episodes-file", str(tmp_path / "eps.json")]
    assert evaluate.main([*common, "--output", str(tmp_path / "a")]) == 0
    assert evaluate.main([*common, "--output", str(tmp_path / "b"), "--no-feature-cache"]) == 0
    a, b = read_rows(tmp_path / "a" / "episodes.csv"), read_rows(tmp_path / "b" / "episodes.csv")
    assert len(a) == 30
    assert [float(r["accuracy"]) for r in a] == pytest.approx([float(r["accuracy"]) for r in b], abs=1e-9)
    accs = [float(r["accuracy"]) for r in a]
    mean = sum(accs) / 30
    std = (sum((x - mean) ** 2 for x in accs) / 29) ** 0.5  # sample standard deviation
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())["shots"]["2"]
    assert summary["accuracy"] == pytest.approx(mean) and summary["ci95"] == pytest.approx(1.96 * std / 30 ** 0.5)
    # the test pool's intervals: faces and groups (synthetic people) resampled, the mean inside both
    assert summary["face_bootstrap_ci95"][0] <= mean <= summary["face_bootstrap_ci95"][1]
    assert summary["group_bootstrap_ci95"][0] <= mean <= summary["group_bootstrap_ci95"][1]
    assert summary["distinct_query_groups"] <= summary["distinct_query_faces"] <= 30 * 3 * 3
    confusion = read_rows(tmp_path / "a" / "confusion.csv")
    assert sum(int(v) for r in confusion for k, v in r.items() if k != "true") == 30 * 3 * 3  # every query once
    assert (tmp_path / "a" / "confusion.png").stat().st_size > 0


def test_shots_plot_and_episode_file_mismatch(checkpoint, tmp_path):
    assert evaluate.main(["--checkpoint", str(checkpoint), "--way", "3", "--shots", "1,3", "--query", "2",
                          "--episodes", "10", "--output", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "accuracy_vs_shot.png").is_file()
    assert (tmp_path / "s" / "episodes.1shot.json").is_file() and (tmp_path / "s" / "episodes.3shot.json").is_file()
    with pytest.raises(ValueError, match=r"holds 3-way 1-shot 2-query episodes, not the 3-way 2-shot 2-query"):
        evaluate.main(["--checkpoint", str(checkpoint), "--way", "3", "--shot", "2", "--query", "2",
                       "--episodes-file", str(tmp_path / "s" / "episodes.1shot.json"), "--output", str(tmp_path / "x")])
    with pytest.raises(ValueError, match=r"n_way=40 is larger than the number of classes in the data \(11"):
        evaluate.main(["--checkpoint", str(checkpoint), "--way", "40", "--output", str(tmp_path / "y")])


@pytest.fixture(scope="module")
def second_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("run2")
    assert train.main(["--image-size", "24", "--way", "3", "--shot", "2", "--query", "3", "--epochs", "1",
                       "--episodes-per-epoch", "4", "--val-episodes", "5", "--seed", "7", "--output", str(out),
                       "--name", "r"]) == 0
    return out / "r" / "best.pt"


def test_vote_of_episode_results_by_hand():
    y, ids, q = torch.tensor([[0, 1]]), torch.tensor([[4, 2]]), torch.tensor([[10, 11]])
    a = EpisodeResults(torch.tensor([[[0.9, 0.1], [0.6, 0.4]]]), y, ids, q)
    b = EpisodeResults(torch.tensor([[[0.3, 0.7], [0.0, 1.0]]]), y, ids, q)
    vote = vote_episodes([a, b])
    assert torch.allclose(vote.probs, torch.tensor([[[0.6, 0.4], [0.3, 0.7]]]))
    assert vote.accuracies.tolist() == [1.0]  # a alone gets 0.5, b alone 0.5
    assert a.accuracies.tolist() == [0.5] and b.accuracies.tolist() == [0.5]
    with pytest.raises(ValueError, match="scored on different episodes"):
        vote_episodes([a, EpisodeResults(b.probs, y, ids, torch.tensor([[10, 12]]))])


@pytest.mark.slow
def test_an_ensemble_of_checkpoints_is_the_soft_vote_of_its_members(checkpoint, second_checkpoint, tmp_path,
                                                                   capsys):
    from episodes import FixedEpisodes
    from fewshot_fer import api
    from fewshot_fer.data import create_dataset
    from fewshot_fer.models.build import load_trained

    common = dict(dataset="synthetic-compound", split="test", way=3, shot=2, query=3, episodes=20,
                  episodes_file=str(tmp_path / "eps.json"))
    one = api.evaluate(checkpoint, output=str(tmp_path / "a"), **common)
    two = api.evaluate(second_checkpoint, output=str(tmp_path / "b"), **common)
    both = api.evaluate([checkpoint, second_checkpoint], output=str(tmp_path / "ab"), **common)
    # by hand: each member's probabilities on the saved episodes, averaged
    data = create_dataset("synthetic-compound", "test", None, 24, 1)
    episodes = FixedEpisodes.load(tmp_path / "eps.json").indices(data.keys)
    probs = []
    for path in (checkpoint, second_checkpoint):
        learner, ckpt = load_trained(path)
        probs.append(evaluate_episodes(learner, data, episodes, 3, 2, 3, "cpu", ckpt["model_config"]["mean"],
                                       ckpt["model_config"]["std"]))
    by_hand = ((probs[0].probs + probs[1].probs) / 2).argmax(-1).eq(probs[0].query_y).double().mean(1)
    assert torch.allclose(both.accuracies[2], by_hand)
    assert torch.allclose(one.accuracies[2], probs[0].accuracies) and torch.allclose(two.accuracies[2], probs[1].accuracies)
    members = both.summary["shots"]["2"]["members"]
    assert list(members.values()) == pytest.approx([float(one.accuracies[2].mean()), float(two.accuracies[2].mean())])
    assert both.summary["checkpoint"] == [str(checkpoint), str(second_checkpoint)]
    assert f"member {checkpoint}:" in capsys.readouterr().out
    # a model voting with itself is the model
    same = api.evaluate([checkpoint, checkpoint], output=str(tmp_path / "aa"), **common)
    assert torch.equal(same.accuracies[2], one.accuracies[2])


def test_an_ensemble_refuses_models_that_read_faces_differently(checkpoint, tmp_path):
    out = tmp_path / "r32"
    assert train.main(["--image-size", "32", "--way", "3", "--shot", "2", "--query", "3", "--epochs", "1",
                       "--episodes-per-epoch", "2", "--val-episodes", "2", "--output", str(out), "--name", "r"]) == 0
    with pytest.raises(ValueError, match=r"read faces at one size and channel count; these checkpoints read "
                                         r"24 px with 1 channel\(s\) and 32 px with 1 channel\(s\)"):
        evaluate.main(["--checkpoint", str(checkpoint), str(out / "r" / "best.pt"), "--way", "3", "--shot", "2",
                       "--episodes", "2", "--output", str(tmp_path / "x")])


def test_a_small_class_lowers_the_query_size_with_a_note(checkpoint, tmp_path, capsys):
    # synthetic-compound test: 80 people per class, so 2 support + at most 78 queries per class
    assert evaluate.main(["--checkpoint", str(checkpoint), "--way", "3", "--shots", "1,2", "--query", "100",
                          "--episodes", "4", "--output", str(tmp_path / "q")]) == 0
    assert ("note: evaluation episodes on synthetic-compound test use 78 query images per class, not 100: "
            "its smallest class has 80 people or clips") in capsys.readouterr().out
    summary = json.loads((tmp_path / "q" / "summary.json").read_text())
    assert summary["query"] == 78
    rows = read_rows(tmp_path / "q" / "confusion.csv")
    assert sum(int(v) for r in rows for k, v in r.items() if k != "true") == 4 * 3 * 78


def test_clip_level_soft_voting_by_hand():
    # one 2-way episode, queries: clip 7 (class 0) has frames leaning 0, 1, 0; clip 9 (class 1) two frames
    probs = torch.tensor([[[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]]])
    results = EpisodeResults(probs, torch.tensor([[0, 0, 0, 1, 1]]), torch.tensor([[3, 5]]),
                             torch.tensor([[0, 1, 2, 3, 4]]))
    groups = torch.tensor([7, 7, 7, 9, 9])
    assert results.accuracies.tolist() == [3 / 5]  # frame level: frames 0, 2 and 4 are right
    # clip 7: mean (0.633, 0.367) -> 0 right; clip 9: mean (0.45, 0.55) -> 1 right
    assert results.group_accuracies(groups).tolist() == [1.0]
    assert results.confusion(6)[3].tolist() == [0, 0, 0, 2, 0, 1] and results.confusion(6)[5].tolist() == [0, 0, 0, 1, 0, 1]
    # majority: clip 7 frames vote 0, 1, 0 -> 0 right; clip 9 votes 0, 1: a tie, broken by the mean
    # probability (0.45 vs 0.55) -> 1 right
    assert results.group_accuracies(groups, "majority").tolist() == [1.0]


def test_majority_and_mean_votes_differ_by_hand():
    from fewshot_fer.evaluation.episodes import clip_vote

    # one clip of three frames: two lean weakly to class 0, one strongly to class 1
    probs = torch.tensor([[0.55, 0.45], [0.55, 0.45], [0.0, 1.0]])
    one = torch.zeros(3, dtype=torch.long)
    assert clip_vote(probs, one, 1, "mean").argmax().item() == 1  # mean (0.367, 0.633)
    assert clip_vote(probs, one, 1, "majority").argmax().item() == 0  # 2 votes of 3
    # scores of the majority vote: shares (2/3, 1/3) + mean * 0.5 / 3
    assert torch.allclose(clip_vote(probs, one, 1, "majority")[0],
                          torch.tensor([2 / 3 + 0.55 * 2 / 3 / 6, 1 / 3 + (0.45 * 2 + 1) / 3 / 6]))
    with pytest.raises(ValueError, match="clip vote must be one of mean, majority, got 'max'"):
        clip_vote(probs, one, 1, "max")


def test_predict_recovers_the_class_of_support_images(checkpoint, tmp_path, capsys):
    rng = np.random.default_rng(0)
    support, inputs = tmp_path / "support", tmp_path / "in"
    inputs.mkdir()
    for name, level in (("smirk", 30), ("wide eyes", 130), ("frown", 230)):
        (support / name).mkdir(parents=True)
        face = np.clip(level + rng.normal(0, 20, (40, 40)), 0, 255).astype(np.uint8)
        Image.fromarray(face).save(support / name / "a.png")
        Image.fromarray(face).save(inputs / f"{name}.png")
    out = tmp_path / "pred.csv"
    assert predict.main(["--checkpoint", str(checkpoint), "--support", str(support), "--input", str(inputs),
                         "--output", str(out)]) == 0
    rows = {r["input"].split("/")[-1]: r for r in read_rows(out)}
    assert {k: r["prediction"] for k, r in rows.items()} == {"smirk.png": "smirk", "wide eyes.png": "wide eyes",
                                                             "frown.png": "frown"}
    assert float(rows["frown.png"]["p_frown"]) > 0.34
    assert "3 support faces of 3 classes" in capsys.readouterr().out
    with pytest.raises(ValueError, match="needs at least two class subfolders"):
        predict.main(["--checkpoint", str(checkpoint), "--support", str(support / "smirk"), "--input", str(inputs)])


def test_predict_on_a_video_writes_frame_rows_and_their_soft_vote(checkpoint, tmp_path):
    pytest.importorskip("cv2", reason="video needs OpenCV")
    from layouts import write_avi
    support = tmp_path / "support"
    for name, level in (("dark", 20), ("bright", 220)):
        (support / name).mkdir(parents=True)
        Image.fromarray(np.full((40, 40), level, dtype=np.uint8)).save(support / name / "a.png")
    write_avi(tmp_path / "clip.avi", "happiness")
    out = tmp_path / "pred.csv"
    assert predict.main(["--checkpoint", str(checkpoint), "--support", str(support), "--input",
                         str(tmp_path / "clip.avi"), "--clip-frames", "4", "--output", str(out)]) == 0
    rows = read_rows(out)
    frames, clip = rows[:-1], rows[-1]
    assert [r["frame"] for r in frames] == ["0", "1", "2", "3"] and clip["frame"] == "clip"
    for name in ("dark", "bright"):
        mean = sum(float(r[f"p_{name}"]) for r in frames) / 4
        assert float(clip[f"p_{name}"]) == pytest.approx(mean, abs=1e-3)


def test_split_all_scores_a_whole_target_dataset_and_refuses_the_training_one(checkpoint, tmp_path):
    from layouts import ckplus

    ckplus(tmp_path / "ck", subjects=12)
    out = tmp_path / "ev"
    assert evaluate.main(["--checkpoint", str(checkpoint), "--dataset", "folder", "--data-root", str(tmp_path / "ck"),
                          "--subject-regex", r"^(S\d+)_", "--split", "all", "--way", "4", "--shot", "1",
                          "--query", "1", "--episodes", "5", "--output", str(out),
                          "--keep-duplicates"]) == 0  # the fixture's faces: one grey value per class, all copies
    summary = json.loads((out / "summary.json").read_text())
    assert summary["split"] == "all" and summary["duplicates_left_out"] == 0
    for name in ("synthetic-basic", "synthetic-compound"):  # trained on the one, selected on the other
        with pytest.raises(ValueError, match=f"--split all scores every {name} image, but this model was trained "
                                             f"or selected on {name}"):
            evaluate.main(["--checkpoint", str(checkpoint), "--dataset", name, "--split", "all"])


def test_shots_that_are_not_numbers_get_one_sentence(checkpoint):
    with pytest.raises(ValueError, match=r"--shots '1,x' must be whole numbers separated by commas, e.g. 1,5,10."):
        evaluate.main(["--checkpoint", str(checkpoint), "--shots", "1,x"])


def test_predict_skips_an_unreadable_input_with_a_row_or_stops_with_strict(checkpoint, tmp_path, capsys):
    support = tmp_path / "support"
    for name, level in (("dark", 20), ("bright", 220)):
        (support / name).mkdir(parents=True)
        Image.fromarray(np.full((40, 40), level, dtype=np.uint8)).save(support / name / "a.png")
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(np.full((40, 40), 30, dtype=np.uint8)).save(inputs / "good.png")
    (inputs / "broken.jpg").write_bytes(b"not a jpeg")
    (inputs / "fake.avi").write_text("a text file named like a video")
    out = tmp_path / "pred.csv"
    common = ["--checkpoint", str(checkpoint), "--support", str(support), "--input", str(inputs)]
    assert predict.main([*common, "--output", str(out)]) == 0
    rows = {r["input"].rsplit("/", 1)[1]: r for r in read_rows(out)}
    assert rows["good.png"]["prediction"] == "dark"
    assert rows["broken.jpg"]["prediction"].startswith("unreadable: ")
    assert rows["fake.avi"]["prediction"].startswith("unreadable: ")
    assert "2 unreadable input(s) skipped" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"input .*broken.jpg could not be read .*drop --strict"):
        predict.main([*common, "--output", str(tmp_path / "strict.csv"), "--strict"])


def test_test_time_options_load_onto_a_trained_model_and_training_ones_are_refused(checkpoint):
    from fewshot_fer.models.build import load_trained

    plain, _ = load_trained(checkpoint)
    views, _ = load_trained(checkpoint, test_time={"flip": True, "shift": 1})
    assert (plain.views.flip, plain.views.shift) == (False, 0) and (views.views.flip, views.views.shift) == (True, 1)
    x = torch.rand(2, 1, 24, 24)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    shifted = [x] + [padded[..., i:i + 24, j:j + 24] for i in (0, 2) for j in (0, 2)]
    with torch.no_grad():  # ten views: the image, its four 1-pixel shifts, and their mirror images
        by_hand = torch.stack([plain.embed(v) for v in shifted + [v.flip(-1) for v in shifted]]).mean(0)
        assert torch.allclose(views.embed(x), by_hand, atol=1e-5)
    with pytest.raises(ValueError, match="'distance' cannot change after training; test-time options are "
                                         "flip, shift, centre, centre_episode, l2, power, transductive_steps."):
        load_trained(checkpoint, test_time={"distance": "cosine"})


def test_l2_at_test_time_scores_unit_length_features(checkpoint):
    """l2 has no weights: set after training, each support feature counts equally in its class mean."""
    from fewshot_fer.features import L2Normalise
    from fewshot_fer.models.build import load_trained

    plain, _ = load_trained(checkpoint)
    unit, _ = load_trained(checkpoint, test_time={"l2": True})
    assert not isinstance(plain.norm.l2, L2Normalise) and isinstance(unit.norm.l2, L2Normalise)
    support_f = torch.tensor([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])  # norms 5, 1, 1
    support_y, query_f = torch.tensor([0, 0, 1]), torch.tensor([[0.0, 2.0]])
    # by hand: unit supports (0.6, 0.8) and (0, 1) average to (0.3, 0.9); the query becomes (0, 1);
    # euclidean logits -|q - p|: -sqrt(0.3^2 + 0.1^2) and -sqrt(1 + 1)
    expected = -torch.tensor([[0.1 ** 0.5, 2 ** 0.5]])
    assert torch.allclose(unit.score(support_f, support_y, query_f), expected, atol=1e-6)
    # without it the large first support dominates its mean (1.5, 2.5)
    assert torch.allclose(plain.score(support_f, support_y, query_f), -torch.tensor([[(1.5 ** 2 + 0.25) ** 0.5, 5 ** 0.5]]), atol=1e-6)


def test_power_at_test_time_takes_the_signed_power_of_every_feature_value(checkpoint):
    """power has no weights: set after training, sign(x) |x|^power before the class means."""
    from fewshot_fer.models.build import load_trained

    rooted, _ = load_trained(checkpoint, test_time={"power": 0.5})
    assert rooted.norm.power.power == 0.5
    support_f = torch.tensor([[4.0, -9.0], [16.0, 1.0], [1.0, 0.0]])
    support_y, query_f = torch.tensor([0, 0, 1]), torch.tensor([[9.0, 0.0]])
    # by hand: roots (2, -3) and (4, 1) average to (3, -1), the other class (1, 0), the query (3, 0);
    # euclidean logits -|q - p|: -1 and -2 (without it: means (10, -4) and (1, 0), -sqrt(17) and -8)
    assert torch.allclose(rooted.score(support_f, support_y, query_f), -torch.tensor([[1.0, 2.0]]), atol=1e-6)
    plain, _ = load_trained(checkpoint)
    assert torch.allclose(plain.score(support_f, support_y, query_f), -torch.tensor([[17 ** 0.5, 8.0]]), atol=1e-6)
    with pytest.raises(ValueError, match=r"power must be a number > 0 \(1 is off, 0.5 a square root\), got 0"):
        load_trained(checkpoint, test_time={"power": 0})


@pytest.mark.slow
def test_centre_at_test_time_subtracts_the_mean_feature_of_the_training_faces(checkpoint):
    """A model trained without centring is centred at evaluation on its run's training faces
    (synthetic-basic here: 3,360 faces, all used), embedded with the same test-time views."""
    from fewshot_fer.data import create_dataset
    from fewshot_fer.models.build import load_trained

    flipped, _ = load_trained(checkpoint, test_time={"flip": True})
    centred, _ = load_trained(checkpoint, test_time={"flip": True, "centre": True})
    faces = create_dataset("synthetic-basic", "train", image_size=24, channels=1)
    with torch.no_grad():
        expected = flipped.embed((faces.images.float() / 255 - 0.5) / 0.5).mean(0)
    assert centred.norm.needs_mean and not flipped.norm.needs_mean
    assert torch.allclose(centred.norm.centring.mean, expected, atol=1e-4)
    support_f, support_y, query_f = torch.randn(4, expected.numel()), torch.tensor([0, 0, 1, 1]), torch.randn(3, expected.numel())
    assert torch.allclose(centred.score(support_f, support_y, query_f),
                          flipped.score(support_f - expected, support_y, query_f - expected), atol=1e-4)
    assert "norm.centring.mean" in centred.state_dict()  # saved with the model from now on


def test_centre_at_test_time_names_training_data_it_cannot_read(checkpoint, tmp_path):
    from fewshot_fer.models.build import load_trained
    from fewshot_fer.weights import load_checkpoint

    moved = load_checkpoint(checkpoint)
    moved["args"] = {**moved["args"], "dataset": "fer2013", "data_root": str(tmp_path / "nowhere")}
    torch.save(moved, tmp_path / "moved.pt")
    with pytest.raises(ValueError, match=r"centre=true computes the training classes' mean feature from the faces "
                                         r"checkpoint .*moved.pt was trained on \(fer2013 at .*nowhere, classes all\), "
                                         r"which could not be read"):
        load_trained(tmp_path / "moved.pt", test_time={"centre": True})
    moved["args"] = {}
    torch.save(moved, tmp_path / "bare.pt")
    with pytest.raises(ValueError, match=r"checkpoint .*bare.pt holds none and does not record its training data"):
        load_trained(tmp_path / "bare.pt", test_time={"centre": True})
