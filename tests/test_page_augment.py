"""AppTest of the Augmentation page: the grid renders, and sliders, padding and draws change it."""

from __future__ import annotations


def _grid(at) -> list[tuple[str, str]]:
    """(image url, caption) of the 3×3 grid's tiles, in order (their captions start "i: ")."""
    tiles = []
    for el in at.main.get("image"):
        for img in el.proto.imgs:
            if img.caption[:2] in {f"{i}:" for i in range(9)}:
                tiles.append((img.url, img.caption))
    return tiles


def test_grid_renders_and_reacts_to_sliders_padding_draws_and_presets(app_test):
    at = app_test("augment")
    assert not at.exception
    grid = _grid(at)
    assert len(grid) == 9
    # the lesson's settings: every tile rotated (p_affine = 1) and lit (p_lighting = 1)
    assert all("rotate" in cap and "brightness" in cap for _, cap in grid)

    at.slider(key="augment_max_rotate").set_value(90.0).run()
    assert not at.exception
    turned = _grid(at)
    assert [u for u, _ in turned] != [u for u, _ in grid]

    at.radio(key="augment_padding").set_value("zeros").run()
    assert not at.exception
    zeros = _grid(at)
    assert [u for u, _ in zeros] != [u for u, _ in turned]
    assert [c for _, c in zeros] == [c for _, c in turned]  # same draw, other padding

    at.button(key="augment_new_draw").click().run()
    assert not at.exception
    assert at.number_input(key="augment_seed").value == 1
    assert [c for _, c in _grid(at)] != [c for _, c in zeros]

    at.button(key="augment_preset_off").click().run()
    assert not at.exception
    assert [c for _, c in _grid(at)] == [f"{i}: unchanged" for i in range(9)]
    at.selectbox(key="augment_series").set_value("symmetric_warp")
    at.slider(key="augment_chain_angle").set_value(-30.0)
    at.slider(key="augment_tile").set_value(4).run()
    assert not at.exception
    captions = [img.caption for el in at.main.get("image") for img in el.proto.imgs]
    assert any(c.startswith("warp magnitude") for c in captions)
    psnrs = [float(c.split("PSNR ")[1].split(" dB")[0]) for c in captions if "PSNR" in c]
    assert len(psnrs) == 2 and psnrs[0] > psnrs[1]  # one resample beats the chain


def test_photo_too_small_to_augment_is_one_sentence(app_test, monkeypatch):
    """A 1-pixel-wide strip cannot be resampled: one error naming its size, no traceback."""
    from explorer import images

    strip = images.Image.new("RGB", (1, 3000), (9, 9, 9))
    monkeypatch.setattr(images, "sample_images", lambda: {"strip": strip})
    at = app_test("augment")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "strip is 1×3000 pixels; augmentation needs at least 2×2. Pick another image in the sidebar."
    ]
    assert not at.main.get("image")
