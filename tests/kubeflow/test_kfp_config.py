"""Config resolution for Kubeflow Pipelines: precedence, token sources, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from kale_like.errors import UsageError
from kale_like.kubeflow import config as kfp_config

NB_META = {
    "kubeflow_notebook": {
        "kfp_host": "https://nb.example/pipeline",
        "namespace": "nb-ns",
        "experiment_name": "nb-exp",
    }
}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default config file lives under ~: never read the real one.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture()
def cfg_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        "kfp:\n  host: https://file.example/pipeline\n  namespace: file-ns\n"
        "  experiment: file-exp\n  kube_context: ctx-from-file\n"
    )
    return path


def _resolve(env: dict[str, str], cfg: Path | None = None, **kw: object) -> kfp_config.KfpConfig:
    return kfp_config.resolve(
        env=env, config_path=str(cfg) if cfg else None, in_cluster_token="/nonexistent/token", **kw
    )  # type: ignore[arg-type]


def test_flags_beat_notebook_beat_env_beat_file(cfg_file: Path) -> None:
    env = {
        "KF_PIPELINES_ENDPOINT": "https://env.example/pipeline",
        "KF_PIPELINES_NAMESPACE": "env-ns",
    }
    c = _resolve(env, cfg_file, host="https://flag.example/pipeline", notebook_metadata=NB_META)
    assert (c.host, c.namespace, c.experiment) == (
        "https://flag.example/pipeline",
        "nb-ns",
        "nb-exp",
    )
    assert c.sources["host"] == "flag" and c.sources["namespace"] == "notebook metadata"
    c = _resolve(env, cfg_file)
    assert (c.host, c.namespace, c.experiment) == (
        "https://env.example/pipeline",
        "env-ns",
        "file-exp",
    )
    assert c.sources["host"] == "env KF_PIPELINES_ENDPOINT"
    c = _resolve({}, cfg_file)
    assert (c.host, c.namespace, c.kube_context) == (
        "https://file.example/pipeline",
        "file-ns",
        "ctx-from-file",
    )
    assert c.sources["host"] == "config file"


def test_defaults_and_kfp_host_alias(tmp_path: Path) -> None:
    c = _resolve({"KFP_HOST": "kfp.example:8443/pipeline/"})
    assert c.host == "https://kfp.example:8443/pipeline"  # kfp.Client's own https default
    assert c.experiment == kfp_config.DEFAULT_EXPERIMENT
    assert c.token is None and c.auth_source is None


def test_kale_legacy_experiment_metadata() -> None:
    meta = {"kubeflow_notebook": {"experiment": {"id": "new", "name": "legacy-exp"}}}
    assert _resolve({}, notebook_metadata=meta).experiment == "legacy-exp"


def test_config_file_from_env_var(cfg_file: Path) -> None:
    c = kfp_config.resolve(env={"KALE_LIKE_CONFIG": str(cfg_file)}, in_cluster_token="/nonexistent")
    assert c.host == "https://file.example/pipeline"


def test_missing_explicit_config_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        _resolve({"KALE_LIKE_CONFIG": str(tmp_path / "missing.yaml")})
    assert err.value.kind == "bad-config-file"


def test_malformed_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("kfp: [1, 2\n")
    with pytest.raises(UsageError):
        _resolve({}, bad)


def test_token_sources_in_order(tmp_path: Path) -> None:
    flag = tmp_path / "flag.tok"
    flag.write_text("tok-flag\n")
    sa = tmp_path / "sa.tok"
    sa.write_text("tok-sa")
    ftok = tmp_path / "file.tok"
    ftok.write_text("tok-cfgfile")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"kfp:\n  token_file: {ftok}\n")
    env = {"KFP_TOKEN": "tok-env", "KF_PIPELINES_SA_TOKEN_PATH": str(sa)}
    c = _resolve(env, cfg, token_file=str(flag))
    assert c.token is not None and c.token.reveal() == "tok-flag"
    assert c.auth_source == "flag --token-file"
    c = _resolve(env, cfg)
    assert c.token is not None and c.token.reveal() == "tok-env"
    c = _resolve({"KF_PIPELINES_TOKEN": "tok-env2"}, cfg)
    assert c.token is not None and c.token.reveal() == "tok-env2"
    c = _resolve({"KF_PIPELINES_SA_TOKEN_PATH": str(sa)}, cfg)
    assert c.token is None and c.token_file == str(sa)  # refreshed from the file by kfp
    assert c.secrets() == ["tok-sa"]
    c = _resolve({}, cfg)
    assert c.token is not None and c.token.reveal() == "tok-cfgfile"
    inline = tmp_path / "inline.yaml"
    inline.write_text("kfp:\n  token: tok-inline\n")
    assert _resolve({}, inline).auth_source == "config file token"


def test_in_cluster_service_account_token(tmp_path: Path) -> None:
    tok = tmp_path / "token"
    tok.write_text("tok-pod")
    c = kfp_config.resolve(env={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, in_cluster_token=str(tok))
    assert c.token_file == str(tok) and c.auth_source == "in-cluster service account"
    # Outside a pod the file is not looked at.
    c = kfp_config.resolve(env={}, in_cluster_token=str(tok))
    assert c.token_file is None


def test_unreadable_token_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        _resolve({}, token_file=str(tmp_path / "nope"))
    assert err.value.kind == "bad-token-file" and "KFP_TOKEN" in (err.value.fix or "")
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(UsageError):
        _resolve({}, token_file=str(empty))


def test_secret_never_printed() -> None:
    c = _resolve({"KFP_TOKEN": "s3cr3t-value", "KFP_HOST": "https://h.example"})
    for text in (repr(c), str(c), str(c.describe()), repr(c.token), str(c.token)):
        assert "s3cr3t-value" not in text
    assert c.describe()["auth"] == "env KFP_TOKEN"


def test_redact() -> None:
    text = "headers {'Authorization': 'Bearer abc.def-ghi'} token=s3cr3t-value"
    out = kfp_config.redact(text, ["s3cr3t-value"])
    assert "abc.def-ghi" not in out and "s3cr3t-value" not in out and "Bearer ***" in out


@pytest.mark.parametrize("host", ["ftp://h.example", "https://", "https://user:pw@h.example"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(UsageError) as err:
        _resolve({}, host=host)
    assert err.value.kind == "bad-kfp-host"
    assert "user:pw" not in str(err.value)


def test_verify_ssl_must_be_bool(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kfp:\n  verify_ssl: maybe\n")
    with pytest.raises(UsageError):
        _resolve({}, cfg)
    cfg.write_text("kfp:\n  verify_ssl: false\n  ssl_ca_cert: /etc/ca.pem\n")
    c = _resolve({}, cfg)
    assert c.verify_ssl is False and c.ssl_ca_cert == "/etc/ca.pem"
