"""The two environments of the demo, differing the way the seed incident did.

Production runs a different pandas-like dependency version (from a lock file),
a feature-store cache TTL of 3600 s where staging has none, normalisation
statistics computed from an older data window (so its scaled features and
predictions shift), and its ``model-latest`` alias resolves to last week's artifact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from envparity.agent.fingerprint import FingerprintSources
from envparity.demo.model import Normalisation, transactions

LOCKS = {
    "staging": {"pandas": "2.2.3", "numpy": "1.26.4", "scikit-learn": "1.5.2", "fastapi": "0.115.0"},
    "production": {"pandas": "2.1.4", "numpy": "1.26.4", "scikit-learn": "1.5.2", "fastapi": "0.115.0"},
}
CONFIGS = {
    "staging": {"feature_store": {"url": "http://feature-store:8080", "timeout_s": 0.5}},
    "production": {"feature_store": {"url": "http://feature-store:8080", "timeout_s": 0.5, "cache_ttl_s": 3600}},
}
MODEL_FOR = {"staging": "fraud-2026-11-20", "production": "fraud-2026-11-13"}
ARTIFACTS = {"fraud-2026-11-20": 20, "fraud-2026-11-13": 13}  # version -> training seed
# log-mean of transaction amounts in the data window the normalisation statistics came from
NORMALISATION_WINDOW = {"staging": 3.6, "production": 3.1}


@dataclass(frozen=True)
class DemoEnvironment:
    name: str
    root: Path

    @property
    def lock_file(self) -> Path:
        return self.root / "requirements.lock"

    @property
    def config_file(self) -> Path:
        return self.root / "serving.json"

    @property
    def model_alias(self) -> Path:
        return self.root / "model-latest"

    @property
    def normalisation_file(self) -> Path:
        return self.root / "normalisation.json"

    def sources(self) -> FingerprintSources:
        return FingerprintSources(
            packages_from=self.lock_file,
            env_prefixes=("FRAUD_",),
            config_files={"serving.json": self.config_file},
            artifacts={"normalisation": self.normalisation_file},
            artifact_aliases={"model-latest": self.model_alias},
        )

    def cli_sources(self) -> list[str]:
        return [
            "--packages-from",
            str(self.lock_file),
            "--env-prefix",
            "FRAUD_",
            "--config-file",
            f"serving.json={self.config_file}",
            "--artifact-alias",
            f"model-latest={self.model_alias}",
        ]


def write_models(models_dir: Path) -> None:
    """Two model artifacts, as a registry would hold them: this week's and last week's."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for version, seed in ARTIFACTS.items():
        (models_dir / f"{version}.json").write_text(json.dumps({"version": version, "seed": seed}))


def prepare(workdir: Path) -> dict[str, DemoEnvironment]:
    """Write both environments' lock files, configs and model aliases under ``workdir``."""
    models = workdir / "models"
    write_models(models)
    envs = {}
    for name in ("staging", "production"):
        env = DemoEnvironment(name, workdir / name)
        env.root.mkdir(parents=True, exist_ok=True)
        env.lock_file.write_text("".join(f"{p}=={v}\n" for p, v in LOCKS[name].items()))
        env.config_file.write_text(json.dumps(CONFIGS[name], indent=2))
        env.model_alias.unlink(missing_ok=True)
        env.model_alias.symlink_to(models / f"{MODEL_FOR[name]}.json")
        window = transactions(np.random.default_rng(7), 5000, NORMALISATION_WINDOW[name])
        env.normalisation_file.write_text(Normalisation.from_window(window).to_json())
        envs[name] = env
    return envs
