"""The claims ledger (chapter `claims_ledger`): every claim of the two papers, what the offline runs show, a verdict.

A claim compares variants of a config (``configs/`` plus overrides) on one score: the test Dice (%) of the
reported epoch for the slice models (Table 1 and the 2D baselines, ``test_scores.json``), the mean per-class 3D Dice
(%) over the test volumes for the volume models (AFTer-SAM and the volume baselines, ``volume_scores.json``). Each
variant trains once per seed, at the sizes of the active profile: the AFTer-SAM ablations (2D baseline, decoder
LoRA) as chapter `aftersam_volumes` trains them, the volume comparisons of chapter `how_it_compares` (baselines,
prompts) by that chapter's one recipe for every arm (:func:`comparison_recipe`). A run shared by several claims
(same config, changes and seed) trains once. The ledger gives mean ± sd over seeds and a verdict:

* **holds** — the claimed order holds between the means, and each gap is larger than the larger of the two sds;
* **does not hold** — some claimed gap is reversed by more than the larger sd;
* **inconclusive** — neither (the gaps are within the seed-to-seed spread);
* **not testable offline** — with the reason (no data, no released component, not implemented).

An arm may be left out under a profile (``Variant.not_under``, with the reason: a run too long for it); the verdict
is then on the arms that trained, and the ledger names the one left out.

Parameter shares (CMAA Table 3) need no training: they are counted exactly (:mod:`sambook.estimate.params`).
``python -m sambook claims --seeds 0 1 2`` runs every training claim under the active profile and writes
``results/claims-<profile>.json`` with its provenance (command, code version, machine, date, seeds); the chapter
reads that file, and under the ``ci`` profile runs the claims itself at toy size.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sambook.config import VOLUME_MODELS, TrainConfig, load_config
from sambook.errors import ConfigError
from sambook.foundation.provenance import code_version
from sambook.paths import CONFIGS
from sambook.profiles import Profile, get_profile
from sambook.results import describe, provenance, read_results, results_file


@dataclass(frozen=True)
class Variant:
    """One arm of a comparison: a config of ``configs/`` with some keys changed."""

    label: str
    config: str
    overrides: tuple[tuple[str, object], ...] = ()
    recipe: str = "profile"  # "profile": the config as the profile sizes it; "compare": comparison_recipe
    not_under: tuple[tuple[str, str], ...] = ()  # (profile, why): profiles that do not train this arm, and why


def comparison_recipe(cfg: TrainConfig, profile: Profile) -> TrainConfig:
    """The volume models' recipe of chapter `how_it_compares`: every model on the same in-plane size (the profile's
    ``baseline_image_size``), epochs (``compare_volume_epochs``) and items per volume and epoch
    (``compare_items_per_volume``)."""
    return dataclasses.replace(
        cfg,
        epochs=profile.compare_volume_epochs,
        image_size=profile.baseline_image_size,
        groups_per_volume=profile.compare_items_per_volume,
    )


@dataclass(frozen=True)
class Claim:
    """A claim of a paper, its figures as printed, and how the book tests it. ``order``: variant labels, best first,
    as the paper claims them (``order[0] > order[1] > ...``; a tuple inside means "the best of these")."""

    key: str
    paper: str
    claim: str
    paper_figures: str
    variants: tuple[Variant, ...] = ()
    order: tuple[str | tuple[str, ...], ...] = ()
    untestable: str | None = None
    notes: str = ""


SINGLE = ("T1", "T1ce", "T2", "FLAIR")
SWIN_3D_ON_CPU = (
    "cpu",
    "one run of the recipe takes well over an hour on a CPU core: 32 x 64 x 64 is SwinUNETR's smallest 3D patch "
    "(each side a multiple of 32); `python tools/volume_step_times.py` prints each model's training step time",
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        key="cmaa_order",
        paper="CMAA",
        claim="CMAA > early fusion > the best single modality (Dice, Table 1)",
        paper_figures="Dice (%): T1 68.96, T1ce 65.21, T2 81.05, Flair 78.40, Early fusion 83.86, Our method 88.38",
        variants=(
            Variant("T1", "sam_t1.yaml"),
            Variant("T1ce", "sam_t1ce.yaml"),
            Variant("T2", "sam_t2.yaml"),
            Variant("FLAIR", "sam_flair.yaml"),
            Variant("early fusion", "early.yaml"),
            Variant("CMAA", "cmaa.yaml"),
        ),
        order=("CMAA", "early fusion", SINGLE),
    ),
    Claim(
        key="aftersam_vs_2d",
        paper="AFTer-SAM",
        claim="attention across neighbouring slices improves on the same model without it (AFTer-SAM > 2D baseline)",
        paper_figures="not an ablation of the paper: its Tables 1-2 compare with other methods (the book's fair "
        "baseline trains the same LoRA, position embedding and decoder, without the axial attention)",
        variants=(
            Variant("AFTer-SAM", "aftersam.yaml"),
            Variant("2D baseline", "aftersam_2d.yaml"),
        ),
        order=("AFTer-SAM", "2D baseline"),
    ),
    Claim(
        key="no_prompt",
        paper="AFTer-SAM",
        claim="no prompt is at least as good as prompts (Table 3)",
        paper_figures="Average Dice (%): Box 92.30, 1 Point 92.32, 3 Points 92.32, Text 92.21, w.o. 92.75",
        variants=(
            Variant("no prompt", "aftersam.yaml", recipe="compare"),
            Variant("box", "baselines/aftersam_prompted.yaml", (("prompt", "box"),), recipe="compare"),
            Variant("1 point", "baselines/aftersam_prompted.yaml", (("prompt", "point"),), recipe="compare"),
            Variant("3 points", "baselines/aftersam_prompted.yaml", (("prompt", "points3"),), recipe="compare"),
        ),
        order=("no prompt", ("box", "1 point", "3 points")),
        notes="Prompts from the middle slice's ground truth (chapter `how_it_compares`). Text prompts cannot be "
        "reproduced: SAM's text encoder was never released.",
    ),
    Claim(
        key="decoder_full_vs_lora",
        paper="AFTer-SAM",
        claim="fine-tuning the whole mask decoder beats tuning it with LoRA (Table 4)",
        paper_figures="Average Dice (%): LoRA 92.44, Finetune 92.75",
        variants=(
            Variant("full decoder", "aftersam.yaml"),
            Variant("decoder LoRA", "aftersam.yaml", (("decoder_lora", True),)),
        ),
        order=("full decoder", "decoder LoRA"),
    ),
    Claim(
        key="cmaa_vs_baselines",
        paper="CMAA",
        claim="CMAA beats TransUNet and Swin-Unet (Table 2)",
        paper_figures="Dice (%) / Hd95: Trans-Unet 84.43 / 16.02, Swin-Unet 84.05 / 16.25, SAM 83.86 / 16.14, "
        "Our method 88.38 / 10.64",
        variants=(
            Variant("CMAA", "cmaa.yaml"),
            Variant("UNETR", "baselines/unetr.yaml"),
            Variant("SwinUNETR", "baselines/swin_unetr.yaml"),
            Variant("UNet", "baselines/unet.yaml"),
            Variant("AttentionUnet", "baselines/attention_unet.yaml"),
        ),
        order=("CMAA", ("UNETR", "SwinUNETR")),
        notes="MONAI's UNETR and SwinUNETR stand in for TransUNet and Swin-Unet (maintained relatives, not the "
        "networks the paper ran: chapter `how_it_compares`); UNet and AttentionUnet are shown, not part of the claim.",
    ),
    Claim(
        key="aftersam_vs_baselines",
        paper="AFTer-SAM",
        claim="AFTer-SAM beats U-Net, Attention U-Net, TransUNet, Swin-Unet and Swin UNETR (Tables 1-2)",
        paper_figures="SegTHOR average Dice (%), Table 2: U-Net 89.97, Att U-Net 90.47, TransUNet 91.50, Swin-Unet "
        "91.29, Swin UNETR 92.06, AFTer-SAM 92.42",
        variants=(
            Variant("AFTer-SAM", "aftersam.yaml", recipe="compare"),
            *(
                Variant(
                    f"{label} {layout}",
                    f"baselines/{name}_{suffix}.yaml",
                    recipe="compare",
                    not_under=(SWIN_3D_ON_CPU,) if (name, layout) == ("swin_unetr", "3D") else (),
                )
                for name, label in (
                    ("unet", "UNet"),
                    ("attention_unet", "AttentionUnet"),
                    ("swin_unetr", "SwinUNETR"),
                    ("unetr", "UNETR"),
                )
                for layout, suffix in (("2D", "per_slice"), ("3D", "3d"))
            ),
        ),
        order=(
            "AFTer-SAM",
            tuple(
                f"{label} {layout}"
                for label in ("UNet", "AttentionUnet", "SwinUNETR", "UNETR")
                for layout in ("2D", "3D")
            ),
        ),
        notes="MONAI's networks, 2D slice by slice and 3D by patches, trained from scratch on the same volumes "
        "(chapter `how_it_compares`); UNETR stands in for TransUNet, SwinUNETR for Swin-Unet and Swin UNETR.",
    ),
    Claim(
        key="parameter_shares",
        paper="CMAA",
        claim="SAM trains 4 % of its parameters, CMAA 11 % (Table 3)",
        paper_figures="All / Training / Percent: SAM 91M / 3.64M / 4%, Our method 98M / 10.80M / 11%",
        notes="Counted exactly (ViT-B at 256 px, parameters that receive a gradient), no training involved.",
    ),
    Claim(
        key="glioma_and_thorax_data",
        paper="both",
        claim="the reported Dice on the papers' data (489 private glioma cases; Thorax-85, SegTHOR)",
        paper_figures="CMAA: Dice 88.38 %, Hd95 10.64 (Table 1); AFTer-SAM: average Dice 92.75 % on Thorax-85 "
        "(Tables 3-4)",
        untestable="the data are private (CMAA, Thorax-85) or not downloadable here (SegTHOR); the phantom is one "
        "template brain with smooth warps, so a patient split on it is not anatomical independence, and the book's "
        "mini SAM was pretrained on the same generator's (tumour-free) cases",
    ),
)


@dataclass
class ClaimResult:
    key: str
    scores: dict[str, list[float]] = field(default_factory=dict)  # variant label -> score per seed
    details: dict[str, list[dict]] = field(default_factory=dict)  # variant label -> the run's test scores per seed
    left_out: dict[str, str] = field(default_factory=dict)  # variant label -> why the profile does not train it
    verdict: str = "not testable offline"
    why: str = ""


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def verdict(claim: Claim, scores: dict[str, list[float]]) -> str:
    """The verdict of the module docstring for the claimed order of ``claim`` on ``scores``."""
    stats = {label: _mean_sd(values) for label, values in scores.items()}
    groups = [tuple(label for label in ((g,) if isinstance(g, str) else g) if label in stats) for g in claim.order]
    groups = [g for g in groups if g]  # an arm left out under the profile (Variant.not_under) is not judged

    def best(group: tuple[str, ...]) -> tuple[float, float]:
        return max((stats[label] for label in group), key=lambda s: s[0])

    gaps = []
    for upper, lower in zip(groups, groups[1:]):
        (m1, s1), (m0, s0) = best(upper), best(lower)
        gaps.append((m1 - m0, max(s1, s0)))
    if all(gap > spread for gap, spread in gaps):
        return "holds"
    if any(gap < -spread for gap, spread in gaps):
        return "does not hold"
    return "inconclusive"


def _scores(run: Path, model: str) -> tuple[float, dict]:
    """The claim's score of a finished run and a summary of its test scores."""
    if model in VOLUME_MODELS:
        scores = json.loads((run / "volume_scores.json").read_text())
        return float(scores["mean"]), {"mean": scores["mean"], "mean_per_class": scores["mean_per_class"]}
    scores = json.loads((run / "test_scores.json").read_text())
    return float(scores["dice"]), {"dice": scores["dice"], "hd95": scores["hd95"]}


