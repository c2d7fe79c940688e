"""The package's layers (docs/architecture.md): a folder imports only from layers below its
own, and the reading side (predictor, web app) never loads the trainer, tqdm or the
non-digit generator."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import digitlab

PACKAGE = Path(digitlab.__file__).parent

# bottom to top; a unit (a folder, or a module at the top of the package) may import
# from its own folder and from the units of lower layers only
LAYERS = [
    ("__init__", "errors"),
    ("files", "device", "allocator"),
    ("data", "models"),
    ("runs",),
    ("recognition",),
    ("training",),
    ("evaluation", "explain", "store"),
    ("experiments",),
    ("web", "bench"),
    ("commands",),
    ("cli",),
    ("__main__",),
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    """digitlab.recognition.predictor -> recognition; digitlab.cli -> cli; digitlab -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, root: Path) -> list[tuple[str, int]]:
    """Every digitlab module `path` imports, at any depth of the file (lazy imports too), with its line."""
    module = ".".join(("digitlab",) + path.relative_to(root).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "digitlab":
                if target == "digitlab":  # from digitlab import x: a unit, or a name of the package itself
                    found += [(f"digitlab.{a.name}" if _is_unit(root, a.name) else "digitlab", node.lineno)
                              for a in node.names]
                elif node.level and not node.module:  # from . import x
                    found += [(f"{target}.{a.name}", node.lineno) for a in node.names]
                else:
                    found.append((target, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "digitlab"]
    return found


def _is_unit(root: Path, name: str) -> bool:
    return (root / name).is_dir() or (root / f"{name}.py").is_file()


def layer_violations(root: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        unit = _unit(".".join(("digitlab",) + path.relative_to(root).with_suffix("").parts))
        if unit not in RANK:
            problems.append(f"{path.relative_to(root)}: {unit!r} is in no layer (add it to docs/architecture.md "
                            "and LAYERS)")
            continue
        for target, line in _imports(path, root):
            other = _unit(target)
            if other == unit:
                continue
            if other not in RANK or RANK[other] >= RANK[unit]:
                problems.append(f"{path.relative_to(root)}:{line} imports {target} ({other!r} is not below "
                                f"{unit!r})")
    return problems


def test_every_folder_imports_only_from_layers_below_its_own():
    assert layer_violations() == []


def test_the_layer_check_catches_an_import_from_above(tmp_path):
    (tmp_path / "recognition").mkdir()
    (tmp_path / "recognition" / "predictor.py").write_text(
        "def load():\n    from ..training.trainer import train\n")  # lazy, inside a function
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "split.py").write_text("from ..data.mnist import load_mnist\n")
    assert layer_violations(tmp_path) == [
        "recognition/predictor.py:2 imports digitlab.training.trainer ('training' is not below 'recognition')"]


BLOCKED = ("digitlab.training", "digitlab.data.negatives", "tqdm")


@pytest.mark.parametrize("module", ["digitlab.web.app", "digitlab.recognition.predictor", "digitlab.web.server"])
def test_the_reading_side_imports_no_trainer_tqdm_or_non_digit_generator(module):
    # each blocked module is made unimportable; torch itself only tries tqdm and does without
    code = ("import sys\n"
            f"for name in {BLOCKED!r}:\n    sys.modules[name] = None\n"
            f"import {module}\n"
            "from digitlab.recognition.predictor import Predictor\n"
            f"assert not [m for m in sys.modules if m.startswith({BLOCKED!r}) and sys.modules[m] is not None]\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_help_imports_no_heavy_library():
    code = ("import sys\nfrom digitlab.cli import main\n"
            "for argv in (['--help'], ['serve', '--help'], ['predict', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'sqlalchemy', 'fastapi') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
