"""Every label is in a catalogue: each key a template or the console's code uses exists,
translated, in both languages, and the families built from codes cover every code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from babel.messages.extract import extract_from_file
from jinja2.ext import babel_extract

from homeward.agency_types import AgencyType
from homeward.events import Outcome, RejectionReason, TaskStatus
from homeward.events.alerts import CancelReason
from homeward.events.health import AnomalyRule, Severity
from homeward.events.referrals import HouseholdRegistration, VictimProfile
from homeward.events.reports import Sector
from homeward_agency.delivery import Kind
from homeward_gateway.console import i18n
from homeward_gateway.console.rendering import TEMPLATES

CODE = Path(i18n.__file__).parent


def template_keys() -> set[str]:
    keys: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        for _line, message, _comments, _context in extract_from_file(
            babel_extract, str(path), options={"extensions": "jinja2.ext.i18n"}
        ):
            # A key built from a code ("kind." ~ kind) is not a constant: families() has it.
            if isinstance(message, str):
                keys.add(message)
    return keys


def code_keys() -> set[str]:
    text = "\n".join(p.read_text() for p in CODE.glob("*.py"))
    return set(re.findall(r'"((?:error|flash|nav)\.[a-z_]+)"', text)) - {"error.html"}


def families() -> set[str]:
    out = {f"lang.{t}" for t in i18n.LANGUAGES}
    out |= {f"agency_type.{t.value}" for t in AgencyType}
    out |= {f"status.{s.value}" for s in TaskStatus}
    out |= {f"reason.{r.value}" for r in RejectionReason}
    out |= {f"outcome.{o.value}" for o in Outcome}
    out |= {f"cancel.{c.value}" for c in CancelReason}
    out |= {f"sector.{s.value}" for s in Sector}
    out |= {f"kind.{k}" for k in get_args(Kind)}
    out |= {f"victim.{f}" for f in VictimProfile.model_fields}
    out |= {f"sex.{s}" for s in ("female", "male", "unknown")}
    out |= {f"household.{h.value}" for h in HouseholdRegistration}
    out |= {"notice.phase.answer", "notice.phase.completion"}
    out |= {f"anomaly_rule.{r.value}" for r in AnomalyRule}
    out |= {f"severity.{v.value}" for v in Severity}
    return out


def test_templates_use_keys_the_extractor_finds() -> None:
    keys = template_keys()
    assert len(keys) > 80 and "inbox.title" in keys


def test_every_key_used_exists_in_both_languages() -> None:
    used = template_keys() | code_keys() | families()
    for tag in i18n.LANGUAGES:
        have = i18n.keys(tag)
        missing = sorted(used - set(have))
        assert missing == [], f"{tag} lacks {missing}"


def test_both_catalogues_hold_the_same_keys_and_chinese_is_chinese() -> None:
    zh, en = i18n.keys("zh-CN"), i18n.keys("en")
    assert set(zh) == set(en)
    assert re.search(r"[\u4e00-\u9fff]", zh["inbox.title"])
    assert en["inbox.title"] == "Alert inbox"


def test_language_choice() -> None:
    assert i18n.choose(None, None) == "zh-CN"
    assert i18n.choose("en", None) == "en"
    assert i18n.choose(None, "en") == "en"
    assert i18n.choose("fr", "en") == "en"
    assert i18n.choose("zh-CN", "en") == "zh-CN"
    assert i18n.language("zh-CN").gettext("action.logout") == "退出"
