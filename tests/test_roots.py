"""Tests for explorer.roots: folders only below the server's data roots, label regexes bounded in
length and time (a catastrophically backtracking regex ends with a sentence, not a hang)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from explorer import data, jobs, roots
from explorer import train as tr


@pytest.fixture
def two_roots(tmp_path, monkeypatch):
    a, b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "outside"
    for p in (a, b, outside):
        p.mkdir()
    monkeypatch.setenv(roots.ROOTS_ENV, f"{a}{os.pathsep}{b}")
    return a, b, outside


def test_default_roots_are_the_projects_data_and_the_users_home(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(roots.ROOTS_ENV, raising=False)
    monkeypatch.setenv("EXPLORER_HOME", str(tmp_path))
    assert roots.allowed_roots() == [(tmp_path / "data").resolve(), Path.home().resolve()]
    assert roots.check_folder(tmp_path / "data" / "cats") == (tmp_path / "data" / "cats").resolve()


def test_only_folders_below_a_root_are_read(two_roots) -> None:
    a, b, outside = two_roots
    assert roots.check_folder(a) == a.resolve()
    assert roots.check_folder(b / "pets" / "..") == b.resolve()  # '..' that stays inside
    escapes = [outside, a / ".." / "outside", "/etc", a.parent]
    link = a / "sneaky"
    link.symlink_to(outside)  # a symlink below a root that points elsewhere
    escapes.append(link)
    for folder in escapes:
        with pytest.raises(roots.OutsideRoots) as err:
            roots.check_folder(folder)
        msg = str(err.value)
        assert msg.startswith(f"The folder {str(folder)!r} is outside the folders this server")
        assert str(a.resolve()) in msg and roots.ROOTS_ENV in msg and msg.count(". ") == 0


def test_a_job_on_a_folder_outside_the_roots_is_refused_before_it_starts(
    two_roots, monkeypatch
) -> None:
    a, _, outside = two_roots
    monkeypatch.setenv("EXPLORER_HOME", str(a))
    cfg = tr.recipe("tiny", data=f"folder:{outside}")
    with pytest.raises(roots.OutsideRoots):
        jobs.submit(cfg)
    with pytest.raises(roots.OutsideRoots):
        jobs.start(cfg)
    assert jobs.list_runs() == [] and jobs.current() is None and jobs.queued() == []


def images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.new("RGB", (4, 4)).save(folder / n)


def test_a_bounded_regex_labels_like_re(tmp_path) -> None:
    names = ["cat_1.png", "dog_2.png", "readme.png"]
    assert roots.labels_by_regex(r"([a-z]+)_\d+\.png$", names) == ["cat", "dog", None]
    images(tmp_path, names)
    items = data.folder_items(tmp_path, regex=r"([a-z]+)_\d+\.png$")
    assert items.classes == ["cat", "dog"] and items.skipped == 1


def test_a_catastrophic_regex_ends_with_a_sentence_instead_of_hanging(tmp_path) -> None:
    # (a+)+b on 40 a's and no b: 2**40 ways to split the a's, each tried by the backtracker.
    names = ["a" * 40 + ".png"]
    with pytest.raises(roots.RegexTooSlow, match=r"takes longer than 1 s .*nested repeats"):
        roots.labels_by_regex(r"(a+)+b", names, timeout=1.0)
    images(tmp_path, names)
    with pytest.raises(data.FolderError, match=r"The label regex '\(a\+\)\+b' takes longer"):
        data.folder_items(tmp_path, regex=r"(a+)+b")


def test_a_regex_too_long_is_refused_with_a_sentence(tmp_path) -> None:
    images(tmp_path, ["x_1.png"])
    long = "(x)" + "x?" * roots.MAX_REGEX_LEN
    with pytest.raises(data.FolderError, match=f"use at most {roots.MAX_REGEX_LEN}"):
        data.folder_items(tmp_path, regex=long)
