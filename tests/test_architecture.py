"""The library's shape: one builder for every shipped config, imports one way, commands apart, chapters by file."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from sambook.build import MODEL_KINDS, build_model, resolve_config
from sambook.config import BASELINE_NETWORKS, TrainConfig
from sambook.estimate.configs import setting
from sambook.estimate.trace import build as estimator_build
from sambook.profiles import PROFILES

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [
    *sorted((ROOT / "configs").glob("*.yaml")),
    *sorted((ROOT / "configs" / "gpu").glob("*.yaml")),
    *sorted((ROOT / "configs" / "baselines").glob("*.yaml")),
]
TRAINING_CONFIGS = [p for p in CONFIGS if not p.name.startswith("pretrain")]
#: Kinds the estimator does not trace: it sizes the papers' SAM runs (configs/gpu/); the MONAI baselines and the
#: prompt ablation (chapter `how_it_compares`) have no GPU config, and their inputs are not the estimator's.
UNTRACED = {"aftersam_prompted", *(f"{n}{s}" for n in BASELINE_NETWORKS for s in ("", "_per_slice", "_3d"))}

#: The reader's order: a module may import from its own stage or an earlier one, never from a later one.
STAGES = [
    "data",
    "registration",
    "datasets",
    "models",
    "build",
    "evaluate",
    "train",
    "predict",
    "foundation",
    "results",
    "estimate",
    "bench",
    "claims",
    "commands",
]
BASE = {
    "atomic",
    "errors",
    "paths",
    "profiles",
    "config",
    "config_io",
    "viz",
}  # shared utilities, importable from anywhere


def signature(model: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], bool]]:
    return {name: (tuple(p.shape), p.requires_grad) for name, p in model.named_parameters()}


def test_every_shipped_config_builds_through_the_one_builder():
    for path in CONFIGS:
        cfg = resolve_config(path, PROFILES["ci"])
        assert cfg.model in MODEL_KINDS, path
    names = {resolve_config(p, PROFILES["ci"]).model for p in CONFIGS}
    assert names == set(MODEL_KINDS)  # every kind is shipped, and nothing else


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_estimator_traces_the_model_that_trains(path):
    cfg = resolve_config(path, PROFILES["ci"])
    if cfg.model in UNTRACED:
        pytest.skip(f"{cfg.model}: not traced by the estimator (see UNTRACED)")
    keys = {**cfg.to_dict(), "checkpoint": None}
    with torch.device("meta"):
        trained = build_model(keys, profile=PROFILES["ci"])
        traced = estimator_build(setting(keys))
    assert signature(traced) == signature(trained)


def test_fresh_fusion_blocks_reach_the_estimator():
    keys = {**resolve_config(ROOT / "configs/aftersam.yaml", PROFILES["ci"]).to_dict(), "checkpoint": None}
    for options in ({"fresh": True, "fusion_heads": 2}, {"decoder_lora": True}):
        with torch.device("meta"):
            trained = build_model({**keys, **options}, profile=PROFILES["ci"])
            traced = estimator_build(setting({**keys, **options}))
        assert signature(traced) == signature(trained), options


def test_builder_takes_a_path_a_dict_or_a_config():
    torch.manual_seed(0)
    keys = {"model": "cmaa", "backbone": "mini", "image_size": 32, "checkpoint": None, "adapter_blocks": 1}
    from_dict = build_model(keys)
    torch.manual_seed(0)
    from_config = build_model(TrainConfig(**keys))
    assert signature(from_dict) == signature(from_config)
    for a, b in zip(from_dict.state_dict().values(), from_config.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="unknown model 'late'"):
        build_model({**keys, "model": "late"})


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] not in BASE else None


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sambook"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sambook")}
    return found


def test_imports_go_one_way():
    problems = []
    for path in sorted((ROOT / "sambook").rglob("*.py")):
        module = _module_of(path)
        own = _stage(module)
        if own is None or path.name == "__main__.py":
            continue
        for imported in _imports(path):
            other = _stage(imported)
            if other is not None and STAGES.index(other) > STAGES.index(own):
                problems.append(f"{module} imports {imported}")
    assert not problems, problems


def test_no_library_module_or_notebook_imports_a_command():
    users = [p for p in (ROOT / "sambook").rglob("*.py") if "commands" not in p.parts and p.name != "__main__.py"]
    assert not [p for p in users if any(i.startswith("sambook.commands") for i in _imports(p))]
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        assert "sambook.commands" not in notebook.read_text(), notebook.name
        assert "argparse" not in notebook.read_text(), notebook.name


def test_a_command_imports_only_its_own_module():
    code = (
        "import sys; from sambook.__main__ import build_parser; build_parser(['params']); "
        "print(sorted(m for m in sys.modules if m.startswith('sambook.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "['sambook.commands.params']"


def _chapters_in_toc() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return {Path(f).name for f in files}


def _texts() -> dict[Path, str]:
    paths = [*(ROOT / "sambook").rglob("*.py"), ROOT / "README.md", *CONFIGS]
    return {p: p.read_text() for p in paths}


def test_chapters_are_named_by_file_and_exist():
    chapters = _texts()
    named = re.compile(r"[Cc]hapters?((?:\s+(?:`\w+`|,|and|to|from|the))+)")
    known = _chapters_in_toc()
    for path, text in chapters.items():
        assert not re.search(r"[Cc]hapters? \d", text), f"{path}: a chapter named by number"
        for match in named.finditer(text):
            for name in re.findall(r"`(\w+)`", match[1]):
                assert name in known, f"{path}: chapter `{name}` is not in _toc.yml"


def _markdown_code_blocks(notebook: Path) -> list[tuple[str, list[str]]]:
    """Fenced ``python`` blocks of a chapter's prose whose first line names the module they quote."""
    blocks = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for body in re.findall(r"```python\n(.*?)```", "".join(cell["source"]), re.S):
            first, *lines = body.splitlines()
            match = re.fullmatch(r"# (sambook/[\w/]+\.py)\b.*", first)
            assert match, f"{notebook.name}: a quoted block must open with '# sambook/<module>.py', got {first!r}"
            blocks.append((match[1], lines))
    return blocks


def _code(line: str) -> str:
    return re.sub(r"\s+", " ", line.split("  #")[0]).strip()


@pytest.mark.parametrize("notebook", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.stem)
def test_quoted_code_is_the_library_code(notebook):
    for module, lines in _markdown_code_blocks(notebook):
        source = {_code(line) for line in (ROOT / module).read_text().splitlines()}
        for line in lines:
            if _code(line) and not _code(line).startswith("#") and _code(line) != "...":
                assert _code(line) in source, f"{notebook.name}: {line.strip()!r} is not a line of {module}"
