"""The screening engine's data files, loaded once (each file cites its source)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


def _load(name: str) -> dict:
    return json.loads(resources.files("services.matcher.screening").joinpath(f"data/{name}").read_text("utf-8"))


@lru_cache
def names() -> dict:
    return _load("names.json")


@lru_cache
def red_flags() -> dict:
    return _load("red_flags.json")


@lru_cache
def moratorium() -> dict:
    return _load("moratorium.json")


@lru_cache
def ad_words() -> dict:
    return _load("ad_words.json")


@lru_cache
def places() -> dict:
    return _load("places.json")
