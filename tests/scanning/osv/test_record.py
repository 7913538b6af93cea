"""Every real record loads as the typed OSV model; malformed ones are refused with the reason."""

from __future__ import annotations

import json

import pytest

from moorage.errors import AdvisoryInvalid
from moorage.scanning.osv import load_record, parse_record
from tests.scanning.osv.records import VULNDB, every_file, raw, record


def test_every_fixture_record_loads() -> None:
    files = every_file()
    assert len(files) > 80
    for name in files:
        rec = record(name)
        assert rec.id and rec.modified and rec.affected, name
        assert rec.id == raw(name)["id"]


def test_fields() -> None:
    usn = record("osv/ubuntu/USN-3675-1.json")
    assert usn.upstream == ["UBUNTU-CVE-2018-9234", "UBUNTU-CVE-2018-12020"]
    assert usn.affected[0].package is not None
    assert usn.affected[0].package.ecosystem == "Ubuntu:14.04:LTS"
    assert usn.affected[0].ecosystem_specific is not None
    ghsa = record("osv/npm/GHSA-hrpp-h998-j3pp.json")
    assert ghsa.ids == ("GHSA-hrpp-h998-j3pp", "CVE-2022-24999")
    assert ghsa.severity[0].type == "CVSS_V3"
    pysec = record("pysec/setuptools/PYSEC-2022-43012.yaml")
    assert [r.type for r in pysec.affected[0].ranges] == ["GIT", "ECOSYSTEM"]
    assert pysec.affected[0].ranges[0].repo == "https://github.com/pypa/setuptools"
    text = (VULNDB / "osv/pypi/GHSA-jfmj-5v4g-7637.json").read_text()
    assert load_record(text) == load_record(text.encode())


BASE = {"id": "X-1", "modified": "2024-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"modified": "2024-01-01T00:00:00Z"}, "id"),
        ({"id": "X-1"}, "modified"),
        ({**BASE, "modified": "yesterday"}, "modified"),
        ({**BASE, "affected": [{"ranges": [{"type": "ECOSYSTEM", "events": []}]}]}, "events"),
        ({**BASE, "affected": [{"ranges": [{"type": "SVN", "events": [{"fixed": "1"}]}]}]}, "type"),
        (
            {
                **BASE,
                "affected": [
                    {"ranges": [{"type": "SEMVER", "events": [{"fixed": "1", "introduced": "0"}]}]}
                ],
            },
            "exactly one",
        ),
        ({**BASE, "affected": [{"ranges": [{"type": "SEMVER", "events": [{}]}]}]}, "exactly one"),
        ({**BASE, "affected": [{"package": {"ecosystem": "npm"}}]}, "name"),
        ([], "record"),
    ],
)
def test_malformed_records_are_refused(data: object, problem: str) -> None:
    with pytest.raises(AdvisoryInvalid) as caught:
        parse_record(data)
    assert problem in caught.value.message


def test_nulls_and_unknown_fields() -> None:
    rec = parse_record({**BASE, "aliases": None, "affected": None, "x_new_field": 1})
    assert rec.aliases == [] and rec.affected == []
    with pytest.raises(AdvisoryInvalid, match="not JSON"):
        load_record("{not json")
    with pytest.raises(AdvisoryInvalid):
        load_record(json.dumps({"id": ""}))
