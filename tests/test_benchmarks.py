"""The Keras comparison is an optional benchmark: `make test` never installs or imports
TensorFlow, and pytest never collects the benchmark. Its model translation is checked here
without TensorFlow."""

import ast
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TENSORFLOW = re.compile(r"^\s*(import|from)\s+(tensorflow|keras)\b", re.M)


def test_the_keras_extra_is_optional_and_not_in_the_test_set_up():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    assert any(r.startswith("tensorflow-cpu") for r in extras["keras"])
    for requirement in extras["test"] + project["project"]["dependencies"]:
        assert not re.match(r"(tensorflow|keras)", requirement), requirement
    assert "[test]" in (ROOT / "Makefile").read_text() and "[keras]" not in (ROOT / "Makefile").read_text()
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]  # benchmarks/ is not collected


def test_nothing_but_the_benchmark_imports_tensorflow_and_it_only_when_it_runs():
    for path in list((ROOT / "src").rglob("*.py")) + list((ROOT / "tests").rglob("*.py")):
        assert not TENSORFLOW.search(path.read_text()), path
    benchmark = ROOT / "benchmarks" / "keras_reference.py"
    top_level = [node for node in ast.parse(benchmark.read_text()).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in top_level for alias in node.names] + [
        node.module for node in top_level if isinstance(node, ast.ImportFrom)]
    assert not [n for n in names if n and n.split(".")[0] in ("tensorflow", "keras")]
    # importing the module (as --help does) loads no TensorFlow, installed or not
    code = (f"import sys, runpy; sys.argv = ['x', '--help']\n"
            f"try: runpy.run_path({str(benchmark)!r}, run_name='__main__')\n"
            f"except SystemExit: pass\n"
            f"assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--repeats" in proc.stdout


def load_benchmark():
    spec = importlib.util.spec_from_file_location("keras_reference", ROOT / "benchmarks" / "keras_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_keras_models_are_the_reports_layers():
    plan = load_benchmark().keras_layer_plan
    assert plan("F-397-R-397-R-10-SM") == [
        ("Flatten", {}),
        ("Dense", {"units": 397, "kernel_initializer": "glorot_uniform", "activation": "relu"}),
        ("Dense", {"units": 397, "kernel_initializer": "glorot_uniform", "activation": "relu"}),
        ("Dense", {"units": 10, "kernel_initializer": "glorot_uniform", "activation": "softmax"}),
    ]
    final = plan("64C3-LR0.08-MP2-D0.2-128C3-LR0.08-MP2-D0.2-F-BN-128U-BN-R-D0.2-BN-10U-BN-SM")
    assert [name for name, _ in final] == [
        "Conv2D", "LeakyReLU", "MaxPooling2D", "Dropout", "Conv2D", "LeakyReLU", "MaxPooling2D", "Dropout",
        "Flatten", "BatchNormalization", "Dense", "BatchNormalization", "Activation", "Dropout",
        "BatchNormalization", "Dense", "BatchNormalization", "Activation"]
    assert final[10][1] == {"units": 128, "kernel_initializer": "uniform"}  # the report's 'uniform', no activation
    assert final[1][1] == {"negative_slope": 0.08} and final[9][1] == {"momentum": 0.99, "epsilon": 1e-3}
