"""What the deployed code imports is declared, locked and shipped by the layers it runs with."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_PROVIDED = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
}
TOOLS_ONLY = {"moto", "typer", "rich", "pyyaml", "joserfc"}
FIRST_PARTY = {"prediag", "prediag_tools"} | {
    p.stem for p in (ROOT / "functions").glob("*/*") if p.suffix == ".py" or p.is_dir()
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked(path: Path) -> set[str]:
    return {_norm(m[1]) for m in re.finditer(r"^([A-Za-z0-9._-]+)==", path.read_text(), re.M)}


def _imported(paths: list[Path]) -> set[str]:
    """Top-level third-party modules imported at run time (TYPE_CHECKING blocks left out)."""
    found: set[str] = set()
    for base in paths:
        for file in base.rglob("*.py"):
            tree = ast.parse(file.read_text())
            skip: set[int] = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    skip.update(id(n) for n in ast.walk(node))
            for node in ast.walk(tree):
                if id(node) in skip:
                    continue
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in FIRST_PARTY}


def _distributions(modules: set[str]) -> set[str]:
    mapping = packages_distributions()
    return {_norm(d) for m in modules for d in mapping.get(m, [m])}


def _declared(*groups: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for group in groups:
        specs += project["optional-dependencies"][group]
    return {_norm(re.split(r"[\[<>=!~; ]", s, maxsplit=1)[0]) for s in specs}


def test_every_module_the_deployed_code_imports_is_declared_as_a_runtime_dependency():
    imported = _distributions(_imported([ROOT / "layers" / "common", ROOT / "functions"]))
    assert imported - _declared("ai") == set()


def test_every_module_the_tools_import_is_declared():
    imported = _distributions(_imported([ROOT / "tools"]))
    assert imported - _declared("tools") == set()


@pytest.mark.parametrize("layer", ["common", "ai"])
def test_layers_ship_neither_the_runtimes_sdk_nor_the_tools(layer: str):
    locked = _locked(ROOT / "layers" / layer / "requirements.txt")
    assert locked & RUNTIME_PROVIDED == set()
    assert locked & TOOLS_ONLY == set()


def test_the_two_layers_ship_no_package_twice_and_pin_what_the_dev_lock_pins():
    common = ROOT / "layers" / "common" / "requirements.txt"
    ai = ROOT / "layers" / "ai" / "requirements.txt"
    assert _locked(common) & _locked(ai) == set()
    pins = re.compile(r"^([A-Za-z0-9._-]+==\S+)", re.M)
    dev = {_norm(p) for p in pins.findall((ROOT / "requirements" / "dev.lock").read_text())}
    for layer in (common, ai):
        assert {_norm(p) for p in pins.findall(layer.read_text())} <= dev


def test_the_layers_together_hold_every_runtime_dependency_the_runtime_does_not():
    shipped = _locked(ROOT / "layers" / "common" / "requirements.txt") | _locked(
        ROOT / "layers" / "ai" / "requirements.txt"
    )
    assert _declared("ai") - RUNTIME_PROVIDED - shipped == set()
