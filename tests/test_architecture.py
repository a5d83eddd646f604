"""The import contracts (``[tool.importlinter]`` in pyproject.toml, docs/architecture.md).

The package must keep them, and the same contracts must break on a package that has the faults
they exist for: an upward import from the services into the gateway, a cycle between sibling
modules, aiortc imported outside the media package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config: dict[str, Any] = tomllib.load(f)["tool"]["importlinter"]
    return config


def _lint(config_file: Path, cwd: Path, pythonpath: Path | None = None) -> tuple[int, str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config_file), "--no-cache", "--no-logo"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def test_podium_keeps_its_import_contracts() -> None:
    code, output = _lint(ROOT / "pyproject.toml", ROOT)
    assert code == 0, output
    ids = [contract["id"] for contract in _config()["contracts"]]
    assert {"layers", "acyclic", "aiortc"} <= set(ids)
    assert f"Contracts: {len(ids)} kept, 0 broken." in output, output


# A stand-in for podium with the same top-level layout, checked with podium's own contracts.
def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # strings and lists of strings: JSON is valid TOML here


def _retarget(value: object) -> object:
    if isinstance(value, str):
        return "toy" + value[len("podium"):] if value.split(".")[0] == "podium" else value
    if isinstance(value, list):
        return [_retarget(v) for v in value]
    return value


def _toy_config(path: Path) -> Path:
    config = _config()
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml_value(_retarget(v))}" for k, v in config.items() if k != "contracts"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {_toml_value(_retarget(v))}" for k, v in contract.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toy_package(base: Path) -> Path:
    """Every module the layers contract names, empty, plus a few well-behaved imports."""
    package = base / "toy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    layers = next(c for c in _config()["contracts"] if c["type"] == "layers")
    names = {n.strip() for layer in layers["layers"] for n in layer.split("|")}
    names |= set(layers.get("exhaustive_ignores", []))
    for name in names:
        (package / name).mkdir()
        (package / name / "__init__.py").write_text("")
    (package / "services" / "moderation.py").write_text("import toy.domain\n")
    (package / "realtime" / "gateway.py").write_text("import toy.services.moderation\n")
    (package / "media" / "peer.py").write_text("import aiortc\n")
    return base


def test_the_contracts_break_on_an_upward_import_a_cycle_and_aiortc(tmp_path: Path) -> None:
    config = _toy_config(tmp_path / "contracts.toml")
    base = _toy_package(tmp_path / "src")
    code, output = _lint(config, tmp_path, base)
    assert code == 0, output  # the well-behaved package passes: failures below are the faults'

    toy = base / "toy"
    # The gateway <-> moderation cycle this project had: services reaching up to close sockets.
    (toy / "services" / "moderation.py").write_text("import toy.realtime.gateway\n")
    # A cycle inside one package, between siblings on the same layer.
    (toy / "services" / "reports.py").write_text("import toy.services.rooms\n")
    (toy / "services" / "rooms.py").write_text("from toy.services import reports\n")
    (toy / "api" / "rtc.py").write_text("import aiortc\n")
    code, output = _lint(config, tmp_path, base)
    assert code != 0, output
    assert "toy.services is not allowed to import toy.realtime" in output, output
    assert "toy.services.moderation -> toy.realtime.gateway" in output, output
    assert "No cycles are allowed in toy.services." in output, output
    assert "toy.api.rtc -> aiortc" in output, output
    assert "Contracts: 1 kept, 3 broken." in output, output
