"""Fingerprints: sources, flattening, secret redaction (canaries), and the diff command."""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from helpers import agent_run_args, envparity_cmd, run_cli

from envparity.agent.fingerprint import FingerprintSources, take_fingerprint
from envparity.agent.fingerprint.code import packages_from
from envparity.agent.fingerprint.compute import cgroup_cpu_limit, cgroup_memory_limit
from envparity.agent.fingerprint.config import config_file, env_fingerprint, flatten
from envparity.agent.fingerprint.secrets import key_looks_secret, secret_hash, value_looks_secret

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnktand0LTc3In0.c2lnbmF0dXJlLWNhbmFyeQ"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIcanaryPEMbody0123\n-----END RSA PRIVATE KEY-----"


def test_flatten_nested_structures():
    flat = flatten({"cache": {"ttl": 3600, "hosts": ["a", "b"]}, "on": True, "none": None})
    assert flat == {
        "cache.ttl": "3600",
        "cache.hosts.0": "a",
        "cache.hosts.1": "b",
        "on": "true",
        "none": "null",
    }


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("app.yaml", "feature_store:\n  cache_ttl_s: 3600\n"),
        ("app.json", '{"feature_store": {"cache_ttl_s": 3600}}'),
        ("app.toml", "[feature_store]\ncache_ttl_s = 3600\n"),
        ("app.ini", "[feature_store]\ncache_ttl_s = 3600\n"),
    ],
)
def test_config_formats(tmp_path, name, text, monkeypatch):
    path = tmp_path / name
    path.write_text(text)
    parsed = config_file(path)
    assert parsed.keys["feature_store.cache_ttl_s"].value == "3600"
    assert parsed.sha256 is None  # no deployment salt: no content hash that would confirm a guessed file
    monkeypatch.setenv("ENVPARITY_HASH_SALT", "a-deployment-salt-of-32-characters")
    keyed = config_file(path).sha256
    assert keyed is not None and len(keyed) == 64
    assert keyed != hashlib.sha256(path.read_bytes()).hexdigest()  # keyed, not the plain hash of the file


def test_dotenv_and_bad_files(tmp_path):
    env = tmp_path / "app.env"
    env.write_text("CACHE_TTL=3600\nDB_PASSWORD=hunter2\n")
    parsed = config_file(env)
    assert parsed.keys["CACHE_TTL"].value == "3600"
    assert parsed.keys["DB_PASSWORD"].redacted and parsed.keys["DB_PASSWORD"].value is None
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    result = run_cli("fingerprint", "show", "--config-file", str(broken))
    assert result.returncode == 2
    assert "not valid json" in result.stderr


@pytest.mark.parametrize(
    "key",
    [
        "DB_PASSWORD",
        "api_key",
        "AWS_SECRET_ACCESS_KEY",
        "auth.token",
        "GITHUB_TOKEN",
        "credentials.file",
        "SENTRY_DSN",
        "db.pwd",
    ],
)
def test_secret_keys(key):
    assert key_looks_secret(key)


@pytest.mark.parametrize("key", ["CACHE_TTL", "PATH", "PWD", "MODEL_NAME", "LOG_LEVEL", "keyboard"])
def test_plain_keys(key):
    assert not key_looks_secret(key)


@pytest.mark.parametrize(
    "value",
    [
        JWT,
        PEM,
        "postgresql://app:s3cret@db:5432/x",
        "AKIAABCDEFGHIJKLMNOP",
        "ghp_abcdefghijklmnopqrstuvwxyz0123",
        "q8Zr2LmX9vTn4KpW7sYd3HcB",
    ],
)
def test_secret_values(value):
    assert value_looks_secret(value)


@pytest.mark.parametrize(
    "value",
    [
        "3600",
        "/usr/local/bin:/usr/bin",
        "production",
        "en_US.UTF-8",
        "http://feature-store:8080/v1",
        "a sentence with words in it",
    ],
)
def test_plain_values(value):
    assert not value_looks_secret(value)