def variant_config(variant: Variant, seed: int, profile: Profile) -> TrainConfig:
    """The resolved config one arm trains for one seed."""
    cfg = load_config(CONFIGS / variant.config)
    cfg = dataclasses.replace(cfg, **dict(variant.overrides), seed=seed).resolved(profile)
    return comparison_recipe(cfg, profile) if variant.recipe == "compare" else cfg


def _finished_run(cfg: TrainConfig, out: Path, run: Path) -> Path | None:
    """A finished run of ``cfg`` in ``out``: ``run`` itself, else one under another claim's folder (two claims share
    it, and an earlier command trained it for the other one); None when there is none."""
    from sambook.train.runs import is_finished

    others = (p for p in sorted(out.glob("*/*")) if p != run and p.is_dir())
    return next((p for p in (run, *others) if is_finished(cfg, p)), None)


def run_claim(
    claim: Claim,
    seeds: list[int],
    *,
    profile: Profile,
    out: Path,
    train: Callable | None = None,
    done: dict | None = None,
) -> ClaimResult:
    """Train every variant of ``claim`` for every seed under ``profile`` into ``out``; score and judge. ``done``
    maps a resolved config (as JSON) to the (score, summary) of its run: a run shared with another claim trains
    once; a finished run of the same config already in ``out`` (in this claim's folder or another's, from an
    earlier command) is read, not trained again, and any other run folder of this claim there (unfinished, or of
    another config) is replaced."""
    from sambook.train.runs import holds_run
    from sambook.train.runs import train as train_run

    train = train or train_run
    done = {} if done is None else done
    result = ClaimResult(claim.key)
    if claim.untestable or not claim.variants:
        result.why = claim.untestable or "counted, not trained"
        return result
    for variant in claim.variants:
        why = dict(variant.not_under).get(profile.name)
        if why is not None:
            result.left_out[variant.label] = why
            print(f"{claim.key}: {variant.label} left out under {profile.name}: {why}")
            continue
        for seed in seeds:
            try:
                cfg = variant_config(variant, seed, profile)
            except (ConfigError, TypeError) as error:
                result.why = f"{variant.label}: not implemented here ({error})"
                return result
            key = json.dumps(cfg.to_dict(), sort_keys=True)
            if key not in done:
                run = out / claim.key / f"{variant.label.replace(' ', '_')}-seed{seed}"
                started = time.perf_counter()
                found = _finished_run(cfg, out, run)
                if found is None:  # an unfinished run (interrupted) or another config's run is trained afresh
                    train(cfg, run, progress=False, overwrite=holds_run(run))
                done[key] = _scores(found or run, cfg.model)
                took = (
                    f"a finished run, reused: {found.relative_to(out)}"
                    if found
                    else f"{time.perf_counter() - started:.0f} s"
                )
                print(f"{claim.key}: {variant.label}, seed {seed}: {done[key][0]:.1f} ({took})", flush=True)
            result.scores.setdefault(variant.label, []).append(done[key][0])
            result.details.setdefault(variant.label, []).append(done[key][1])
    result.verdict = verdict(claim, result.scores)
    return result


