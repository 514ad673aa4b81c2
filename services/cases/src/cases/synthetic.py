"""Seeded synthetic case reports: realistic fake children, real communes, plausible mixes.

Names are assembled from common Vietnamese name parts (with their diacritics), never taken
from a real record. A share of reports re-reports an earlier child through another channel,
sometimes typed without diacritics — the duplicates the cases service must link.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from vietnam_provinces import Ward

from cases.bulk_import import COLUMNS, TOP, WORKPLACE
from cases.domain.duplicates import fold_diacritics

FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
MIDDLE = {
    "female": ("Thị", "Ngọc", "Thu", "Thanh", "Bảo"),
    "male": ("Văn", "Đức", "Minh", "Quốc", "Hữu"),
}
GIVEN = {
    "female": ("Hoa", "Lan", "Mai", "Hương", "Linh", "Trang", "Thảo", "Vy", "Ngân", "Hà"),
    "male": ("An", "Bình", "Dũng", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Tuấn"),
}

# Rough shares: most detected cases are child labour; trafficking is rarer but urgent.
CASE_TYPES = {
    "child_labour": 40,
    "hazardous_child_labour": 20,
    "at_risk": 20,
    "child_trafficking": 12,
    "forced_labour": 8,
}
CHANNELS = {
    "hotline_111": 25,
    "school": 15,
    "labour_inspection": 15,
    "commune_collaborator": 15,
    "police": 10,
    "dolisa": 8,
    "ngo": 7,
    "media": 3,
    "self_report": 2,
}
STREETS = (
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Hai Bà Trưng",
    "Quang Trung",
    "Lý Thường Kiệt",
)
WORKPLACES = (
    ("Xưởng may", "garment"),
    ("Lò gạch", "brick_kiln"),
    ("Cơ sở chế biến hải sản", "seafood_processing"),
    ("Quán karaoke", "entertainment"),
    ("Xưởng mộc", "furniture"),
    ("Trang trại cà phê", "agriculture"),
)
SUMMARIES = {
    "child_labour": "Em làm việc nhiều giờ mỗi ngày, nghỉ học thường xuyên.",
    "hazardous_child_labour": "Em làm việc với máy móc và hóa chất nguy hiểm.",
    "at_risk": "Em thường ở một mình, gia đình gặp khó khăn.",
    "child_trafficking": "Em được hứa việc làm ở tỉnh khác, có dấu hiệu bị đưa đi.",
    "forced_labour": "Em bị giữ giấy tờ và không được về nhà.",
}
RISK_BY_TYPE = {
    "child_trafficking": ("urgent", "high"),
    "forced_labour": ("urgent", "high"),
    "hazardous_child_labour": ("high", "medium"),
    "child_labour": ("medium", "low"),
    "at_risk": ("medium", "low"),
}


@cache
def _communes() -> tuple[tuple[str, str], ...]:
    return tuple(
        (f"{int(ward.province_code):02d}", f"{int(ward.code):05d}") for ward in Ward.iter_all()
    )


def strip_diacritics(text: str) -> str:
    """'Nguyễn Thị Hoa' → 'Nguyen Thi Hoa' (the same folding duplicate detection uses)."""
    return fold_diacritics(text)


def generate_reports(
    count: int,
    *,
    seed: int = 2026,
    duplicate_rate: float = 0.05,
    today: date = date(2026, 11, 1),
    provinces: tuple[str, ...] = (),
) -> Iterator[dict]:
    """`count` request bodies for `POST /cases`, the same for the same seed."""
    rng = random.Random(seed)
    communes = [c for c in _communes() if not provinces or c[0] in provinces]
    earlier: list[dict] = []
    for _ in range(count):
        if earlier and rng.random() < duplicate_rate:
            report = _re_report(rng, rng.choice(earlier))
        else:
            report = _new_report(rng, rng.choice(communes), today)
            earlier.append(report)
        yield report


def _new_report(rng: random.Random, commune: tuple[str, str], today: date) -> dict:
    sex = rng.choice(("female", "male"))
    case_type = _weighted(rng, CASE_TYPES)
    age = rng.randint(5, 17)
    born = today - timedelta(days=age * 365 + rng.randint(0, 364))
    channel = _weighted(rng, CHANNELS)
    employer = channel == "labour_inspection" or (
        case_type in {"hazardous_child_labour", "child_labour"} and rng.random() < 0.6
    )
    report = {
        "channel": channel,
        "case_type": case_type,
        "risk_level": rng.choice(RISK_BY_TYPE[case_type]),
        "province_code": commune[0],
        "commune_code": commune[1],
        "child": {
            "full_name": " ".join(
                (rng.choice(FAMILY), rng.choice(MIDDLE[sex]), rng.choice(GIVEN[sex]))
            ),
            "date_of_birth": born.isoformat(),
            "sex": sex,
            "address": f"số {rng.randint(1, 199)} đường {rng.choice(STREETS)}",
        },
        "circumstances": {
            "employer_identified": employer,
            "out_of_school": rng.random() < (0.5 if age >= 12 else 0.2),
            "signs_of_forced_labour": case_type in {"child_trafficking", "forced_labour"}
            or rng.random() < 0.05,
        },
        "consent": _consent(rng, age),
        "summary": SUMMARIES[case_type],
    }
    if employer:
        kind, industry = rng.choice(WORKPLACES)
        report["workplace"] = {
            "name": f"{kind} {rng.choice(GIVEN['male'])} {rng.choice(('Phát', 'Thành', 'Hưng'))}",
            "address": f"số {rng.randint(1, 299)} đường {rng.choice(STREETS)}",
            "industry": industry,
        }
    return report


def _re_report(rng: random.Random, original: dict) -> dict:
    """The same child through another channel; the name sometimes typed without accents."""
    child = dict(original["child"])
    if rng.random() < 0.5:
        child["full_name"] = strip_diacritics(child["full_name"])
    others = [
        channel
        for channel in CHANNELS
        if channel != original["channel"]
        and (channel != "labour_inspection" or "workplace" in original)
    ]
    return {**original, "channel": rng.choice(others), "child": child}


def _consent(rng: random.Random, age: int) -> dict:
    roll = rng.random()
    if roll < 0.05:
        return {"legal_override_reason": "Police duty: suspected crime against a child"}
    if roll < 0.10:
        return {"child_consented": False, "guardian_consented": False}
    return {"child_consented": True if age >= 7 else None, "guardian_consented": True}


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def profile_rows(
    count: int, *, seed: int = 2026, provinces: tuple[str, ...] = ()
) -> Iterator[dict[str, str]]:
    """`count` rows of a beneficiary list, as `python -m cases import` reads them: generated
    reports laid out in the import's columns, consent given, each with its own profile id."""
    reports = generate_reports(count, seed=seed, duplicate_rate=0, provinces=provinces)
    for number, report in enumerate(reports, start=1):
        child, workplace = report["child"], report.get("workplace", {})
        row = {
            "profile_id": f"SYN-{seed}-{number:07d}",
            **{key: report[key] for key in TOP},
            **{key: child[key] for key in ("full_name", "date_of_birth", "sex", "address")},
            **{column: workplace.get(name, "") for column, name in WORKPLACE.items()},
            **{key: "yes" if value else "no" for key, value in report["circumstances"].items()},
            "child_consented": "yes",
            "guardian_consented": "yes",
        }
        yield {column: str(row.get(column, "")) for column in COLUMNS}


def write_profile_list(path: Path, count: int, *, seed: int = 2026) -> Path:
    """A CSV beneficiary list of `count` synthetic children of Hà Nội (province 01)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(profile_rows(count, seed=seed, provinces=("01",)))
    return path
