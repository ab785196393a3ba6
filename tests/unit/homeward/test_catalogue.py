"""The schema catalogue: names, fingerprints, canonical forms, released copies."""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import avro.schema
import pytest

from homeward import paths
from homeward.catalogue import CURRENT, Catalogue
from homeward.errors import CodecError, ConfigError
from tests.conformance import avsc

SCHEMA_NAMES = sorted(p.name.removesuffix(".avsc") for p in paths.schema_dir().glob("*.avsc"))


@cache
def catalogue() -> Catalogue:
    return Catalogue.load()


def test_every_schema_file_is_in_the_catalogue_by_its_full_name() -> None:
    assert sorted(e.name for e in catalogue()) == SCHEMA_NAMES
    for name in SCHEMA_NAMES:
        entry = catalogue().by_name(name)
        assert entry.version == CURRENT
        assert catalogue().by_fingerprint(entry.fingerprint) is entry


def test_an_unknown_name_or_fingerprint_is_a_codec_error() -> None:
    with pytest.raises(CodecError) as caught:
        catalogue().by_name("homeward.alerts.Nothing")
    assert caught.value.field == "schema"
    with pytest.raises(CodecError) as caught:
        catalogue().by_fingerprint(bytes(8))
    assert caught.value.field == "value.fingerprint"
    assert "0000000000000000" in caught.value.reason


def test_fingerprints_are_distinct() -> None:
    fingerprints = [e.fingerprint for e in catalogue()]
    assert len(set(fingerprints)) == len(fingerprints)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_fingerprint_is_the_crc64_avro_of_the_canonical_form(name: str) -> None:
    entry = catalogue().by_name(name)
    assert len(entry.fingerprint) == 8
    assert entry.fingerprint == avsc.crc64_avro(entry.canonical.encode()).to_bytes(8, "little")


def _undefined_references(canonical: str) -> list[str]:
    """Named types a canonical form uses before (or without) defining them."""
    defined: set[str] = set()
    missing: list[str] = []

    def walk(schema: Any) -> None:
        if isinstance(schema, str):
            if schema not in avsc.PRIMITIVES and schema not in defined:
                missing.append(schema)
        elif isinstance(schema, list):
            for branch in schema:
                walk(branch)
        elif isinstance(schema, dict):
            kind = schema["type"]
            if kind in avsc.NAMED:
                defined.add(schema["name"])
                for f in schema.get("fields", []):
                    walk(f["type"])
            elif kind == "array":
                walk(schema["items"])
            elif kind == "map":
                walk(schema["values"])
            else:
                walk(kind)

    walk(json.loads(canonical))
    return missing


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_canonical_form_is_a_self_contained_schema(name: str) -> None:
    # The fingerprint is only meaningful to other readers (Java, Apache avro,
    # fastavro elsewhere) if it is taken over a schema they can parse on its own.
    assert _undefined_references(catalogue().by_name(name).canonical) == []


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_fingerprint_is_the_one_the_spec_gives_for_the_schema(name: str) -> None:
    # An independent derivation: the schema built from the .avsc files with each
    # named type defined at its first use, canonicalised and fingerprinted by
    # Apache avro (see avsc.strip_logical_types for why the logical types go).
    raw = avsc.read_dir(paths.schema_dir())
    spec = avro.schema.parse(json.dumps(avsc.strip_logical_types(avsc.standalone(name, raw))))
    entry = catalogue().by_name(name)
    assert entry.canonical == spec.canonical_form
    assert entry.fingerprint == spec.fingerprint("CRC-64-AVRO")


def test_the_canonical_form_drops_docs_defaults_and_logical_types() -> None:
    canonical = catalogue().by_name("homeward.alerts.AlertIssued").canonical
    assert '"doc"' not in canonical
    assert '"default"' not in canonical
    assert "logicalType" not in canonical
    assert canonical.startswith('{"name":"homeward.alerts.AlertIssued","type":"record"')


def test_the_released_snapshot_is_loaded_and_matches_a_current_schema() -> None:
    released = paths.released_schema_dir()
    versions = sorted(p.name for p in released.iterdir() if p.is_dir())
    assert versions, "no released schemas"
    loaded = Catalogue.load()
    for version in versions:
        for path in sorted((released / version).glob("*.avsc")):
            name = path.name.removesuffix(".avsc")
            entry = loaded.by_name(name)  # every released schema still exists
            assert entry.name == name


# -- loading errors --------------------------------------------------------------
def _copy_schemas(tmp_path: Path) -> Path:
    target = tmp_path / "avro"
    shutil.copytree(paths.schema_dir(), target)
    return target


def test_a_file_named_unlike_its_schema_is_refused(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    (schemas / "homeward.common.Location.avsc").rename(schemas / "homeward.common.Place.avsc")
    with pytest.raises(ConfigError) as caught:
        Catalogue.load(schemas, tmp_path / "none")
    assert "homeward.common.Location.avsc" in caught.value.reason
    assert (caught.value.field or "").endswith("homeward.common.Place.avsc")


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    (schemas / "homeward.common.Location.avsc").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Catalogue.load(schemas, tmp_path / "none")
    assert (caught.value.field or "").endswith("homeward.common.Location.avsc")


def test_a_reference_to_a_missing_type_is_refused(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    (schemas / "homeward.common.Location.avsc").unlink()
    with pytest.raises(ConfigError) as caught:
        Catalogue.load(schemas, tmp_path / "none")
    assert "homeward.alerts.AlertIssued" in caught.value.reason
    assert caught.value.field == CURRENT


def test_a_changed_released_schema_is_kept_under_its_version(tmp_path: Path) -> None:
    schemas = _copy_schemas(tmp_path)
    old = tmp_path / "released" / "0.0.1"
    shutil.copytree(schemas, old)
    path = old / "homeward.alerts.AlertCancelled.avsc"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["fields"] = [f for f in raw["fields"] if f["name"] != "note"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    loaded = Catalogue.load(schemas, tmp_path / "released")
    # AlertDelivery embeds AlertCancelled, so its released copy differs too.
    differing = {e.name: e for e in loaded.released()}
    assert sorted(differing) == ["homeward.alerts.AlertCancelled", "homeward.alerts.AlertDelivery"]
    entry = differing["homeward.alerts.AlertCancelled"]
    assert entry.version == "0.0.1"
    assert loaded.by_fingerprint(entry.fingerprint) is entry
    assert loaded.by_name(entry.name).version == CURRENT