def run_claims(
    seeds: list[int],
    *,
    profile: Profile | None = None,
    keys: list[str] | None = None,
    out: Path | None = None,
    on_claim: Callable[[dict], None] | None = None,
) -> dict:
    """Every training claim (or those in ``keys``) over ``seeds``: the results with their provenance.
    ``on_claim(results)`` is called after each claim with the results so far (``"complete": False`` until the
    last), so a command that is stopped early still leaves what it measured."""
    profile = profile or get_profile()
    started = time.time()
    version = code_version()  # the code that trains, not the tree at the time each claim ends

    def results(done_claims: list[ClaimResult], complete: bool) -> dict:
        return {
            **provenance("claims", started=started, profile=profile, seeds=seeds, version=version),
            "complete": complete,
            "claims": [dataclasses.asdict(r) for r in done_claims],
        }

    with tempfile.TemporaryDirectory() as scratch:
        runs = out or Path(scratch)
        done: dict = {}
        measured: list[ClaimResult] = []
        for claim in CLAIMS:
            if keys is None or claim.key in keys:
                measured.append(run_claim(claim, seeds, profile=profile, out=runs, done=done))
                if on_claim is not None:
                    on_claim(results(measured, complete=False))
    return results(measured, complete=True)


def parameter_shares() -> tuple[str, str]:
    """The book's exact Table 3 shares of SAM and CMAA (ViT-B, 256 px), and whether they round to the paper's."""
    from sambook.estimate.params import table3

    rows = {r["model"]: r for r in table3("vit_b", 256, 6, models=("sam", "cmaa"))}
    percent = {name: 100 * rows[name]["with_gradient"] / rows[name]["all"] for name in rows}
    shown = "; ".join(
        f"{name} {rows[name]['all'] / 1e6:.2f}M / {rows[name]['with_gradient'] / 1e6:.2f}M / {percent[name]:.2f} %"
        for name in ("sam", "cmaa")
    )
    holds = round(percent["sam"]) == 4 and round(percent["cmaa"]) == 11
    return shown, "holds" if holds else "does not hold"


