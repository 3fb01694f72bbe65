"""The claims ledger: verdicts from scores over seeds, runs of every variant and seed, rows for every claim."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sambook.claims import CLAIMS, Claim, Variant, ledger_rows, run_claim, variant_config, verdict
from sambook.profiles import PROFILES

PAIR = Claim(key="pair", paper="p", claim="a > b", paper_figures="", order=("a", "b"))
GROUPED = Claim(key="grouped", paper="p", claim="a > best of (b, c)", paper_figures="", order=("a", ("b", "c")))


def test_verdict_holds_only_when_every_gap_exceeds_the_spread():
    assert verdict(PAIR, {"a": [80.0, 82.0, 81.0], "b": [70.0, 71.0, 72.0]}) == "holds"
    assert verdict(PAIR, {"a": [70.0, 71.0, 72.0], "b": [80.0, 82.0, 81.0]}) == "does not hold"
    assert verdict(PAIR, {"a": [75.0, 80.0, 85.0], "b": [74.0, 79.0, 84.0]}) == "inconclusive"


def test_verdict_compares_with_the_best_of_a_group():
    scores = {"a": [80.0, 80.5, 81.0], "b": [60.0, 61.0, 62.0], "c": [85.0, 86.0, 87.0]}
    assert verdict(GROUPED, scores) == "does not hold"  # c, not b, is the one to beat
    scores["c"] = [70.0, 71.0, 72.0]
    assert verdict(GROUPED, scores) == "holds"


def test_run_claim_trains_every_variant_for_every_seed(tmp_path):
    claim = Claim(
        key="k",
        paper="p",
        claim="c",
        paper_figures="",
        order=("CMAA", "FLAIR"),
        variants=(Variant("CMAA", "cmaa.yaml"), Variant("FLAIR", "sam_flair.yaml")),
    )
    calls = []

    def fake_train(cfg, out, progress=False, overwrite=False):  # a stand-in that writes what a run writes
        calls.append((cfg.model, cfg.seed))
        out.mkdir(parents=True)
        dice = 50.0 + 10 * (cfg.model == "cmaa") + cfg.seed
        (out / "test_scores.json").write_text(json.dumps({"dice": dice, "hd95": 9.0}))

    result = run_claim(claim, [0, 1, 2], profile=PROFILES["ci"], out=tmp_path, train=fake_train)
    assert sorted(calls) == sorted((m, s) for m in ("cmaa", "sam") for s in (0, 1, 2))
    assert result.scores == {"CMAA": [60.0, 61.0, 62.0], "FLAIR": [50.0, 51.0, 52.0]}
    assert result.verdict == "holds"


def test_an_arm_left_out_under_a_profile_is_not_trained_and_is_named(tmp_path):
    """Variant.not_under: the profile trains the other arms, judges the order on them, and the ledger says why the
    arm is missing; another profile trains it."""
    claim = Claim(
        key="k",
        paper="p",
        claim="CMAA > FLAIR > T2",
        paper_figures="",
        order=("CMAA", "FLAIR", "T2"),
        variants=(
            Variant("CMAA", "cmaa.yaml"),
            Variant("FLAIR", "sam_flair.yaml", not_under=(("ci", "too slow here"),)),
            Variant("T2", "sam_t2.yaml"),
        ),
    )
    calls = []

    def fake_train(cfg, out, progress=False, overwrite=False):
        calls.append(cfg.modality if cfg.model == "sam" else cfg.model)
        out.mkdir(parents=True)
        dice = {"cmaa": 60.0, "flair": 70.0, "t2": 50.0}[cfg.model if cfg.model == "cmaa" else cfg.modality]
        (out / "test_scores.json").write_text(json.dumps({"dice": dice + cfg.seed, "hd95": 9.0}))

    result = run_claim(claim, [0, 1], profile=PROFILES["ci"], out=tmp_path / "ci", train=fake_train)
    assert "flair" not in calls and set(result.scores) == {"CMAA", "T2"}
    assert result.left_out == {"FLAIR": "too slow here"} and result.verdict == "holds"  # CMAA > T2
    rows = ledger_rows({"claims": [{**dataclasses.asdict(result), "key": "cmaa_order"}]})
    assert "FLAIR: left out (too slow here)" in next(r for r in rows if r["claim"].startswith("CMAA >"))["offline"]
    calls.clear()
    trained = run_claim(claim, [0], profile=PROFILES["cpu"], out=tmp_path / "cpu", train=fake_train)
    assert "flair" in calls and not trained.left_out and trained.verdict == "does not hold"  # FLAIR beats CMAA


def test_a_variant_the_code_cannot_build_is_named_not_faked(tmp_path):
    claim = Claim(
        key="k",
        paper="p",
        claim="c",
        paper_figures="",
        order=("x", "y"),
        variants=(Variant("x", "aftersam.yaml", (("no_such_key", 1),)),),
    )
    result = run_claim(claim, [0], profile=PROFILES["ci"], out=tmp_path, train=lambda *a, **k: pytest.fail())
    assert result.verdict == "not testable offline" and "not implemented" in result.why and not result.scores


def test_every_claim_gets_a_row_and_unmeasured_ones_say_how_to_measure():
    rows = ledger_rows(None)
    assert len(rows) == len(CLAIMS)
    by_claim = {c.key: r for c, r in zip(CLAIMS, rows)}
    assert by_claim["cmaa_order"]["verdict"] == "—" and "python -m sambook claims" in by_claim["cmaa_order"]["offline"]
    assert by_claim["glioma_and_thorax_data"]["verdict"] == "not testable offline"
    assert by_claim["parameter_shares"]["verdict"] in ("holds", "does not hold")


def test_the_papers_figures_are_quoted_as_printed():
    figures = {c.key: c.paper_figures for c in CLAIMS}
    assert "Early fusion 83.86, Our method 88.38" in figures["cmaa_order"]  # CMAA Table 1
    assert "w.o. 92.75" in figures["no_prompt"] and "Text 92.21" in figures["no_prompt"]  # AFTer-SAM Table 3
    assert "LoRA 92.44, Finetune 92.75" in figures["decoder_full_vs_lora"]  # AFTer-SAM Table 4
    assert "SAM 91M / 3.64M / 4%, Our method 98M / 10.80M / 11%" in figures["parameter_shares"]  # CMAA Table 3
    assert "Trans-Unet 84.43 / 16.02, Swin-Unet 84.05 / 16.25" in figures["cmaa_vs_baselines"]  # CMAA Table 2
    assert "Swin UNETR 92.06, AFTer-SAM 92.42" in figures["aftersam_vs_baselines"]  # AFTer-SAM Table 2


def test_a_run_shared_by_two_claims_trains_once(tmp_path):
    """The same config, changes and seed in two claims is one run; its scores serve both."""
    first = Claim(
        key="a",
        paper="p",
        claim="c",
        paper_figures="",
        order=("CMAA", "FLAIR"),
        variants=(Variant("CMAA", "cmaa.yaml"), Variant("FLAIR", "sam_flair.yaml")),
    )
    second = Claim(
        key="b",
        paper="p",
        claim="c",
        paper_figures="",
        order=("ours", "early"),
        variants=(Variant("ours", "cmaa.yaml"), Variant("early", "early.yaml")),
    )
    calls = []

    def fake_train(cfg, out, progress=False, overwrite=False):
        calls.append(cfg.model)
        out.mkdir(parents=True)
        (out / "test_scores.json").write_text(json.dumps({"dice": float(len(calls)), "hd95": 1.0}))

    done: dict = {}
    a = run_claim(first, [0], profile=PROFILES["ci"], out=tmp_path, train=fake_train, done=done)
    b = run_claim(second, [0], profile=PROFILES["ci"], out=tmp_path, train=fake_train, done=done)
    assert calls == ["cmaa", "sam", "early"]
    assert b.scores["ours"] == a.scores["CMAA"] == [1.0] and b.details["ours"] == [{"dice": 1.0, "hd95": 1.0}]


@pytest.mark.parametrize("profile", ["ci", "cpu", "gpu"])
def test_every_arm_of_every_claim_builds_a_valid_config(profile):
    """No arm is left "not implemented": each resolves under each profile, and the volume comparisons share one
    recipe (chapter `how_it_compares`)."""
    from sambook.build import MODEL_KINDS

    p = PROFILES[profile]
    for claim in CLAIMS:
        for variant in claim.variants:
            cfg = variant_config(variant, 3, p)
            assert cfg.seed == 3 and cfg.model in MODEL_KINDS
            if variant.recipe == "compare":
                assert (cfg.epochs, cfg.image_size, cfg.groups_per_volume) == (
                    p.compare_volume_epochs,
                    p.baseline_image_size,
                    p.compare_items_per_volume,
                )
        labels = [v.label for v in claim.variants]
        named = [label for group in claim.order for label in ((group,) if isinstance(group, str) else group)]
        assert set(named) <= set(labels), claim.key


def test_finished_runs_in_the_runs_folder_are_reused_not_retrained(tmp_path, monkeypatch):
    """An interrupted `claims --runs DIR` picks up where it stopped: a finished run of the same config, profile and
    data root is read back; a changed config, or a run without its scores, trains again."""
    from sambook.config_io import write_yaml
    from sambook.train.runs import origin

    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    claim = Claim(
        key="k", paper="p", claim="c", paper_figures="", order=("CMAA",), variants=(Variant("CMAA", "cmaa.yaml"),)
    )
    calls = []

    def fake_train(cfg, out, progress=False, overwrite=False):  # writes what a finished run holds
        calls.append((cfg.seed, overwrite))
        out.mkdir(parents=True, exist_ok=True)
        write_yaml(out / "config.yaml", cfg.to_dict())
        (out / "run.json").write_text(json.dumps(origin()))
        (out / "test_scores.json").write_text(json.dumps({"dice": 70.0 + cfg.seed, "hd95": 5.0}))

    first = run_claim(claim, [0, 1], profile=PROFILES["ci"], out=tmp_path, train=fake_train)
    (tmp_path / "k" / "CMAA-seed1" / "test_scores.json").unlink()  # killed before it finished
    again = run_claim(claim, [0, 1, 2], profile=PROFILES["ci"], out=tmp_path, train=fake_train)
    assert calls == [(0, False), (1, False), (1, True), (2, False)]  # the unfinished run is replaced, not refused
    assert again.scores["CMAA"] == first.scores["CMAA"] + [72.0]


def test_a_run_finished_for_another_claim_by_an_earlier_command_is_reused(tmp_path, monkeypatch):
    """`claims --claim a` then `claims --claim b` (two commands, nothing shared in memory): b's arm with the same
    config and seed as one of a's reads a's finished run instead of training it again."""
    from sambook.config_io import write_yaml
    from sambook.train.runs import origin

    monkeypatch.setenv("SAMBOOK_PROFILE", "ci")
    first, second = (
        Claim(key=k, paper="p", claim="c", paper_figures="", order=(label,), variants=(Variant(label, "cmaa.yaml"),))
        for k, label in (("a", "CMAA"), ("b", "ours"))
    )
    calls = []

    def fake_train(cfg, out, progress=False, overwrite=False):
        calls.append(cfg.seed)
        out.mkdir(parents=True, exist_ok=True)
        write_yaml(out / "config.yaml", cfg.to_dict())
        (out / "run.json").write_text(json.dumps(origin()))
        (out / "test_scores.json").write_text(json.dumps({"dice": 70.0 + cfg.seed, "hd95": 5.0}))

    run_claim(first, [0, 1], profile=PROFILES["ci"], out=tmp_path, train=fake_train)
    (tmp_path / "a" / "CMAA-seed1" / "test_scores.json").unlink()  # a's seed 1 never finished
    b = run_claim(second, [0, 1], profile=PROFILES["ci"], out=tmp_path, train=fake_train)
    assert calls == [0, 1, 1]  # seed 0 read from a's folder; the unfinished seed 1 trains in b's own folder
    assert b.scores["ours"] == [70.0, 71.0] and (tmp_path / "b" / "ours-seed1" / "test_scores.json").is_file()
    assert not (tmp_path / "b" / "ours-seed0").exists()


def test_the_results_are_written_after_every_claim(tmp_path, monkeypatch):
    """A claims command stopped early leaves every claim it finished, marked incomplete."""
    import sambook.claims as claims

    first = Claim(key="a", paper="p", claim="c", paper_figures="", order=("x",), variants=(Variant("x", "cmaa.yaml"),))
    second = Claim(
        key="b", paper="p", claim="c", paper_figures="", order=("y",), variants=(Variant("y", "early.yaml"),)
    )
    monkeypatch.setattr(claims, "CLAIMS", (first, second))

    def fake_run_claim(claim, seeds, **kwargs):
        return claims.ClaimResult(claim.key, {"x": [1.0]}, verdict="holds")

    monkeypatch.setattr(claims, "run_claim", fake_run_claim)
    seen = []
    final = claims.run_claims([0], profile=PROFILES["ci"], out=tmp_path, on_claim=lambda r: seen.append(r))
    assert [[c["key"] for c in r["claims"]] for r in seen] == [["a"], ["a", "b"]]
    assert [r["complete"] for r in seen] == [False, False] and final["complete"]


def test_claims_by_key_gives_each_claim_its_seeds_from_either_kind_of_results():
    from sambook.claims import claims_by_key

    ran = {"seeds": [0, 1], "claims": [{"key": "a", "verdict": "holds"}]}  # run_claims: the seeds of the command
    read = {"sources": ["x"], "claims": [{"key": "b", "seeds": [0, 1, 2], "source": "f.json"}]}  # load_claims
    assert claims_by_key(ran) == {"a": {"key": "a", "verdict": "holds", "seeds": [0, 1]}}
    assert claims_by_key(read)["b"]["seeds"] == [0, 1, 2] and claims_by_key(None) == {}
