"""The routing rules of topology/referrals.yaml, loaded into typed rows.

A row that is wrong is refused at start-up with the row and the field named
(`rules[7].answer: rule 'schooling': ...`), so a district that edits the
table learns what it got wrong before any rescue is routed by it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from homeward import paths
from homeward.agencies import AgencyType
from homeward.config_files import in_file, read_yaml
from homeward.durations import parse_duration
from homeward.errors import ConfigError
from homeward.events.referrals import MAX_AGE, RescuedPerson

ROW_KEYS = frozenset({"id", "service", "to", "when", "after", "answer", "complete", "cites"})
REQUIRED = ("id", "service", "to", "answer", "complete", "cites")
FLAGS = ("child", "guardians_known", "identity_known", "disabled", "has_means")
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_TEXT = 200  # ReferralRequested.service and .cites are ShortText
OVERRIDES_VAR = "HOMEWARD_REFERRALS_DEADLINES"


def referrals_file() -> Path:
    return paths.topology_file().with_name("referrals.yaml")


@dataclass(frozen=True)
class Conditions:
    """A row's `when`: every condition set must hold (none set: everyone)."""

    child: bool | None = None
    guardians_known: bool | None = None
    identity_known: bool | None = None
    disabled: bool | None = None
    has_means: bool | None = None
    age_min: int | None = None
    age_max: int | None = None

    def holds(self, person: RescuedPerson) -> bool:
        facts = {
            "child": person.is_child,
            "guardians_known": person.guardians_known,
            "identity_known": person.identity_known,
            "disabled": bool(person.disabilities),
            "has_means": person.has_means,
        }
        if any(
            getattr(self, flag) is not None and getattr(self, flag) != facts[flag] for flag in FLAGS
        ):
            return False
        if self.age_min is not None and person.age_years < self.age_min:
            return False
        return self.age_max is None or person.age_years <= self.age_max


@dataclass(frozen=True)
class Rule:
    id: str
    service: str
    to: AgencyType
    when: Conditions
    answer: timedelta
    complete: timedelta
    cites: str
    # A clocked row (`after: {rule, wait}`): offered `wait` after that row's
    # referral of the same rescue is completed, unless the family is found first.
    after: str | None = None
    wait: timedelta | None = None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def __iter__(self) -> Any:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def matching(self, person: RescuedPerson) -> list[Rule]:
        """The rows whose conditions hold for `person`, in table order."""
        return [r for r in self.rules if r.when.holds(person)]

    def at_rescue(self, person: RescuedPerson) -> list[Rule]:
        """The rows offered as soon as `person` is rescued: the matching ones but
        the clocked (`after`), which wait for their period."""
        return [r for r in self.matching(person) if r.after is None]

    def with_deadlines(self, overrides: Mapping[str, tuple[Any, Any]]) -> RuleSet:
        """Deadlines replaced per rule id: {id: (answer or None, complete or None)}."""
        known = {r.id for r in self.rules}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"no rule with id {', '.join(unknown)}", field=OVERRIDES_VAR)
        rules = []
        for r in self.rules:
            answer, complete = overrides.get(r.id, (None, None))
            r = replace(r, answer=answer or r.answer, complete=complete or r.complete)
            if r.answer > r.complete:
                raise ConfigError(
                    f"rule {r.id!r}: the answer deadline is after the completion deadline",
                    field=OVERRIDES_VAR,
                )
            rules.append(r)
        return RuleSet(tuple(rules))


def parse_overrides(text: str) -> dict[str, tuple[timedelta | None, timedelta | None]]:
    """'legal_aid=PT1H/P2D,schooling=/P10D' -> {rule id: (answer, complete)}; '' -> {}."""
    out: dict[str, tuple[timedelta | None, timedelta | None]] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        rule_id, eq, spec = part.partition("=")
        answer, slash, complete = spec.partition("/")
        rule_id, answer, complete = rule_id.strip(), answer.strip(), complete.strip()
        if not eq or not slash or not rule_id or not (answer or complete):
            raise ValueError(f"{part!r} is not '<rule id>=<answer>/<complete>'")
        if rule_id in out:
            raise ValueError(f"rule {rule_id!r} is given twice")
        durations = tuple(parse_duration(d) if d else None for d in (answer, complete))
        if any(d is not None and d <= timedelta(0) for d in durations):
            raise ValueError(f"{part!r}: a deadline must be longer than zero")
        out[rule_id] = (durations[0], durations[1])
    return out


def load_rules(path: Path | None = None, deadlines: str = "") -> RuleSet:
    """The rules file, checked row by row, with the settings' deadline overrides applied."""
    path = path or referrals_file()
    doc = read_yaml(path)
    try:
        overrides = parse_overrides(deadlines)
    except ValueError as exc:
        raise ConfigError(str(exc), field=OVERRIDES_VAR) from None
    try:
        rules = parse_rules(doc)
    except ConfigError as exc:
        raise in_file(path, exc) from None
    return rules.with_deadlines(overrides)


