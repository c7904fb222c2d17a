"""AugSettings: validation of every field, and the JSON round trip of settings files and URLs."""

from __future__ import annotations

import json
import math
import random
from dataclasses import fields

import pytest

from explorer import augment as A
from explorer.errors import UserError


def _random_settings(seed: int) -> A.AugSettings:
    """Valid settings with every field drawn at random inside its documented range."""
    rng = random.Random(seed)
    hand = dict(
        do_flip=rng.random() < 0.5,
        flip_vert=rng.random() < 0.5,
        rand_crop=rng.random() < 0.5,
        max_rotate=rng.uniform(0, 180),
        max_zoom=rng.uniform(1, 3),
        max_squish=rng.uniform(1, 3),
        max_resize_crop=rng.uniform(1, 4),
        resize_crop_ratio=rng.uniform(1, 2),
        max_jitter=rng.uniform(0, 0.2),
        max_rgb=rng.uniform(0, 1),
        padding_mode=rng.choice(A.PADDING_MODES),
        size=rng.randint(2, 512),
        pad=rng.randint(0, 120),
        cutout_holes=rng.randint(0, A.MAX_CUTOUT_HOLES),
        cutout_size=rng.uniform(0.01, 1.0),
        zoom_row=rng.choice([None, rng.random()]),
        zoom_col=rng.choice([None, rng.random()]),
        min_zoom=rng.uniform(0.5, 1.0),
    )
    hand["cutout_size_min"] = rng.choice([None, hand["cutout_size"] * rng.uniform(0.1, 1.0)])
    for f in fields(A.AugSettings):
        if f.name.startswith("p_"):
            hand[f.name] = rng.random()
        elif f.name not in hand:  # lighting and warp magnitudes: [0, 1)
            hand[f.name] = rng.uniform(0, 0.95)
    return A.AugSettings(**hand)


ROUND_TRIP = {
    "defaults": A.AugSettings(),
    "lesson": A.AugSettings.lesson(),
    "off": A.AugSettings.off(),
    **{f"random{i}": _random_settings(i) for i in range(5)},
}


@pytest.mark.parametrize("name", list(ROUND_TRIP))
def test_json_round_trip(name):
    s = ROUND_TRIP[name]
    d = s.to_dict()
    assert set(d) == {f.name for f in fields(A.AugSettings)}
    text = json.dumps(d)  # plain JSON types only: dumps would fail on anything else
    back = A.AugSettings.from_dict(json.loads(text))
    assert back == s and back.to_dict() == d
    assert A.AugSettings.from_json(s.to_json()) == s


def test_random_settings_really_vary():
    dicts = [ROUND_TRIP[f"random{i}"].to_dict() for i in range(5)]
    for key in ("max_rotate", "size", "p_affine", "max_warp"):
        assert len({d[key] for d in dicts}) == 5, key


def test_missing_keys_keep_defaults_and_ints_become_floats():
    s = A.AugSettings.from_dict({"max_rotate": 20, "size": 64})
    assert s == A.AugSettings(max_rotate=20.0, size=64)
    assert type(s.max_rotate) is float and type(s.size) is int
    assert A.AugSettings.from_dict({}) == A.AugSettings()
    # the constructor stores canonical types too, so equal settings hash alike
    assert hash(A.AugSettings(max_rotate=20)) == hash(A.AugSettings(max_rotate=20.0))


def test_every_field_has_a_limit():
    assert set(A.FIELD_LIMITS) == {f.name for f in fields(A.AugSettings)}


