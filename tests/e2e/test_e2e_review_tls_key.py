"""Review of issue 11, item 8: what ``tls.key`` alone is worth.

README: "only the identity key (identity.key) lets anyone stand in for the host ... The
TLS key alone is therefore worth no more than a certificate of one's own." PROTOCOL.md 7
lets ``--fingerprint`` name the host by its *certificate* fingerprint. Whoever stole
``tls.key`` (and the public ``tls.crt``) but not ``identity.key`` runs a host of their
own with that certificate and their own identity key: the certificate fingerprint
matches, so a first join with ``--fingerprint CERT`` must not accept (and pin) the
thief's identity.
"""

from __future__ import annotations

import json
import shutil

from tests.e2e.lab import Lab


def _fingerprints(lab: Lab, name: str) -> dict[str, str]:
    result = lab.run("fingerprint", "--json", "--config-dir", str(lab.config(name)))
    assert result.returncode == 0, result.stderr
    found: dict[str, str] = json.loads(result.stdout)
    return found


def test_a_stolen_tls_key_does_not_pass_for_the_host_by_certificate_fingerprint(
    lab: Lab,
) -> None:
    real = _fingerprints(lab, "host")  # the real host's identity and certificate
    thief = _fingerprints(lab, "thief")  # a new identity of the thief's own...
    for name in ("tls.key", "tls.crt"):  # ...with the host's stolen TLS key
        shutil.copy(lab.config("host") / name, lab.config("thief") / name)
    stolen = _fingerprints(lab, "thief")
    assert stolen["certificate"] == real["certificate"]
    assert stolen["identity"] == thief["identity"] != real["identity"]

    fake = lab.host("eve", config="thief")
    result = lab.send(fake, b"hello\n", "--fingerprint", real["certificate"], nick="bob")
    pinned = lab.config("cron") / "known_hosts.json"
    assert result.returncode != 0, "joined the thief's host as if it were the real one"
    assert not pinned.exists() or thief["identity"] not in pinned.read_text()
