import pytest
import torch
from layouts import ckplus, write
from PIL import Image

from fewshot_fer.data import create_dataset


def test_subject_ids_and_hashed_splits_keep_subjects_apart(tmp_path):
    ckplus(tmp_path / "ck")
    splits = {}
    for split in ("train", "val", "test"):
        ds = create_dataset("folder", split, tmp_path / "ck", image_size=24, channels=3,
                            cache_dir=tmp_path / "c", subject_regex=r"^(S\d+)_")
        assert ds.class_names == ["anger", "contempt", "happiness", "surprise"]
        assert ds.images.shape[1:] == (3, 24, 24)
        subjects = {k.split("/")[-1][:4] for k in ds.keys}
        assert len(torch.unique(ds.groups)) == len(subjects)
        splits[split] = subjects
    assert not splits["train"] & splits["val"] and not splits["train"] & splits["test"]
    assert sum(len(s) for s in splits.values()) == 30 and len(splits["train"]) > len(splits["test"])


def test_split_folders_are_used_when_present(tmp_path):
    write(tmp_path / "d" / "train" / "sad" / "a.jpg")
    write(tmp_path / "d" / "test" / "sad" / "b.jpg")
    write(tmp_path / "d" / "test" / "fearful" / "c.jpg")
    test = create_dataset("folder", "test", tmp_path / "d", cache_dir=tmp_path / "c")
    assert sorted(test.keys) == ["test/fearful/c.jpg", "test/sad/b.jpg"] and test.groups is None


def test_split_all_is_every_image_with_one_subject_space(tmp_path):
    ckplus(tmp_path / "ck")
    every = create_dataset("folder", "all", tmp_path / "ck", cache_dir=tmp_path / "c", subject_regex=r"^(S\d+)_")
    assert len(every) == 30 * 4 and len(torch.unique(every.groups)) == 30 and every.split == "all"
    parts = [create_dataset("folder", s, tmp_path / "ck", cache_dir=tmp_path / "c", subject_regex=r"^(S\d+)_")
             for s in ("train", "val", "test")]
    assert sorted(every.keys) == sorted(k for p in parts for k in p.keys)
    # with split folders: all of them, a subject seen in two folders keeps one id
    write(tmp_path / "d" / "train" / "sad" / "S001_1.jpg")
    write(tmp_path / "d" / "test" / "sad" / "S001_2.jpg")
    write(tmp_path / "d" / "test" / "fearful" / "S002_1.jpg")
    both = create_dataset("folder", "all", tmp_path / "d", cache_dir=tmp_path / "c", subject_regex=r"^(S\d+)_")
    assert sorted(both.keys) == ["test/fearful/S002_1.jpg", "test/sad/S001_2.jpg", "train/sad/S001_1.jpg"]
    assert both.groups[both.keys.index("test/sad/S001_2.jpg")] == both.groups[both.keys.index("train/sad/S001_1.jpg")]


def test_split_all_of_other_datasets_joins_their_splits(tmp_path):
    every = create_dataset("synthetic-compound", "all", image_size=24)
    parts = [create_dataset("synthetic-compound", s, image_size=24) for s in ("train", "val", "test")]
    assert len(every) == sum(len(p) for p in parts) and len(set(every.keys)) == len(every)
    # group ids stay apart per split: as many groups as the splits have together
    assert len(torch.unique(every.groups)) == sum(len(torch.unique(p.groups)) for p in parts)
    with pytest.raises(ValueError, match="split must be one of train, val, test or all, got 'every'"):
        create_dataset("synthetic-compound", "every")


def test_folder_errors(tmp_path):
    ckplus(tmp_path / "ck", subjects=2)
    with pytest.raises(ValueError, match=r"subject pattern '\^\(X\\d\+\)' does not match file name 'S000_001"):
        create_dataset("folder", "train", tmp_path / "ck", cache_dir=tmp_path / "c", subject_regex=r"^(X\d+)")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no class folders"):
        create_dataset("folder", "train", tmp_path / "empty")
    with pytest.raises(ValueError, match="applies to the folder dataset, not 'fer2013'"):
        create_dataset("fer2013", "train", tmp_path, subject_regex="x")


