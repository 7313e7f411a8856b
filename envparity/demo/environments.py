"""The two environments of the demo, differing the way the seed incident did.

Both serve the same model artifact. Production pins pandas 2.0.1 where staging
pins 1.5.3, reads features through a cache with a 3600 s TTL where staging has
none, ships normalisation statistics of a 3-year data window where the model's
own (staging's) are of the last 30 days, and its hosts run on US Eastern time
(``TZ``) where staging's run on UTC. ``features.py`` says what each changes.
The collector's policy file declares which features depend on which of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from envparity.agent.fingerprint import FingerprintSources
from envparity.demo.model import Normalisation

LOCKS = {
    "staging": {"pandas": "1.5.3", "numpy": "1.26.4", "scikit-learn": "1.5.2", "fastapi": "0.115.0"},
    "production": {"pandas": "2.0.1", "numpy": "1.26.4", "scikit-learn": "1.5.2", "fastapi": "0.115.0"},
}
CONFIGS = {
    "staging": {"feature_store": {"url": "http://feature-store:8080", "timeout_s": 0.5}},
    "production": {"feature_store": {"url": "http://feature-store:8080", "timeout_s": 0.5, "cache_ttl_s": 3600}},
}
TIMEZONES = {"staging": "UTC", "production": "EST5EDT"}
NORMALISATION_WINDOW = {"staging": "30d", "production": "3y"}
MODEL = {"version": "fraud-2026-11-20", "seed": 20}  # the artifact both environments' model-latest resolves to
LINEAGE = {
    "amount_z": ["artifact:normalisation"],
    "distance_km_z": ["artifact:normalisation"],
    "account_age_days_z": ["artifact:normalisation"],
    "txn_count_1h": ["package:pandas", "file:serving.json:feature_store"],
    "hour": ["env:TZ"],
}


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

    @property
    def timezone(self) -> str:
        return TIMEZONES[self.name]

    def sources(self) -> FingerprintSources:
        return FingerprintSources(
            packages_from=self.lock_file,
            env_prefixes=("FRAUD_",),
            config_files={"serving.json": self.config_file},
            artifacts={"normalisation": self.normalisation_file},
            artifact_aliases={"model-latest": self.model_alias},
        )


def write_policy(path: Path) -> Path:
    """The collector's policy file: the pair the demo evaluates, and what each feature depends on."""
    fraud = {"pairs": [{"baseline": "staging", "target": "production"}], "lineage": LINEAGE}
    path.write_text(yaml.safe_dump({"services": {"fraud": fraud}}, sort_keys=False))
    return path


def prepare(workdir: Path) -> dict[str, DemoEnvironment]:
    """Write both environments' lock files, configs, normalisation statistics and model aliases under ``workdir``."""
    model = workdir / "models" / f"{MODEL['version']}.json"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text(json.dumps(MODEL))
    envs = {}
    for name in ("staging", "production"):
        env = DemoEnvironment(name, workdir / name)
        env.root.mkdir(parents=True, exist_ok=True)
        env.lock_file.write_text("".join(f"{p}=={v}\n" for p, v in LOCKS[name].items()))
        env.config_file.write_text(json.dumps(CONFIGS[name], indent=2))
        env.model_alias.unlink(missing_ok=True)
        env.model_alias.symlink_to(model)
        env.normalisation_file.write_text(Normalisation.of_window(NORMALISATION_WINDOW[name]).to_json())
        envs[name] = env
    return envs