def parse_rules(doc: Any) -> RuleSet:
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise ConfigError("the file must hold a list under 'rules'", field="rules")
    unknown = sorted(str(k) for k in set(doc) - {"rules"})
    if unknown:
        raise ConfigError("unknown key (known: rules)", field=unknown[0])
    if not doc["rules"]:
        raise ConfigError("no rules: every rescue would be referred to no one", field="rules")
    rules: list[Rule] = []
    for i, row in enumerate(doc["rules"]):
        rule = _row(i, row)
        if any(r.id == rule.id for r in rules):
            raise ConfigError(f"rule {rule.id!r}: id already used", field=f"rules[{i}].id")
        rules.append(rule)
    by_id = {r.id: r for r in rules}
    for i, rule in enumerate(rules):
        if rule.after is None:
            continue
        awaited = by_id.get(rule.after)
        if awaited is None or awaited.after is not None or awaited.when != rule.when:
            raise ConfigError(
                f"rule {rule.id!r}: after.rule must name a row that is not clocked itself "
                f"and has the same 'when', not {rule.after!r}",
                field=f"rules[{i}].after.rule",
            )
    return RuleSet(tuple(rules))


def _row(i: int, row: Any) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(row, dict):
        raise ConfigError("a row must be a mapping", field=where)
    rid = row.get("id")
    label = f"rule {rid!r}: " if isinstance(rid, str) else ""

    def fail(field: str, reason: str) -> ConfigError:
        return ConfigError(label + reason, field=f"{where}.{field}" if field else where)

    unknown = sorted(set(row) - ROW_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key (known: {', '.join(sorted(ROW_KEYS))})")
    for key in REQUIRED:
        if row.get(key) in (None, ""):
            raise fail(key, "missing")
    if not isinstance(rid, str) or not ID_PATTERN.match(rid):
        raise fail("id", "must be lower-case letters, digits and _ (at most 40), e.g. legal_aid")
    for key in ("service", "cites"):
        if not isinstance(row[key], str) or len(row[key].strip()) > MAX_TEXT:
            raise fail(key, f"must be text of at most {MAX_TEXT} characters")
    try:
        to = AgencyType(row["to"])
    except ValueError:
        raise fail("to", f"unknown agency type {row['to']!r}") from None
    deadlines = {}
    for key in ("answer", "complete"):
        try:
            deadlines[key] = parse_duration(row[key])
        except ValueError as exc:
            raise fail(key, str(exc)) from None
        if deadlines[key] <= timedelta(0):
            raise fail(key, "must be longer than zero")
    if deadlines["answer"] > deadlines["complete"]:
        raise fail("answer", "the answer deadline is after the completion deadline")
    after, wait = _after(row.get("after"), fail)
    return Rule(
        id=rid,
        service=row["service"].strip(),
        to=to,
        when=_conditions(row.get("when") or {}, fail),
        answer=deadlines["answer"],
        complete=deadlines["complete"],
        cites=row["cites"].strip(),
        after=after,
        wait=wait,
    )


def _after(after: Any, fail: Any) -> tuple[str | None, timedelta | None]:
    if after is None:
        return None, None
    if not isinstance(after, dict) or set(after) != {"rule", "wait"}:
        raise fail("after", "must be {rule: <row id>, wait: <ISO 8601 duration>}")
    if not isinstance(after["rule"], str) or not ID_PATTERN.match(after["rule"]):
        raise fail("after.rule", "must be a row id")
    try:
        wait = parse_duration(after["wait"])
    except (TypeError, ValueError) as exc:
        raise fail("after.wait", str(exc)) from None
    if wait <= timedelta(0):
        raise fail("after.wait", "must be longer than zero")
    return after["rule"], wait


def _conditions(when: Any, fail: Any) -> Conditions:
    if not isinstance(when, dict):
        raise fail("when", "must be a mapping of conditions ({} for everyone)")
    known = (*FLAGS, "age_years")
    flags: dict[str, bool] = {}
    for key, value in when.items():
        if key not in known:
            raise fail(f"when.{key}", f"unknown condition (known: {', '.join(known)})")
        if key != "age_years":
            if not isinstance(value, bool):
                raise fail(f"when.{key}", f"must be true or false, not {value!r}")
            flags[key] = value
    age = when.get("age_years")
    bounds: dict[str, int | None] = {"min": None, "max": None}
    if age is not None:
        if not isinstance(age, dict) or not age or set(age) - set(bounds):
            raise fail("when.age_years", "must be {min: N, max: N} (either or both)")
        for key, value in age.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
                raise fail(f"when.age_years.{key}", f"must be a whole number from 0 to {MAX_AGE}")
            bounds[key] = value
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and low > high:
            raise fail("when.age_years", "min is above max")
    return Conditions(**flags, age_min=bounds["min"], age_max=bounds["max"])