def claims_files(profile_name: str) -> list[Path]:
    """The profile's results files: ``claims-<profile>.json`` (where ``python -m sambook claims`` writes by default)
    and any ``claims-<profile>-<part>.json`` (a later run of more claims, ``--out``)."""
    first = results_file("claims", profile_name)
    return ([first] if first.is_file() else []) + sorted(first.parent.glob(f"claims-{profile_name}-*.json"))


def load_claims(profile_name: str) -> dict | None:
    """Every claim measured in the profile's results files (None when there are none): ``{"sources": [one line of
    provenance per file], "claims": [...]}``, each claim with its ``source`` (file name) and ``seeds``. A claim found
    in two files is an error naming both (remove one: which one to read is not for the page to guess)."""
    paths = claims_files(profile_name)
    if not paths:
        return None
    sources, claims, seen = [], [], {}
    for path in paths:
        results = read_results(path)
        sources.append(describe(results, path))
        for claim in results["claims"]:
            if claim["key"] in seen:
                raise ValueError(f"claim {claim['key']!r} is in both {seen[claim['key']]} and {path.name}: remove one")
            seen[claim["key"]] = path.name
            claims.append({**claim, "source": path.name, "seeds": results["seeds"]})
    return {"sources": sources, "claims": claims}


def claims_by_key(results: dict | None) -> dict[str, dict]:
    """The measured claims of ``results`` (:func:`load_claims` or :func:`run_claims`; None: none) by key, each with
    the seeds it ran over."""
    claims = (results or {}).get("claims", [])
    return {claim["key"]: {"seeds": results.get("seeds"), **claim} for claim in claims}


