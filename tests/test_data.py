"""Tests for explorer.data: Pet labels and status, folders, splits, shapes, presize, offline
download."""

from __future__ import annotations

import io
import math
import re
import time

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from explorer import data

BREEDS = ["Abyssinian", "Bengal", "great_pyrenees", "american_pit_bull_terrier"]


def fake_pets(root, n_per_breed: int = 2, total: int | None = None) -> list[str]:
    """A pets tree with empty .jpg files (pets_status only counts names)."""
    images = root / "oxford-iiit-pet" / "images"
    images.mkdir(parents=True)
    names = [f"{b}_{i + 1}.jpg" for b in BREEDS for i in range(n_per_breed)]
    if total is not None:
        names += [f"filler_{i}.jpg" for i in range(total - len(names))]
    for name in names:
        (images / name).touch()
    (images / "Abyssinian_100.mat").touch()  # the real archive has a few non-jpg files
    return names


def png_bytes(colour, size=(20, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def test_pet_regex_reads_the_breed_from_real_names():
    pattern = re.compile(data.PET_REGEX)
    cases = {
        "great_pyrenees_173.jpg": "great_pyrenees",
        "Abyssinian_1.jpg": "Abyssinian",
        "american_pit_bull_terrier_10.jpg": "american_pit_bull_terrier",
        "data/oxford-iiit-pet/images/Bengal_92.jpg": "Bengal",
    }
    for name, breed in cases.items():
        assert pattern.search(name).group(1) == breed
    assert pattern.search("Abyssinian_1.png") is None
    assert pattern.search("Abyssinian.jpg") is None


def test_pets_status_missing_partial_ready(tmp_path):
    s = data.pets_status(tmp_path)
    assert s == {
        "state": "missing",
        "n_images": 0,
        "expected": 7390,
        "path": str(tmp_path / "oxford-iiit-pet" / "images"),
        "downloading": False,
    }
    # Only the archive being downloaded: the folder exists, no images yet.
    (tmp_path / "oxford-iiit-pet").mkdir()
    (tmp_path / "oxford-iiit-pet" / "images.tar.gz").write_bytes(b"\x1f\x8b")
    assert data.pets_status(tmp_path)["state"] == "partial"
    fake_pets(tmp_path, n_per_breed=3)
    s = data.pets_status(tmp_path)
    assert (s["state"], s["n_images"]) == ("partial", 12)
    assert data.pets_by_breed(tmp_path) == {}
    with pytest.raises(data.DatasetUnavailable, match="12 of 7390"):
        data.pets_items(tmp_path)


def test_pets_status_default_root_is_resolved_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    assert data.pets_status()["path"] == str(tmp_path / "data" / "oxford-iiit-pet" / "images")


def test_ready_pets_items_and_by_breed(tmp_path, monkeypatch):
    # 7,390 files would take seconds to create; the threshold is the constant, so lower it.
    monkeypatch.setattr(data, "PETS_EXPECTED", 12)
    fake_pets(tmp_path, n_per_breed=2, total=11)
    (tmp_path / "oxford-iiit-pet" / "images" / "Bengal_10.jpg").touch()
    s = data.pets_status(tmp_path)
    assert (s["state"], s["n_images"], s["expected"]) == ("ready", 12, 12)
    by_breed = data.pets_by_breed(tmp_path)
    images = tmp_path / "oxford-iiit-pet" / "images"
    assert by_breed["great_pyrenees"] == [
        images / "great_pyrenees_1.jpg",
        images / "great_pyrenees_2.jpg",
    ]
    assert len(by_breed["filler"]) == 3 and len(by_breed) == 5
    # Numeric order within a breed, not string order.
    assert [p.name for p in by_breed["Bengal"]] == ["Bengal_1.jpg", "Bengal_2.jpg", "Bengal_10.jpg"]
    items = data.pets_items(tmp_path)
    assert len(items.paths) == len(items.labels) == 12
    # Sorted class names, like fastai's: capitalised cat breeds before lower-case dog breeds.
    assert items.classes == [
        "Abyssinian",
        "Bengal",
        "american_pit_bull_terrier",
        "filler",
        "great_pyrenees",
    ]
    i = items.paths.index(images / "Bengal_2.jpg")
    assert items.classes[items.labels[i]] == "Bengal"
    assert sorted(items.paths) == items.paths


def test_folder_items_by_subfolder_and_regex(tmp_path):
    for cls, names in {"cats": ["a.jpg", "b.PNG"], "dogs": ["c.jpeg"], "empty": []}.items():
        (tmp_path / cls).mkdir()
        for name in names:
            (tmp_path / cls / name).write_bytes(b"x")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image")
    (tmp_path / "dogs" / "deep").mkdir()
    (tmp_path / "dogs" / "deep" / "d.webp").write_bytes(b"x")
    (tmp_path / "dogs" / ".thumbs").mkdir()
    (tmp_path / "dogs" / ".thumbs" / "e.jpg").write_bytes(b"x")
    (tmp_path / "dogs" / "._c.jpeg").write_bytes(b"x")  # macOS resource fork, not an image
    items = data.folder_items(tmp_path)
    assert items.classes == ["cats", "dogs"]
    assert [p.name for p in items.paths] == ["a.jpg", "b.PNG", "c.jpeg", "d.webp"]
    assert items.labels == [0, 0, 1, 1]

    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ["dog_1.jpg", "dog_22.jpg", "cat_3.png", "readme.jpg"]:
        (flat / name).write_bytes(b"x")
    items = data.folder_items(flat, regex=r"^([a-z]+)_\d+")
    assert items.classes == ["cat", "dog"]
    assert [
        (p.name, items.classes[lab]) for p, lab in zip(items.paths, items.labels, strict=True)
    ] == [
        ("cat_3.png", "cat"),
        ("dog_1.jpg", "dog"),
        ("dog_22.jpg", "dog"),
    ]
    assert items.skipped == 1


def test_folder_items_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        data.folder_items(tmp_path / "nope")
    with pytest.raises(ValueError, match="No sub-folder"):
        data.folder_items(tmp_path)
    with pytest.raises(ValueError, match="holds no images"):
        data.folder_items(tmp_path, regex=r"(\w+)")
    (tmp_path / "x_1.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="matches none"):
        data.folder_items(tmp_path, regex=r"^(dog)_")
    with pytest.raises(ValueError, match="one group"):
        data.folder_items(tmp_path, regex=r"x_\d")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        data.folder_items(tmp_path, regex=r"(x")
    for i in range(5):
        (tmp_path / f"y_{i}.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="more than 4 files"):
        data.folder_items(tmp_path, regex=r"(\w)_", max_entries=4)


def test_every_folder_mistake_is_a_folder_error_with_a_sentence(tmp_path):
    # They used to be plain ValueErrors, which the pages now treat as bugs (not shown as st.error).
    from explorer.errors import UserError

    mistakes = [
        (tmp_path / "nope", None, "does not exist"),
        ("~no-such-user-here/pics", None, "does not exist"),  # expanduser raised RuntimeError
        ("pics\x00", None, "does not exist"),  # is_dir raised ValueError (embedded null byte)
        (tmp_path, None, "No sub-folder"),
        (tmp_path, r"(\w+)", "holds no images"),
    ]
    for folder, regex, words in mistakes:
        with pytest.raises(data.FolderError, match=words) as err:
            data.folder_items(folder, regex=regex)
        assert isinstance(err.value, UserError) and str(err.value).endswith(".")
    (tmp_path / "x_1.jpg").write_bytes(b"x")
    for regex in (r"^(dog)_", r"x_\d", r"(x"):
        with pytest.raises(data.FolderError):
            data.folder_items(tmp_path, regex=regex)


def test_an_unreadable_folder_is_a_folder_error(tmp_path, monkeypatch):
    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(tmp_path), "iterdir", denied)
    with pytest.raises(data.FolderError, match="cannot be read .Permission denied"):
        data.folder_items(tmp_path)


PET_BREEDS = (
    "Abyssinian Bengal Birman Bombay British_Shorthair Egyptian_Mau Maine_Coon Persian Ragdoll "
    "Russian_Blue Siamese Sphynx american_bulldog american_pit_bull_terrier basset_hound beagle "
    "boxer chihuahua english_cocker_spaniel english_setter german_shorthaired great_pyrenees "
    "havanese japanese_chin keeshond leonberger miniature_pinscher newfoundland pomeranian pug "
    "saint_bernard samoyed scottish_terrier shiba_inu staffordshire_bull_terrier wheaten_terrier "
    "yorkshire_terrier"
).split()  # the dataset's 12 cat and 25 dog breeds, as its file names spell them


def test_the_pet_breed_count_is_what_the_regex_reads(tmp_path, monkeypatch):
    images = tmp_path / "oxford-iiit-pet" / "images"
    images.mkdir(parents=True)
    for breed in PET_BREEDS:
        for i in (1, 2):
            (images / f"{breed}_{i}.jpg").touch()
    monkeypatch.setattr(data, "PETS_EXPECTED", 2 * len(PET_BREEDS))
    items = data.pets_items(tmp_path)
    assert len(items.classes) == data.PETS_BREEDS == 37
    assert sorted(items.classes) == sorted(PET_BREEDS)


def test_split_indices_deterministic_disjoint_complete():
    train, valid = data.split_indices(7390, valid_pct=0.2, seed=2)
    assert len(valid) == 1478 and len(train) == 7390 - 1478
    assert set(train).isdisjoint(valid) and set(train) | set(valid) == set(range(7390))
    assert (train, valid) == data.split_indices(7390, 0.2, 2)
    assert valid != data.split_indices(7390, 0.2, 3)[1]
    # The same draw as the lesson's np.random.seed(2); np.random.permutation(n).
    np.random.seed(2)
    assert valid == sorted(np.random.permutation(7390)[:1478].tolist())
    assert data.split_indices(10, 0.2, 2)[1] == sorted(np.random.RandomState(2).permutation(10)[:2])
    assert data.split_indices(5, 0.0) == ([0, 1, 2, 3, 4], [])
    with pytest.raises(ValueError):
        data.split_indices(5, 1.0)


@pytest.fixture(scope="module")
def shapes():
    return data.make_shapes(60, size=48, seed=5)


def test_make_shapes_shapes_and_determinism(shapes):
    assert shapes.images.shape == (60, 3, 48, 48) and shapes.images.dtype == torch.uint8
    assert shapes.labels.shape == (60,) and shapes.labels.dtype == torch.int64
    assert shapes.boxes.shape == (60, 4) and shapes.boxes.dtype == torch.float32
    assert shapes.classes == ["circle", "square", "triangle", "cross", "star"]
    assert torch.bincount(shapes.labels).tolist() == [12] * 5
    again = data.make_shapes(60, size=48, seed=5)
    assert torch.equal(again.images, shapes.images) and torch.equal(again.boxes, shapes.boxes)
    other = data.make_shapes(60, size=48, seed=6)
    assert not torch.equal(other.images, shapes.images)
    assert data.make_shapes(0, size=32).images.shape == (0, 3, 32, 32)


def test_make_shapes_only_makes_those_images_of_the_same_set(shapes):
    # A run's validation split is made again without the whole set: the same pixels, boxes,
    # masks and labels as indexing all 60, in the order asked (noise backgrounds among them).
    for only in ([0], [59, 3, 17, 3], list(range(1, 60, 4)), []):
        part = data.make_shapes(60, size=48, seed=5, only=only)
        idx = torch.as_tensor(only, dtype=torch.int64)
        for name in ("images", "labels", "boxes", "masks"):
            assert torch.equal(getattr(part, name), getattr(shapes, name)[idx]), (only, name)
    with pytest.raises(ValueError, match="index the 60 images"):
        data.make_shapes(60, size=48, seed=5, only=[60])


def test_make_shapes_boxes_tightly_contain_the_object(shapes):
    for i in range(len(shapes.labels)):
        img = shapes.images[i].to(torch.int32)
        mask = shapes.masks[i]
        # The mask is the object: one solid colour that no background pixel comes close to.
        inside = img[:, mask]
        colour = inside[:, :1]
        assert torch.equal(inside, colour.expand_as(inside))
        outside = img[:, ~mask]
        assert (outside - colour).abs().min(dim=0).values.min() >= 40
        ys, xs = torch.nonzero(mask, as_tuple=True)
        x0, y0, x1, y1 = shapes.boxes[i].tolist()
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        # A minority of the image (a heatmap pointing at the box means something), but big
        # enough for a CNN trained from scratch to learn the shapes in minutes on a CPU.
        frac = mask.float().mean().item()
        assert 0.03 < frac < 0.25
        assert 0.08 * 48 * 48 <= (x1 - x0) * (y1 - y0) <= 0.36 * 48 * 48


def test_make_shapes_area_matches_geometry():
    # A circle's pixel count matches pi * r^2 for its radius (r^2 = 0.85 of the drawn radius).
    sd = data.make_shapes(40, size=64, seed=1)
    for i in (sd.labels == 0).nonzero().flatten().tolist():
        x0, y0, x1, y1 = sd.boxes[i].tolist()
        r = ((x1 - x0) + (y1 - y0)) / 4
        assert abs(sd.masks[i].sum().item() - math.pi * r * r) < 0.12 * math.pi * r * r


def test_presize_skips_a_corrupt_file(tmp_path):
    red = tmp_path / "red.png"
    red.write_bytes(png_bytes((255, 0, 0), size=(40, 20)))
    # Left half blue, right half green, on a wide image: the centre crop keeps both halves.
    two = Image.new("RGB", (60, 30), (0, 0, 255))
    two.paste((0, 255, 0), (30, 0, 60, 30))
    two.save(tmp_path / "two.jpg", quality=95)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    missing = tmp_path / "gone.png"
    x, ok = data.presize([red, bad, tmp_path / "two.jpg", missing], 8, workers=2)
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.uint8
    assert ok.tolist() == [True, False, True, False]
    assert int((~ok).sum()) == 2
    assert torch.equal(
        x[0], torch.tensor([255, 0, 0], dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8)
    )
    assert x[1].sum() == 0
    left, right = x[2, :, :, 1].to(torch.int32), x[2, :, :, 6].to(torch.int32)
    assert (left[2] > 200).all() and (left[1] < 40).all()
    assert (right[1] > 200).all() and (right[2] < 40).all()
    x1, ok1 = data.presize([red, bad], 8, workers=1)
    assert ok1.tolist() == [True, False] and torch.equal(x1[0], x[0])


def test_download_pets_offline_raises_quickly(tmp_path):
    # This machine has no network to the dataset's host: a real attempt must fail fast and clearly.
    seen = []
    start = time.monotonic()
    with pytest.raises(data.DatasetUnavailable, match="could not be downloaded.*no network"):
        data.download_pets(tmp_path, progress=lambda what, frac: seen.append((what, frac)))
    assert time.monotonic() - start < 30
    assert seen and seen[0] == ("Connecting", 0.0)
    assert data.pets_status(tmp_path)["state"] != "ready"
    assert not (tmp_path / "oxford-iiit-pet.download.lock").exists()


def test_download_pets_unreachable_server(tmp_path, monkeypatch):
    # A server that refuses connections (nothing listens on port 9 locally).
    resources = (
        ("http://127.0.0.1:9/images.tar.gz", "0" * 32),
        ("http://127.0.0.1:9/annotations.tar.gz", "0" * 32),
    )
    monkeypatch.setattr(torchvision.datasets.OxfordIIITPet, "_RESOURCES", resources)
    with pytest.raises(data.DatasetUnavailable, match="127.0.0.1"):
        data.download_pets(tmp_path, timeout=2)


def test_download_pets_refuses_a_second_download(tmp_path):
    import os

    (tmp_path / "oxford-iiit-pet.download.lock").write_text(str(os.getppid()))
    with pytest.raises(data.DatasetUnavailable, match="Another download"):
        data.download_pets(tmp_path)


@pytest.fixture
def pet_server(tmp_path, monkeypatch):
    """A local HTTP server with tiny images/annotations archives in the real layout."""
    import hashlib
    import http.server
    import tarfile
    import threading
    from functools import partial

    site = tmp_path / "site"
    src = tmp_path / "src"
    names = ["Abyssinian_1", "Abyssinian_2", "beagle_1", "beagle_10", "Bengal_3"]
    (src / "images").mkdir(parents=True)
    for name in names:
        Image.new("RGB", (12, 9), (200, 30, 30)).save(src / "images" / f"{name}.jpg")
    (src / "annotations").mkdir()
    (src / "annotations" / "trainval.txt").write_text(
        "".join(f"{n} {i + 1} 1 1\n" for i, n in enumerate(names))
    )
    (src / "annotations" / "test.txt").write_text("")
    site.mkdir()
    resources = []
    for part in ("images", "annotations"):
        with tarfile.open(site / f"{part}.tar.gz", "w:gz") as tar:
            tar.add(src / part, arcname=part)
        md5 = hashlib.md5((site / f"{part}.tar.gz").read_bytes()).hexdigest()
        resources.append((part, md5))
    gate = threading.Event()  # a test may close it to hold every GET (a slow download)
    gate.set()
    cut: set[str] = set()  # paths whose body stops half-way (a connection that drops)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            gate.wait(30)
            if self.path in cut:
                body = (site / self.path.lstrip("/")).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(Handler, directory=str(site))
    )
    server.gate = gate
    server.cut = cut
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    monkeypatch.setattr(
        torchvision.datasets.OxfordIIITPet,
        "_RESOURCES",
        tuple((f"http://127.0.0.1:{port}/{part}.tar.gz", md5) for part, md5 in resources),
    )
    monkeypatch.setattr(data, "PETS_EXPECTED", len(names))
    yield server
    server.shutdown()
    server.server_close()


def test_download_pets_from_a_server_and_repair_a_half_extracted_tree(tmp_path, pet_server):
    root = tmp_path / "root"
    seen = []
    data.download_pets(root, progress=lambda what, frac: seen.append((what, frac)))
    assert seen[-1] == ("Done", 1.0)
    assert all(0.0 <= f <= 1.0 for _, f in seen)
    assert [f for _, f in seen] == sorted(f for _, f in seen)
    status = data.pets_status(root)
    assert (status["state"], status["n_images"]) == ("ready", 5)
    assert [p.name for p in data.pets_by_breed(root)["beagle"]] == ["beagle_1.jpg", "beagle_10.jpg"]
    # torchvision reads the same tree.
    assert len(torchvision.datasets.OxfordIIITPet(str(root))) == 5

    # Half-extracted: two images gone. With the server down, the kept archives repair it.
    pet_server.shutdown()
    pet_server.server_close()
    images = root / "oxford-iiit-pet" / "images"
    (images / "beagle_1.jpg").unlink()
    (images / "Bengal_3.jpg").unlink()
    assert data.pets_status(root)["state"] == "partial"
    data.download_pets(root)
    assert data.pets_status(root)["state"] == "ready"
    assert (images / "beagle_1.jpg").is_file()
    # Ready already: nothing to do, even offline.
    data.download_pets(root)


def test_a_stalled_download_gives_up_and_frees_the_lock(tmp_path, pet_server):
    # The server accepts the connection and then sends nothing (the gate holds every GET).
    root = tmp_path / "root"
    pet_server.gate.clear()
    t0 = time.monotonic()
    try:
        with pytest.raises(data.DatasetUnavailable, match="did not answer"):
            data.download_pets(root, stall_timeout=1.0)
    finally:
        pet_server.gate.set()
    assert time.monotonic() - t0 < 20
    assert data.pets_status(root)["downloading"] is False  # a retry is not refused
    data.download_pets(root)  # and it works once the server answers again
    assert data.pets_status(root)["state"] == "ready"


def test_a_download_cut_short_is_refused_not_kept(tmp_path, pet_server):
    # http.client ends a short body quietly; the half archive must not take the archive's name
    # (torchvision would then fetch it again with no timeout at all).
    root = tmp_path / "root"
    pet_server.cut.add("/images.tar.gz")
    with pytest.raises(data.DatasetUnavailable, match="incomplete or corrupt"):
        data.download_pets(root, stall_timeout=5.0)
    base = root / "oxford-iiit-pet"
    assert not (base / "images.tar.gz").exists() and not (base / "images.tar.gz.part").exists()
    assert data.pets_status(root)["downloading"] is False
    pet_server.cut.clear()
    data.download_pets(root)
    assert data.pets_status(root)["state"] == "ready"


def test_interrupted_caller_leaves_the_download_running_and_locked(tmp_path, pet_server):
    # A Streamlit rerun raises inside the progress callback; the download must go on in its
    # thread, keep the lock, and refuse a second download until it is done.
    class Rerun(Exception):
        pass

    calls = []

    def interrupt(what, frac):
        calls.append(what)
        if len(calls) == 2:  # the first report inside the polling loop: the worker is running
            raise Rerun

    root = tmp_path / "root"
    pet_server.gate.clear()
    with pytest.raises(Rerun):
        data.download_pets(root, progress=interrupt)
    assert data.pets_status(root)["downloading"] is True
    with pytest.raises(data.DatasetUnavailable, match="Another download"):
        data.download_pets(root)
    pet_server.gate.set()
    deadline = time.monotonic() + 30
    while data.pets_status(root)["downloading"] and time.monotonic() < deadline:
        time.sleep(0.05)
    status = data.pets_status(root)
    assert (status["state"], status["downloading"]) == ("ready", False)