def test_secret_hash_is_salted_and_stable():
    assert secret_hash("x", "salt-a") == secret_hash("x", "salt-a")
    assert secret_hash("x", "salt-a") != secret_hash("x", "salt-b")


def test_without_a_deployment_salt_secrets_are_compared_by_presence_only(monkeypatch):
    """A public default salt would let anyone check a guessed weak password against the published hash."""
    monkeypatch.delenv("ENVPARITY_HASH_SALT", raising=False)
    assert secret_hash("hunter2") is None
    monkeypatch.setenv("ENVPARITY_HASH_SALT", "short")
    assert secret_hash("hunter2") is None  # too short to be a secret salt
    monkeypatch.setenv("ENVPARITY_HASH_SALT", "a-deployment-salt-of-32-characters")
    assert secret_hash("hunter2", None) == secret_hash("hunter2", "a-deployment-salt-of-32-characters")


def test_only_allowed_environment_variables_are_sent():
    environ = {"CUDA_VISIBLE_DEVICES": "0", "MY_APP_SETTING": "x", "FRAUD_TTL": "3600", "HOME": "/root"}
    assert set(env_fingerprint(environ)) == {"CUDA_VISIBLE_DEVICES"}
    assert set(env_fingerprint(environ, ["FRAUD_"])) == {"CUDA_VISIBLE_DEVICES", "FRAUD_TTL"}


