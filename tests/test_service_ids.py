"""Preparation ids: short, typable, unambiguous, and a typo never names another preparation."""

from __future__ import annotations

import random

import pytest

from infusion_app.domain.errors import ValidationError
from infusion_app.service.ids import ALPHABET, new_preparation_id, normalize_preparation_id

rng = random.Random(20261127)


def some_ids(count: int = 200) -> list[str]:
    return [new_preparation_id() for _ in range(count)]


def test_ids_look_like_bsp_and_five_unambiguous_characters():
    for prep_id in some_ids():
        assert len(prep_id) == 9 and prep_id[:4] == "BSP-"
        assert set(prep_id[4:]) <= set(ALPHABET)
        assert not set(prep_id[4:]) & set("0O1I")
        assert normalize_preparation_id(prep_id) == prep_id


def test_ids_are_random_enough_not_to_repeat_in_a_day():
    ids = some_ids(2000)
    assert len(set(ids)) >= 1990  # 2**20 possible bodies; collisions are retried at creation anyway


@pytest.mark.parametrize("typed", ["bsp-{body}", " BSP-{body} ", "BSP{body}", "bsp {body}\n"])
def test_typed_and_scanned_forms_are_accepted(typed):
    prep_id = new_preparation_id()
    text = typed.format(body=prep_id[4:].lower() if typed.islower() else prep_id[4:])
    assert normalize_preparation_id(text) == prep_id


def test_every_single_character_typo_is_refused():
    for prep_id in some_ids(50):
        for position in range(4, 9):
            for wrong in ALPHABET:
                if wrong == prep_id[position]:
                    continue
                typo = prep_id[:position] + wrong + prep_id[position + 1:]
                with pytest.raises(ValidationError) as refused:
                    normalize_preparation_id(typo)
                assert refused.value.field == "preparation id"


def test_swapped_neighbours_are_refused_except_2_and_z():
    """Luhn mod 32 misses one transposition: the first and last characters of the alphabet."""
    for prep_id in some_ids(100):
        body = prep_id[4:]
        for position in range(4):
            a, b = body[position], body[position + 1]
            if a == b or {a, b} == {"2", "Z"}:
                continue
            swapped = "BSP-" + body[:position] + b + a + body[position + 2:]
            with pytest.raises(ValidationError):
                normalize_preparation_id(swapped)


@pytest.mark.parametrize("text, words", [
    ("", "not a preparation id"),
    ("BSP-7K3Q", "not a preparation id"),
    ("XYZ-7K3QX", "not a preparation id"),
    ("BSP-0K3QX", "never contain 0, O, 1 or I"),
    ("BSP-IK3QX", "never contain 0, O, 1 or I"),
])
def test_malformed_ids_say_why(text, words):
    with pytest.raises(ValidationError) as refused:
        normalize_preparation_id(text)
    assert words in refused.value.message


def test_the_short_id_without_its_prefix_is_accepted():
    from infusion_app.service.ids import new_preparation_id, normalize_preparation_id

    full = new_preparation_id()
    assert normalize_preparation_id(full.split("-")[1].lower()) == full