# (input, field named, words the message must contain)
REFUSALS = [
    ({"max_rotat": 10.0}, "max_rotat", "did you mean 'max_rotate'"),
    ({"colour": 1}, "colour", "not an augmentation setting"),
    ({"max_rotate": "10"}, "max_rotate", "a number"),
    ({"max_rotate": True}, "max_rotate", "a number"),
    ({"size": True}, "size", "a whole number"),
    ({"size": 64.0}, "size", "a whole number"),
    ({"pad": 2.5}, "pad", "a whole number"),
    ({"do_flip": 1}, "do_flip", "true or false"),
    ({"do_flip": "yes"}, "do_flip", "true or false"),
    ({"max_zoom": None}, "max_zoom", "a number"),
    ({"max_warp": [0.1]}, "max_warp", "a number"),
    ({"max_rotate": math.nan}, "max_rotate", "finite"),
    ({"max_zoom": math.inf}, "max_zoom", "finite"),
    ({"p_affine": -math.inf}, "p_affine", "finite"),
    ({"p_affine": 1.5}, "p_affine", "[0, 1]"),
    ({"p_rgb": -0.1}, "p_rgb", "probability"),
    ({"max_lighting": 1.0}, "max_lighting", "[0, 1)"),
    ({"max_tilt": 1.0}, "max_tilt", "[0, 1)"),
    ({"max_zoom": 0.5}, "max_zoom", "≥ 1"),
    ({"resize_crop_ratio": 0.9}, "resize_crop_ratio", "≥ 1"),
    ({"max_rotate": -1.0}, "max_rotate", "≥ 0"),
    ({"max_jitter": 1.5}, "max_jitter", "[0, 1]"),
    ({"size": 1}, "size", f"[2, {A.MAX_SIZE}]"),
    ({"size": 100_000}, "size", f"[2, {A.MAX_SIZE}]"),
    ({"cutout_holes": A.MAX_CUTOUT_HOLES + 1}, "cutout_holes", f"[0, {A.MAX_CUTOUT_HOLES}]"),
    ({"cutout_size": 0.0}, "cutout_size", "(0, 1]"),
    ({"zoom_row": 1.5}, "zoom_row", "[0, 1]"),
    ({"zoom_col": "centre"}, "zoom_col", "a number or null"),
    ({"padding_mode": "reflect"}, "padding_mode", "zeros, border, reflection"),
    ({"min_zoom": 0.05}, "min_zoom", "[0.1, 1]"),
    ({"min_zoom": 0.9, "max_zoom": 1.0, "p_affine": 1.0}, "min_zoom", None),  # allowed: control
    ({"min_zoom": 1.5}, "min_zoom", "[0.1, 1]"),
    ({"cutout_size_min": "small"}, "cutout_size_min", "a number or null"),
    (
        {"cutout_size_min": 0.3, "cutout_size": 0.2},
        "cutout_size_min",
        "must not exceed cutout_size",
    ),
    ({"padding_mode": 0}, "padding_mode", "zeros, border, reflection"),
]


@pytest.mark.parametrize(("d", "field", "words"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_from_dict_refusals_name_the_field(d, field, words):
    if words is None:  # a nearby value that is allowed
        A.AugSettings.from_dict(d)
        return
    with pytest.raises(A.SettingsError) as info:
        A.AugSettings.from_dict(d)
    err = info.value
    assert isinstance(err, UserError) and isinstance(err, ValueError)
    assert err.field == field
    assert str(err).startswith(field) or repr(field) in str(err)
    assert words in str(err)


def test_a_bad_field_among_good_ones_is_still_refused():
    d = {**A.AugSettings.lesson().to_dict(), "p_lighting": 2.0}
    with pytest.raises(A.SettingsError, match="p_lighting"):
        A.AugSettings.from_dict(d)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "one JSON object"),
        (b"\xff\xfe\x00", "not valid JSON"),
        ('{"max_rotate": NaN}', "max_rotate must be a finite number"),
    ],
)
def test_from_json_refuses_what_is_not_a_settings_object(text, words):
    with pytest.raises(A.SettingsError, match=words):
        A.AugSettings.from_json(text)


def test_from_dict_refuses_non_mappings_and_non_text_keys():
    with pytest.raises(A.SettingsError, match="mapping"):
        A.AugSettings.from_dict([("max_rotate", 1.0)])  # type: ignore[arg-type]
    with pytest.raises(A.SettingsError, match="text"):
        A.AugSettings.from_dict({1: 2.0})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(p_affine=1.5), "p_affine"),
        (dict(max_zoom=0.5), "max_zoom"),
        (dict(max_lighting=1.0), "max_lighting"),
        (dict(size=1), "size"),
        (dict(padding_mode="reflect"), "padding_mode"),
        (dict(max_rotate="10"), "max_rotate"),
    ],
)
def test_constructor_raises_the_same_settings_error(kwargs, field):
    with pytest.raises(A.SettingsError) as info:
        A.AugSettings(**kwargs)
    assert info.value.field == field and field in str(info.value)
