"""Results files (sambook.results) and the ledger's reading of several of them (sambook.claims.load_claims)."""

from __future__ import annotations

import json
import time

import pytest

from sambook import claims, results
from sambook.profiles import get_profile
from sambook.results import describe, provenance, read_results, rerun_in_page, write_results

CI = get_profile("ci")


def _file(path, keys, seeds=(0, 1, 2), command="python -m sambook claims --seeds 0 1 2"):
    record = {
        **provenance("claims", started=time.time(), profile=CI, seeds=list(seeds), version="abc123"),
        "command": command,
        "complete": True,
        "claims": [{"key": k, "scores": {"a": [1.0]}, "details": {}, "verdict": "holds", "why": ""} for k in keys],
    }
    write_results(record, path)
    return record


def test_provenance_names_command_code_machine_date_profile_seeds(tmp_path):
    record = _file(tmp_path / "r.json", ["cmaa_order"], seeds=(4, 5))
    assert read_results(tmp_path / "r.json") == record
    line = describe(record, tmp_path / "r.json")
    for part in ("`python -m sambook claims --seeds 0 1 2`", "abc123", "CPU cores", "UTC", "profile ci", "seeds 4, 5"):
        assert part in line
    assert "incomplete" in describe({**record, "complete": False})
    assert "run in this process" in describe({**record, "command": None})


@pytest.mark.parametrize(
    "text, problem", [("{not json", "invalid JSON"), (json.dumps({"command": "x", "seeds": [0]}), "no code_version")]
)
def test_bad_results_file_is_named(tmp_path, text, problem):
    path = tmp_path / "claims-ci.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"claims-ci\.json.*{problem}"):
        read_results(path)


def test_load_claims_reads_every_file_of_the_profile(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    assert claims.load_claims("ci") is None
    _file(tmp_path / "claims-ci.json", ["cmaa_order"])
    _file(tmp_path / "claims-ci-aftersam.json", ["aftersam_vs_2d", "decoder_full_vs_lora"], seeds=(0, 1, 2, 3))
    _file(tmp_path / "claims-cpu.json", ["no_prompt"])  # another profile: not read
    merged = claims.load_claims("ci")
    assert [c["key"] for c in merged["claims"]] == ["cmaa_order", "aftersam_vs_2d", "decoder_full_vs_lora"]
    assert [c["source"] for c in merged["claims"]] == ["claims-ci.json"] + ["claims-ci-aftersam.json"] * 2
    assert merged["claims"][1]["seeds"] == [0, 1, 2, 3]
    assert len(merged["sources"]) == 2 and merged["sources"][0].startswith(f"{tmp_path.name}/claims-ci.json: ")
    rows = {r["claim"]: r["verdict"] for r in claims.ledger_rows(merged)}
    text = {c.key: c.claim for c in claims.CLAIMS}
    assert [rows[text[k]] for k in ("cmaa_order", "aftersam_vs_2d", "decoder_full_vs_lora", "no_prompt")] == [
        "holds",
        "holds",
        "holds",
        "—",  # only in the other profile's file: not measured here
    ]


def test_a_claim_in_two_files_is_an_error_naming_both(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    _file(tmp_path / "claims-ci.json", ["cmaa_order"])
    _file(tmp_path / "claims-ci-again.json", ["cmaa_order"])
    with pytest.raises(ValueError, match=r"'cmaa_order' is in both claims-ci\.json and claims-ci-again\.json"):
        claims.load_claims("ci")


def test_rerun_in_page(monkeypatch):
    monkeypatch.delenv("SAMBOOK_RERUN", raising=False)
    assert rerun_in_page(CI) and not rerun_in_page(get_profile("cpu"))
    monkeypatch.setenv("SAMBOOK_RERUN", "1")
    assert rerun_in_page(get_profile("cpu"))
