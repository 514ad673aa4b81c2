"""Viet Nam's 2025 two-level geography (34 provinces → communes), from `vietnam-provinces`."""

from __future__ import annotations

from functools import cache

from vietnam_provinces import Province, Ward


@cache
def _commune_provinces() -> dict[str, str]:
    return {f"{int(ward.code):05d}": f"{int(ward.province_code):02d}" for ward in Ward.iter_all()}


@cache
def province_names() -> dict[str, str]:
    return {f"{int(province.code):02d}": province.name for province in Province.iter_all()}


def is_province(code: str) -> bool:
    return code in province_names()


def province_of_commune(commune_code: str) -> str | None:
    return _commune_provinces().get(commune_code)
