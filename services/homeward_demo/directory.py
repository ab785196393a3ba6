"""A synthetic agency directory for demos and tests: plainly fictional agencies
of every type, spread over a made-up region around one centre.

Every name is invented ("示例县公安局第3派出所" / "Sampleville County Police
Station 3") and every administrative code starts with 99, which is no real
province, so the file can never be mistaken for real contact data. The same
seed always gives the same directory, byte for byte:

    python -m homeward_demo.directory deploy/demo/agencies.csv [--seed 7] [--count 240]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from homeward.agencies import COLUMNS, OPTIONAL_COLUMNS, Agency, AgencyType, DeliveryMode
from homeward.geo import destination

CENTRE = (30.0, 104.0)  # latitude, longitude of the fictional region's centre
RINGS_KM = (100, 200, 300, 500)
MAX_DISTANCE_KM = 600.0
# Agencies keep this far from a ring boundary, so any reasonable distance
# formula puts each one in the same ring.
BOUNDARY_MARGIN_KM = 3.0

ID_PREFIX = {
    AgencyType.POLICE: "POL",
    AgencyType.CIVIL_AFFAIRS: "CIV",
    AgencyType.HEALTH: "HEA",
    AgencyType.EDUCATION: "EDU",
    AgencyType.JUSTICE: "JUS",
    AgencyType.HR_SOCIAL_SECURITY: "HRS",
    AgencyType.WOMENS_FEDERATION: "WOM",
    AgencyType.YOUTH_LEAGUE: "YTH",
    AgencyType.DISABLED_FEDERATION: "DIS",
    AgencyType.TRANSPORT: "TRN",
    AgencyType.CULTURE_TOURISM: "CUL",
    AgencyType.MEDIA: "MED",
    AgencyType.CYBERSPACE: "CYB",
    AgencyType.PROCURATORATE: "PRO",
    AgencyType.COURT: "CRT",
    AgencyType.COORDINATION_OFFICE: "COO",
}

# Relative share of each type: many stations, schools and hubs, few offices.
WEIGHTS = {
    AgencyType.POLICE: 40,
    AgencyType.EDUCATION: 40,
    AgencyType.TRANSPORT: 28,
    AgencyType.HEALTH: 24,
    AgencyType.CULTURE_TOURISM: 24,
    AgencyType.CIVIL_AFFAIRS: 14,
    AgencyType.MEDIA: 8,
    AgencyType.JUSTICE: 8,
    AgencyType.HR_SOCIAL_SECURITY: 8,
    AgencyType.WOMENS_FEDERATION: 8,
    AgencyType.YOUTH_LEAGUE: 8,
    AgencyType.DISABLED_FEDERATION: 8,
    AgencyType.CYBERSPACE: 6,
    AgencyType.PROCURATORATE: 6,
    AgencyType.COURT: 6,
    AgencyType.COORDINATION_OFFICE: 4,
}

PLACES = (
    ("示例县", "Sampleville County"),
    ("虚构市", "Fictionburg"),
    ("测试镇", "Testtown"),
    ("样本乡", "Exampleton"),
    ("模拟县", "Mockford County"),
    ("假想市", "Imaginaria"),
    ("演示镇", "Demoville"),
    ("占位县", "Placeholder County"),
)

# (Chinese, English) name patterns per type; {p}/{P} is the place, {k} the number.
NAMES: dict[AgencyType, tuple[tuple[str, str], ...]] = {
    AgencyType.POLICE: (("{p}公安局第{k}派出所", "{P} Police Station {k}"),),
    AgencyType.CIVIL_AFFAIRS: (
        ("{p}儿童福利院 {k}", "{P} Child Welfare Home {k}"),
        ("{p}救助管理站 {k}", "{P} Relief Station {k}"),
        ("{p}婚姻登记处 {k}", "{P} Marriage Registry {k}"),
    ),
    AgencyType.HEALTH: (
        ("{p}人民医院 {k}", "{P} People's Hospital {k}"),
        ("{p}妇幼保健院 {k}", "{P} Maternal and Child Hospital {k}"),
        ("{p}卫健委 {k}", "{P} Health Commission {k}"),
    ),
    AgencyType.EDUCATION: (
        ("{p}第{k}小学", "{P} No. {k} Primary School"),
        ("{p}第{k}中学", "{P} No. {k} Middle School"),
        ("{p}第{k}幼儿园", "{P} No. {k} Kindergarten"),
    ),
    AgencyType.JUSTICE: (
        ("{p}法律援助中心 {k}", "{P} Legal Aid Centre {k}"),
        ("{p}司法局 {k}", "{P} Justice Bureau {k}"),
    ),
    AgencyType.HR_SOCIAL_SECURITY: (
        ("{p}人社局 {k}", "{P} Human Resources and Social Security Bureau {k}"),
    ),
    AgencyType.WOMENS_FEDERATION: (("{p}妇联 {k}", "{P} Women's Federation {k}"),),
    AgencyType.YOUTH_LEAGUE: (("{p}团委 {k}", "{P} Youth League Committee {k}"),),
    AgencyType.DISABLED_FEDERATION: (("{p}残联 {k}", "{P} Disabled Persons' Federation {k}"),),
    AgencyType.TRANSPORT: (
        ("{p}火车站 {k}", "{P} Railway Station {k}"),
        ("{p}汽车客运站 {k}", "{P} Bus Station {k}"),
        ("{p}机场 {k}", "{P} Airport {k}"),
        ("{p}高速公路服务区 {k}", "{P} Highway Service Area {k}"),
    ),
    AgencyType.CULTURE_TOURISM: (
        ("{p}示例宾馆 {k}", "{P} Sample Hotel {k}"),
        ("{p}娱乐城 {k}", "{P} Entertainment Venue {k}"),
    ),
    AgencyType.MEDIA: (("{p}融媒体中心 {k}", "{P} Media Centre {k}"),),
    AgencyType.CYBERSPACE: (("{p}网信办 {k}", "{P} Cyberspace Office {k}"),),
    AgencyType.PROCURATORATE: (("{p}人民检察院 {k}", "{P} People's Procuratorate {k}"),),
    AgencyType.COURT: (("{p}人民法院 {k}", "{P} People's Court {k}"),),
    AgencyType.COORDINATION_OFFICE: (
        ("{p}反拐联席会议办公室 {k}", "{P} Anti-Trafficking Joint Conference Office {k}"),
    ),
}

# Distance bands (km) between the ring boundaries, and the share of agencies in each.
_BANDS = ((0.0, 100.0), (100.0, 200.0), (200.0, 300.0), (300.0, 500.0), (500.0, MAX_DISTANCE_KM))
_BAND_WEIGHTS = (30, 20, 15, 20, 15)
_WEBHOOK_EVERY = 20  # every 20th agency of a type takes deliveries by webhook
# The second agency of every type runs no software of its own: it reads its inbox
# on the gateway (the console; the demo plays it on the live stream), so every
# type is seen receiving that way too.
_GATEWAY_SLOT = 2
DRILLS_EVERY = 5  # every 5th agency of a type (from the first) takes part in drills


def _counts(n: int) -> dict[AgencyType, int]:
    """n split over the types by WEIGHTS (largest remainder), at least one each."""
    types = list(AgencyType)
    spare = n - len(types)
    total = sum(WEIGHTS[t] for t in types)
    shares = {t: spare * WEIGHTS[t] / total for t in types}
    counts = {t: 1 + math.floor(shares[t]) for t in types}
    by_remainder = sorted(types, key=lambda t: (-(shares[t] % 1), types.index(t)))
    for t in by_remainder[: n - sum(counts.values())]:
        counts[t] += 1
    return counts


def _distance_in(rng: random.Random, band: int) -> float:
    low, high = _BANDS[band]
    return rng.uniform(low + BOUNDARY_MARGIN_KM, high - BOUNDARY_MARGIN_KM)


def generate(seed: int = 7, n: int = 240) -> list[Agency]:
    """n fictional agencies: every type, every type within 100 km of CENTRE,
    and agencies in every ring out to MAX_DISTANCE_KM."""
    if n < 2 * len(AgencyType):
        raise ValueError(f"n must be at least {2 * len(AgencyType)} to cover every type and ring")
    rng = random.Random(seed)
    counts = _counts(n)
    # Which distance band each agency falls in: the first of each type within
    # 100 km; two of the rest in every band; the others by _BAND_WEIGHTS.
    slots = [(t, k) for t in AgencyType for k in range(1, counts[t] + 1)]
    rest = [s for s in slots if s[1] > 1]
    rng.shuffle(rest)
    band_of = {s: 0 for s in slots if s[1] == 1}
    for i, slot in enumerate(rest):
        if i < 2 * len(_BANDS):
            band_of[slot] = i % len(_BANDS)
        else:
            band_of[slot] = rng.choices(range(len(_BANDS)), weights=_BAND_WEIGHTS)[0]
    agencies: list[Agency] = []
    for agency_type, k in slots:
        band = band_of[(agency_type, k)]
        bearing = rng.uniform(0.0, 360.0)
        lat, lon = destination(*CENTRE, bearing, _distance_in(rng, band))
        district = band * 8 + int(bearing // 45) + 1
        place_zh, place_en = PLACES[(district + k) % len(PLACES)]
        zh, en = NAMES[agency_type][k % len(NAMES[agency_type])]
        webhook = k % _WEBHOOK_EVERY == _WEBHOOK_EVERY // 2
        agencies.append(
            Agency(
                id=f"{ID_PREFIX[agency_type]}-{k:04d}",
                type=agency_type,
                name_zh=zh.format(p=place_zh, k=k),
                name_en=en.format(P=place_en, k=k),
                latitude=round(lat, 6),
                longitude=round(lon, 6),
                admin_code=f"99{district:02d}{rng.randint(1, 99):02d}",
                delivery_mode=DeliveryMode.WEBHOOK
                if webhook
                else DeliveryMode.GATEWAY
                if k == _GATEWAY_SLOT
                else DeliveryMode.INBOX,
                # The first of each type (within 100 km) and every DRILLS_EVERY-th
                # after it take part in exercises: a drill reaches every type.
                drills=k % DRILLS_EVERY == 1,
            )
        )
    return agencies


def write_csv(path: Path | str, agencies: Iterable[Agency] | None = None) -> Path:
    """Write the directory CSV (UTF-8, '\\n' line ends) that load_directory reads."""
    rows = generate() if agencies is None else list(agencies)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow((*COLUMNS, *OPTIONAL_COLUMNS))
        for a in rows:
            out.writerow(
                [
                    a.id,
                    a.type.value,
                    a.name_zh,
                    a.name_en,
                    f"{a.latitude:.6f}",
                    f"{a.longitude:.6f}",
                    a.admin_code,
                    a.delivery_mode.value,
                    "yes" if a.drills else "no",
                ]
            )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m homeward_demo.directory", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path, help="CSV file to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--count", type=int, default=240)
    args = parser.parse_args(argv)
    write_csv(args.out, generate(seed=args.seed, n=args.count))
    print(f"wrote {args.count} fictional agencies to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