def test_unlabeled_reader_is_recursive_and_cached(tmp_path):
    from fewshot_fer.data import load_unlabeled
    for k in range(5):
        write(tmp_path / "ffhq" / f"{k // 2:05d}" / f"{k:05d}.png")
    (tmp_path / "ffhq" / "LICENSE.txt").write_text("not an image")
    faces = load_unlabeled(tmp_path / "ffhq", image_size=32, cache_dir=tmp_path / "c")
    assert len(faces) == 5 and faces[0].shape == (1, 32, 32)
    assert faces.keys[:3] == ["00000/00000.png", "00000/00001.png", "00001/00002.png"]
    assert len(load_unlabeled(tmp_path / "ffhq", limit=2, cache_dir=tmp_path / "c")) == 2
    (tmp_path / "texts").mkdir()
    with pytest.raises(FileNotFoundError, match="no images .* found under .*texts"):
        load_unlabeled(tmp_path / "texts")
    with pytest.raises(FileNotFoundError, match="unlabeled image folder .*missing does not exist"):
        load_unlabeled(tmp_path / "missing")


def test_two_sources_in_one_dataset(tmp_path):
    from layouts import make_layout

    from fewshot_fer.commands import train

    make_layout(tmp_path / "fer")
    ckplus(tmp_path / "ck", subjects=6)
    both = create_dataset("fer2013,folder", "train", f"{tmp_path / 'fer'},{tmp_path / 'ck'}", image_size=24,
                          subject_regex=r"^(S\d+)_", cache_dir=tmp_path / "c")
    fer = create_dataset("fer2013", "train", tmp_path / "fer", image_size=24, cache_dir=tmp_path / "c")
    ck = create_dataset("folder", "train", tmp_path / "ck", image_size=24, subject_regex=r"^(S\d+)_",
                        cache_dir=tmp_path / "c")
    assert len(both) == len(fer) + len(ck) and both.name == "fer2013,folder"
    assert both.class_names[:7] == fer.class_names and both.class_names[7:] == ["contempt"]  # union, canonical
    for source, part in (("fer2013", fer), ("folder", ck)):
        i = both.keys.index(f"{source}:{part.keys[0]}")
        assert both.class_names[both.labels[i]] == part.class_names[part.labels[0]]
        assert torch.equal(both.images[i], part.images[0])
    # FER2013 faces have no subject: each its own group; CK+ subjects keep theirs, apart from FER2013's
    assert len(torch.unique(both.groups)) == len(fer) + len(torch.unique(ck.groups))
    with pytest.raises(ValueError, match="names 2 sources but --data-root gives 1 folders"):
        create_dataset("fer2013,folder", "train", tmp_path / "fer")
    # a training run on both sources (validation on synthetic faces keeps the fixture tiny)
    assert train.main(["--dataset", "synthetic-basic,folder", "--data-root", f",{tmp_path / 'ck'}",
                       "--subject-regex", r"^(S\d+)_", "--val-dataset", "synthetic-compound", "--image-size", "24",
                       "--way", "3", "--shot", "1", "--query", "1", "--episodes-per-epoch", "2", "--val-episodes", "2",
                       "--epochs", "1", "--cache-dir", str(tmp_path / "c"), "--output", str(tmp_path / "runs"),
                       "--name", "mixed"]) == 0


def test_an_empty_class_folder_is_reported(tmp_path, capsys):
    from fewshot_fer.commands.data import main as data_main

    write(tmp_path / "d" / "sad" / "a.jpg")
    (tmp_path / "d" / "fearful" / "notes").mkdir(parents=True)
    (tmp_path / "d" / "fearful" / "notes" / "readme.txt").write_text("no faces here")
    with pytest.warns(UserWarning, match=r"1 class folder\(s\) hold no images .* give no faces: \['.*fearful'\]"):
        create_dataset("folder", "all", tmp_path / "d", cache_dir=tmp_path / "c")
    data_main(["check", "--dataset", "folder", "--data-root", str(tmp_path / "d"), "--splits", "all",
               "--cache-dir", str(tmp_path / "c")])
    assert "problem: 1 class folder(s) hold no images" in capsys.readouterr().out


