"""Studies as data: a base training config plus the settings it varies, read from a
TOML file and expanded into trials.

    description = "one line for `digitlab study list`"
    finding = "what the report concluded (optional)"
    kind = "train"                # or "lr-find": each trial is an LR range test
    folds = 10                    # optional: every variant is trained once per fold (K-fold CV)

    [base]                        # TrainConfig settings; model may hold {placeholders}
    model = "32C{kernel}-R-MP2-F-100-R-10-SM"
    epochs = 3

    [axes]                        # the cartesian product of these values
    kernel = [3, 5, 7]

    [[variants]]                  # and/or an explicit list (each may carry a "name")
    optimizer = "sgd"
    lr = 0.1

    [lr_find]                     # for kind = "lr-find": LRFindConfig settings
    min_lr = 1e-6

In `model`, `<TEXT>*{n}` repeats TEXT n times joined by '-', so
`F-<{nodes}-R>*{layers}-10-SM` with nodes 64 and layers 2 reads `F-64-R-64-R-10-SM`.
A key of [axes] or [[variants]] is either a training setting or a placeholder of
`model`; anything else is refused with the file and key named.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import DigitlabError
from ..models.presets import resolve_model
from ..training.config import TrainConfig, nested_settings
from ..training.lr_find import LRFindConfig

STUDIES_DIR = Path(__file__).resolve().parents[3] / "studies"
KINDS = ("train", "lr-find")
_TOP_KEYS = {"description", "finding", "kind", "folds", "base", "axes", "variants", "lr_find"}
_CONFIG_KEYS = {f.name for f in dataclasses.fields(TrainConfig)} - {"fold", "folds", "recipe"}
_REPEAT = re.compile(r"<([^<>]*)>\*(\d+)")
_PLACEHOLDER = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Trial:
    """One training (or LR range test) of a study: a complete config and where it came from."""

    study: str
    variant: str
    params: dict
    config: TrainConfig
    kind: str = "train"
    lr_find: LRFindConfig | None = None

    @property
    def id(self) -> str:
        return self.variant if self.config.fold is None else f"{self.variant} / fold {self.config.fold}"

    def to_json(self) -> dict:
        return {"study": self.study, "variant": self.variant, "params": self.params, "kind": self.kind,
                "config": self.config.to_json(),
                "lr_find": None if self.lr_find is None else dataclasses.asdict(self.lr_find)}

    @classmethod
    def from_json(cls, d: dict) -> "Trial":
        return cls(d["study"], d["variant"], d["params"], TrainConfig.from_json(d["config"]), d["kind"],
                   None if d["lr_find"] is None else LRFindConfig(**d["lr_find"]))


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    base: dict
    axes: dict = field(default_factory=dict)
    variants: list = field(default_factory=list)
    folds: int | None = None
    kind: str = "train"
    finding: str = ""
    lr_find: dict = field(default_factory=dict)
    source: str = "<memory>"

    def trials(self, **overrides) -> list[Trial]:
        """Every trial, in a fixed order. `overrides` (None values ignored) replace base
        settings; a value a variant or axis sets keeps that value."""
        base = {**self.base, **{k: v for k, v in overrides.items() if v is not None}}
        combos = [dict(v) for v in self.variants] or [{}]
        keys = list(self.axes)
        axis_values = [dict(zip(keys, values)) for values in itertools.product(*self.axes.values())] or [{}]
        find = LRFindConfig(**self.lr_find) if self.kind == "lr-find" else None
        trials = []
        for variant in combos:
            name = variant.get("name")
            fixed = {k: v for k, v in variant.items() if k != "name"}
            for axis in axis_values:
                params = {**fixed, **axis}
                label = ", ".join(filter(None, [name, _describe(axis if name else params)])) or "base"
                config = _config(self, {**base, **params})
                for fold in ([None] if not self.folds else range(self.folds)):
                    cfg = config if fold is None else replace(config, folds=self.folds, fold=fold)
                    trials.append(Trial(self.name, label, params, cfg, self.kind, find))
        ids = [t.id for t in trials]
        if len(set(ids)) != len(ids):
            raise DigitlabError(f"{self.source}: two variants have the same name; give each a distinct 'name'")
        return trials


def _describe(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def expand_model(template: str, values: dict) -> str:
    """Fill {placeholders}, then expand <TEXT>*N repeats."""
    try:
        text = template.format(**values)
    except KeyError as e:
        raise DigitlabError(f"model template {template!r} needs a value for {{{e.args[0]}}}") from None
    while _REPEAT.search(text):
        text = _REPEAT.sub(lambda m: "-".join([m[1]] * int(m[2])), text)
    return re.sub("-{2,}", "-", text).strip("-")


def _config(study: Study, settings: dict) -> TrainConfig:
    placeholders = set(_PLACEHOLDER.findall(str(settings.get("model", ""))))
    values = {k: settings.pop(k) for k in list(settings) if k in placeholders}
    if placeholders:
        settings["model"] = expand_model(settings["model"], values)
    unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise DigitlabError(f"{study.source}: unknown setting(s) {unknown}; training settings are "
                            f"{', '.join(sorted(_CONFIG_KEYS))}")
    try:
        cfg = TrainConfig(**nested_settings(settings))
        resolve_model(cfg.model)  # a bad spec is named now, not in the middle of a run
    except DigitlabError as e:
        raise DigitlabError(f"{study.source}: {e}") from None
    return cfg


def _check_keys(source: str, where: str, keys, placeholders: set[str]) -> None:
    for key in keys:
        if key not in _CONFIG_KEYS and key not in placeholders and key != "name":
            raise DigitlabError(
                f"{source}: unknown key {key!r} in {where}: not a training setting ({', '.join(sorted(_CONFIG_KEYS))}) "
                f"and not a placeholder of base.model")


def parse_study(name: str, data: dict, source: str) -> Study:
    """Validate the parsed TOML of a study; errors name the file and the key."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise DigitlabError(f"{source}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    if not isinstance(data.get("description"), str) or not data["description"].strip():
        raise DigitlabError(f"{source}: needs a one-line 'description'")
    kind = data.get("kind", "train")
    if kind not in KINDS:
        raise DigitlabError(f"{source}: kind {kind!r} must be one of {', '.join(KINDS)}")
    base = data.get("base", {})
    axes = data.get("axes", {})
    variants = data.get("variants", [])
    if not isinstance(base, dict) or not isinstance(axes, dict) or not isinstance(variants, list):
        raise DigitlabError(f"{source}: [base] and [axes] must be tables, [[variants]] a list of tables")
    placeholders = set(_PLACEHOLDER.findall(str(base.get("model", ""))))
    _check_keys(source, "[base]", [k for k in base if k not in placeholders], set())
    _check_keys(source, "[axes]", axes, placeholders)
    for i, v in enumerate(variants):
        if not isinstance(v, dict):
            raise DigitlabError(f"{source}: variant {i + 1} is not a table")
        _check_keys(source, f"variant {i + 1}", v, placeholders)
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise DigitlabError(f"{source}: axis {key!r} must be a non-empty list of values")
    folds = data.get("folds")
    if folds is not None and (not isinstance(folds, int) or not 2 <= folds <= 100):
        raise DigitlabError(f"{source}: folds {folds!r} must be an integer from 2 to 100")
    lr_find = data.get("lr_find", {})
    bad = set(lr_find) - {f.name for f in dataclasses.fields(LRFindConfig)}
    if bad:
        raise DigitlabError(f"{source}: unknown key(s) {sorted(bad)} in [lr_find]")
    study = Study(name, data["description"].strip(), base, axes, variants, folds, kind,
                  data.get("finding", "").strip(), lr_find, source)
    study.trials()  # every config is checked now: a bad value fails at load, not mid-run
    return study


def load_study(name_or_path: str | Path) -> Study:
    """A study by name (studies/NAME.toml) or by the path of a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = STUDIES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise DigitlabError(f"unknown study {str(name_or_path)!r}; `digitlab study list` shows them")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise DigitlabError(f"study file {path} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise DigitlabError(f"{path}: not valid TOML ({e})") from None
    return parse_study(path.stem, data, str(path))


def list_studies() -> list[Study]:
    return [load_study(p) for p in sorted(STUDIES_DIR.glob("*.toml"))]
