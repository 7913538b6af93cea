"""Image config values and artifact types as the UI writes them (pure functions)."""

from __future__ import annotations

import pytest

from moorage.http.ui.formatting import artifact_label, config_value, cosign_subject

HEX = "ab" * 32


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("ExposedPorts", {"80/tcp": {}, "443/tcp": {}, "53/udp": {}}, "443/tcp, 53/udp, 80/tcp"),
        ("Volumes", {"/var/lib/data": {}, "/cache": {}}, "/cache, /var/lib/data"),
        ("Env", ["A=1", "B=two words"], "A=1\nB=two words"),
        ("Cmd", ["sh", "-c", "echo hi && sleep 1"], "sh -c 'echo hi && sleep 1'"),
        ("Entrypoint", ["/docker-entrypoint.sh"], "/docker-entrypoint.sh"),
        ("Shell", ["/bin/bash", "-c"], "/bin/bash -c"),
        ("User", "1000:1000", "1000:1000"),
        ("OnBuild", ["RUN make", "COPY . /src"], "RUN make, COPY . /src"),
        (
            "Healthcheck",
            {
                "Test": ["CMD", "curl", "-f", "http://localhost/"],
                "Interval": 5_000_000_000,
                "Retries": 3,
            },
            "curl -f http://localhost/, interval 5s, retries 3",
        ),
        ("Healthcheck", {"Test": ["NONE"]}, "disabled"),
        ("Other", {"b": 2, "a": [1, 2]}, "a=1, 2, b=2"),
    ],
)
def test_config_values_in_words(key: str, value: object, text: str) -> None:
    assert config_value(value, key) == text
    assert "{" not in config_value(value, key) and "[" not in config_value(value, key)


def test_artifact_labels_and_cosign_tags() -> None:
    assert artifact_label("application/vnd.cncf.notary.signature") == "Notation signature"
    assert artifact_label("application/spdx+json") == "SBOM (SPDX)"
    assert (
        artifact_label("application/vnd.acme.sbom+json") == "SBOM (application/vnd.acme.sbom+json)"
    )
    assert artifact_label("application/vnd.acme.thing") == "application/vnd.acme.thing"
    assert artifact_label("") == "artifact"
    assert cosign_subject(f"sha256-{HEX}.sig") == f"sha256:{HEX}"
    assert cosign_subject(f"sha256-{HEX}.att") == f"sha256:{HEX}"
    assert cosign_subject(f"sha256-{HEX}") == ""
    assert cosign_subject("latest") == ""