def test_packages_from_lock_file_and_site_packages(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# lock\nPandas==2.2.3\nnumpy==1.26.4 ; python_version>'3'\n-e .\nscipy>=1.0\n")
    assert packages_from(lock) == {"numpy": "1.26.4", "pandas": "2.2.3", "scipy": ">=1.0"}
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    found = packages_from(site)
    assert found["pydantic"]
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not == a requirement ==\n")
    result = run_cli("fingerprint", "show", "--packages-from", str(bad))
    assert result.returncode == 2 and "cannot parse requirement" in result.stderr


def test_artifacts_and_aliases(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\x01" * 100)
    (model / "stats.json").write_text('{"mean": 1.0}')
    v1, v2 = tmp_path / "v1.bin", tmp_path / "v2.bin"
    v1.write_bytes(b"one")
    v2.write_bytes(b"two")
    latest = tmp_path / "model-latest"
    latest.symlink_to(v2)
    fp = take_fingerprint(FingerprintSources(artifacts={"model": model}, artifact_aliases={"model-latest": latest}))
    art = fp.artifacts.items["model"]
    assert art.kind == "directory" and art.size_bytes == 100 + len('{"mean": 1.0}')
    assert set(art.manifest) == {"weights.bin", "stats.json"}
    assert fp.artifacts.aliases["model-latest"].target == str(v2)


def test_cgroup_limits(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "memory.max").write_text("2147483648\n")
    assert cgroup_cpu_limit(tmp_path) == 1.5
    assert cgroup_memory_limit(tmp_path) == 2 << 30
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert cgroup_cpu_limit(tmp_path) is None and cgroup_memory_limit(tmp_path) is None


# --- canaries: secrets appear nowhere ----------------------------------------------


def _readable(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_canary_secrets_appear_nowhere(tmp_path, start_collector):
    """19 planted secrets (12 in variables, 7 in a config file): none leaves the host in plain text."""
    canaries = {
        "ENVPARITY_TEST_DB_PASSWORD": "canary-password-81f3",
        "ENVPARITY_TEST_SESSION_TOKEN": JWT,
        "ENVPARITY_TEST_INNOCENT": "Zq7Xv2Lm9Rt4Kp8Wn3Bs6Hd1",  # high entropy under a plain name
        "ENVPARITY_TEST_DATABASE_URL": "postgresql://svc:canary-dsn-pass-19@db:5432/app",
        "ENVPARITY_TEST_DB_PW": "cnry7",  # short password
        "ENVPARITY_TEST_JDBC_URL": "jdbc:postgresql://db:5432/app?user=svc&password=canaryjdbc9",
        "ENVPARITY_TEST_ALERTS": "https://hooks.slack.com/services/T0000/B0000/canaryslackhook",
        "ENVPARITY_TEST_UNLOCK_PASSPHRASE": "canary horse battery staple",  # with spaces
        "ENVPARITY_TEST_JAVA_OPTS": "-Xmx2g --password canaryarg77",  # the argument after --password
        "ENVPARITY_TEST_UPSTREAM_HEADER": "Basic Y2FuYXJ5OmJhc2ljNjY=",
        "ENVPARITY_TEST_STRIPE": "sk_live_canary0123456789abcd",
        "UNLISTED_SETTING": "canary-unlisted-value-5",  # not on the allow-list: never sent
    }
    config = tmp_path / "serving.yaml"
    config.write_text(
        "feature_store:\n  cache_ttl_s: 3600\n  api_key: canary-config-key-42\n"
        f"tls:\n  key: |\n    {PEM.replace(chr(10), chr(10) + '    ')}\n"
        "db:\n  pw: canary-yaml-pw\n  conn: 'Server=db;Database=x;User Id=u;Password=canary-ado-3;'\n"
        "smtp:\n  login: canary-smtp-login\n"
        "cmd: serve --token canary-cmdtoken-8\n"
        "notify: https://discord.com/api/webhooks/123/canary-discord-hook\n"
        "visible: canary-visible-value\n"
    )
    planted_in_file = [
        "canary-config-key-42",
        "MIIcanaryPEMbody0123",
        "canary-yaml-pw",
        "canary-ado-3",
        "canary-smtp-login",
        "canary-cmdtoken-8",
        "canary-discord-hook",
    ]
    db = tmp_path / "store.duckdb"
    collector = start_collector(f"duckdb:///{db}")
    agent = subprocess.run(
        envparity_cmd(
            *agent_run_args(collector.url, tmp_path / "spool", "--once", "--env-prefix", "ENVPARITY_TEST_"),
            *("--config-file", str(config)),
        ),
        capture_output=True,
        text=True,
        env={**canaries, "ENVPARITY_LOG_LEVEL": "DEBUG", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert agent.returncode == 0, agent.stderr
    api = httpx.get(f"{collector.url}/v1/fingerprints", params={"service": "fraud", "environment": "staging"}).text
    collector.kill(signal.SIGTERM)
    stored = (
        duckdb.connect(str(db), read_only=True).execute("SELECT string_agg(body, '\n') FROM fingerprints").fetchone()[0]
    )
    spool_text = b"".join(_readable(p) for p in (tmp_path / "spool").rglob("*") if p.is_file())
    raw_db = b"".join(p.read_bytes() for p in tmp_path.glob("store.duckdb*"))
    places = {
        "api": api.encode(),
        "stored fingerprint": stored.encode(),
        "spool": spool_text,
        "database file": raw_db,
        "collector log": collector.log().encode(),
        "agent log": (agent.stdout + agent.stderr).encode(),
    }
    # positive control: the search does find what is meant to be there
    assert b"canary-visible-value" in places["stored fingerprint"]
    assert b"canary-visible-value" in places["spool"]
    secrets = [*canaries.values(), *planted_in_file, "canary-dsn-pass-19", "canaryjdbc9", "canaryslackhook"]
    assert len(canaries) + len(planted_in_file) == 19
    file_sha256 = hashlib.sha256(config.read_bytes()).hexdigest()  # would confirm a guessed file
    for place, content in places.items():
        for secret in [*secrets, file_sha256, "pbkdf2-sha256:"]:  # no salt set: no hash of a secret either
            assert secret.encode() not in content, f"{secret!r} leaked into the {place}"
    fingerprint = json.loads(stored)
    assert fingerprint["config"]["env"]["ENVPARITY_TEST_DB_PASSWORD"]["redacted"] is True


# --- diff -------------------------------------------------------------------------


def _write_fp(path: Path, **sources) -> Path:
    path.write_text(take_fingerprint(FingerprintSources(**sources)).model_dump_json())
    return path


@pytest.fixture
def two_environments(tmp_path, monkeypatch):
    """Staging and production fingerprints that differ the way the seed incident did."""
    for name, pandas, ttl, weights, secret in (
        ("staging", "2.1.4", None, b"weights-v7", "old-rotated-s3cr3t"),
        ("production", "2.2.0", 3600, b"weights-v6", "new-rotated-s3cr3t"),
    ):
        d = tmp_path / name
        d.mkdir()
        (d / "requirements.lock").write_text(f"pandas=={pandas}\nnumpy==1.26.4\nrequests==2.31.{len(name)}\n")
        cfg = {"feature_store": {"url": "http://fs:8080"}}
        if ttl:
            cfg["feature_store"]["cache_ttl_s"] = ttl
        (d / "serving.json").write_text(json.dumps(cfg))
        (d / "model.bin").write_bytes(weights)
        monkeypatch.setenv("ENVPARITY_TEST_DB_PASSWORD", secret)
        monkeypatch.setenv("ENVPARITY_HASH_SALT", "a-deployment-salt-of-32-characters")
        monkeypatch.setenv("ENVPARITY_TEST_HOSTNAME_IGNORED", name)
        _write_fp(
            tmp_path / f"{name}.json",
            packages_from=d / "requirements.lock",
            config_files={"serving.json": d / "serving.json"},
            artifacts={"model": d / "model.bin"},
            env_prefixes=("ENVPARITY_TEST_DB",),
        )
    return tmp_path / "staging.json", tmp_path / "production.json"


def test_diff_finds_each_planted_difference(two_environments):
    staging, production = two_environments
    result = run_cli("fingerprint", "diff", str(staging), str(production), "--format", "json")
    assert result.returncode == 1, result.stderr
    items = {i["key"]: i for i in json.loads(result.stdout)["items"]}
    assert items["package:pandas"]["severity"] == "fail"
    assert "minor version change 2.1.4 -> 2.2.0" in items["package:pandas"]["detail"]
    assert items["package:requests"]["severity"] == "warn"  # patch level
    assert items["file:serving.json:feature_store.cache_ttl_s"]["change"] == "added"
    assert items["file:serving.json:feature_store.cache_ttl_s"]["severity"] == "fail"
    assert items["artifact:model"]["severity"] == "fail"
    secret = items["env:ENVPARITY_TEST_DB_PASSWORD"]
    assert secret["change"] == "changed" and secret["baseline"] == secret["target"] == "[redacted]"
    assert "rotated-s3cr3t" not in result.stdout
    assert "package:numpy" not in items


def test_diff_formats_rules_and_exit_codes(two_environments, tmp_path):
    staging, production = two_environments
    same = run_cli("fingerprint", "diff", str(staging), str(staging))
    assert same.returncode == 0 and "No differences" in same.stdout
    md = run_cli("fingerprint", "diff", str(staging), str(production), "--format", "markdown")
    assert md.stdout.startswith("### ") and "| fail | code | changed | package:pandas |" in md.stdout
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - {dimension: code, key: 'package:pandas', severity: ignore}\n"
        "  - {dimension: config, severity: warn}\n"
        "  - {dimension: artifacts, severity: warn}\n"
    )
    relaxed = run_cli("fingerprint", "diff", str(staging), str(production), "--rules", str(rules))
    assert relaxed.returncode == 0, relaxed.stdout
    assert "pandas" not in relaxed.stdout
    bad_rules = tmp_path / "bad.yaml"
    bad_rules.write_text("rules:\n  - {severity: loud}\n")
    assert run_cli("fingerprint", "diff", str(staging), str(production), "--rules", str(bad_rules)).returncode == 2
    missing = run_cli("fingerprint", "diff", str(staging), str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    not_fp = tmp_path / "x.json"
    not_fp.write_text('{"a": 1}')
    assert run_cli("fingerprint", "diff", str(staging), str(not_fp)).returncode == 2