def ledger_rows(results: dict | None) -> list[dict]:
    """One row per claim: paper, claim, the paper's figures, what the offline runs show, the verdict."""
    measured = {r["key"]: r for r in (results or {}).get("claims", [])}
    rows = []
    for claim in CLAIMS:
        r = measured.get(claim.key)
        if claim.key == "parameter_shares":
            shown, verdict_ = parameter_shares()
        elif claim.untestable:
            shown, verdict_ = claim.untestable, "not testable offline"
        elif r is None:
            shown, verdict_ = "not measured for this profile (run `python -m sambook claims --seeds 0 1 2`)", "—"
        elif not r["scores"]:
            shown, verdict_ = r["why"], r["verdict"]
        else:
            parts = []
            for label, values in r["scores"].items():
                mean, sd = _mean_sd(values)
                parts.append(f"{label} {mean:.1f} ± {sd:.1f}")
            shown = "; ".join(parts) + f" (n = {len(next(iter(r['scores'].values())))} seeds)"
            shown += "".join(f"; {label}: left out ({why})" for label, why in r.get("left_out", {}).items())
            verdict_ = r["verdict"]
        rows.append(
            {
                "paper": claim.paper,
                "claim": claim.claim,
                "paper_figures": claim.paper_figures,
                "offline": shown + (f" {claim.notes}" if claim.notes else ""),
                "verdict": verdict_,
            }
        )
    return rows