def test_face_detection_and_alignment_for_a_folder_dataset(tmp_path):
    """Folder datasets are read whole by default (already face crops); --face-detector haar finds
    the face in photos with background, and --align adds the eye alignment (cached apart); so does
    --face-detector mtcnn with its five-point alignment."""
    from conftest import shared_data

    photo = sorted(shared_data("photos").glob("*.jpg"))[0]
    root = tmp_path / "mine"
    with Image.open(photo) as im:
        face = im.convert("L").resize((200, 300))
    for c, name in enumerate(("anger", "happiness")):
        for k in range(3):
            canvas = Image.new("L", (640, 480), 60 + 100 * c)
            canvas.paste(face, (100 + 40 * k, 90))
            (root / name).mkdir(parents=True, exist_ok=True)
            canvas.save(root / name / f"{k}.png")
    whole = create_dataset("folder", "all", root, image_size=48, cache_dir=tmp_path / "c")
    found = create_dataset("folder", "all", root, image_size=48, cache_dir=tmp_path / "c", face_detector="haar")
    aligned = create_dataset("folder", "all", root, image_size=48, cache_dir=tmp_path / "c", face_detector="haar",
                             align=True)
    assert len(whole) == len(found) == len(aligned) == 6
    # the background is flat: a face crop varies far more than the whole frame, wherever the face was pasted
    def spread(d):  # mean per-image standard deviation
        return d.images.float().flatten(1).std(1).mean()

    assert spread(found) > spread(whole) + 10, (spread(found), spread(whole))
    assert not torch.equal(found.images, aligned.images)
    assert (found.images[0].float() - found.images[2].float()).abs().mean() < 12  # same face, moved: same crop
    five = create_dataset("folder", "all", root, image_size=48, cache_dir=tmp_path / "c", face_detector="mtcnn",
                          align=True)
    assert len(five) == 6 and spread(five) > spread(whole) + 10
    assert (five.images[0].float() - five.images[2].float()).abs().mean() < 12


def test_people_halves_split_every_person_into_one_half_and_join_to_the_whole(tmp_path):
    from fewshot_fer.data.folder import hashed_half

    ckplus(tmp_path / "ck")
    regex = r"^(S\d+)_"
    every = create_dataset("folder", "all", tmp_path / "ck", cache_dir=tmp_path / "c", subject_regex=regex)
    halves = {h: create_dataset("folder", "all", tmp_path / "ck", cache_dir=tmp_path / "c", subject_regex=regex,
                                half=h)
              for h in ("dev", "report")}
    people = {h: {k.split("/")[-1][:4] for k in d.keys} for h, d in halves.items()}
    assert people["dev"] and people["report"] and not people["dev"] & people["report"]
    assert sorted(every.keys) == sorted(k for d in halves.values() for k in d.keys)
    assert all(hashed_half(p) == h for h, ps in people.items() for p in ps)
    # the hash is fixed: the same person lands in the same half on every machine and run
    # (CRC-32 of "half:" + id, even: dev, odd: report; values from zlib.crc32)
    assert [hashed_half(p) for p in ("Adam_Sandler", "S004", "George_W_Bush")] == ["report", "dev", "dev"]
    with pytest.raises(ValueError, match=r"--half keeps people apart, so it needs --subject-regex"):
        create_dataset("folder", "all", tmp_path / "ck", cache_dir=tmp_path / "c", half="dev")
    with pytest.raises(ValueError, match=r"--half must be dev or report, got 'test'"):
        create_dataset("folder", "all", tmp_path / "ck", cache_dir=tmp_path / "c", subject_regex=regex, half="test")
