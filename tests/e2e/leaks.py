"""Find plaintext key material and tokens in what the engine wrote and printed.

Private keys: distinctive slices of each PEM body (its base64 lines), searched verbatim and JSON-escaped.
Tokens: each exchange issues a new one, so the exact token the provider saw cannot be known here; instead the
shapes are searched: compact JWTs (``eyJ...``, access tokens of JWT users and every id_token) and opaque tokens
of the length and alphabet the instance issues (learned from a token fetched with the test's own key).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from zitadel_bootstrap.verification.assertion import build_assertion
from zitadel_bootstrap.verification.keyfile import parse_key_file
from zitadel_bootstrap.verification.proof import JWT_BEARER_GRANT_TYPE

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
_BASE64URL = "A-Za-z0-9_-"
_BASE64_ANY = "A-Za-z0-9_+/=-"


def pem_slices(key_json: str, width: int = 32) -> list[str]:
    """Three slices of the PEM body (start, middle, end lines) that occur nowhere but in this key."""
    pem = json.loads(key_json)["key"]
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    assert len(lines) >= 6, "a 2048-bit RSA key has many PEM lines"
    picks = [lines[1], lines[len(lines) // 2], lines[-2]]
    return [line[:width] for line in picks]


@dataclass(frozen=True)
class TokenShapes:
    """What the instance's tokens look like, learned from a real exchange."""

    opaque: re.Pattern[str]
    sample_access_token: str
    sample_id_token: str | None

    @classmethod
    def learn(cls, issuer: str, key_json: str) -> TokenShapes:
        key = parse_key_file(key_json)
        response = httpx.post(
            f"{issuer}/oauth/v2/token",
            data={
                "grant_type": JWT_BEARER_GRANT_TYPE,
                "assertion": build_assertion(key, issuer, time.time()),
                "scope": "openid urn:zitadel:iam:org:project:id:zitadel:aud",
            },
            timeout=10,
        )
        assert response.status_code == 200, f"the stand-in refused the test's own exchange: {response.status_code}"
        body = response.json()
        access_token = body["access_token"]
        if JWT_SHAPE.fullmatch(access_token):
            opaque = JWT_SHAPE
        else:
            assert re.fullmatch(f"[{_BASE64URL}]+", access_token), "opaque tokens are expected to be base64url"
            # Exactly that length, not part of a longer base64 run (ciphertexts of secrets are long runs).
            opaque = re.compile(f"(?<![{_BASE64_ANY}])[{_BASE64URL}]{{{len(access_token)}}}(?![{_BASE64_ANY}])")
        shapes = cls(opaque=opaque, sample_access_token=access_token, sample_id_token=body.get("id_token"))
        # The detector must recognise what it hunts for, or an empty result proves nothing.
        assert shapes.find_tokens(f'{{"t": "{access_token}"}}'), "the token detector misses a real access token"
        if shapes.sample_id_token:
            assert shapes.find_tokens(shapes.sample_id_token), "the token detector misses a real id_token"
        return shapes

    def find_tokens(self, text: str) -> list[str]:
        found = JWT_SHAPE.findall(text) + self.opaque.findall(text)
        # Hex digests (checksums in state) have the right alphabet but are not tokens.
        return [item for item in found if not re.fullmatch("[0-9a-f]+", item)]


def find_leaks(texts: dict[str, str], key_jsons: list[str], shapes: TokenShapes) -> list[str]:
    """Every plaintext key slice or token-shaped value in ``texts`` (name -> text), as readable findings."""
    needles = [piece for key_json in key_jsons for piece in pem_slices(key_json)]
    findings = []
    for name, text in texts.items():
        for needle in needles:
            if needle in text or needle.replace("/", "\\/") in text:
                findings.append(f"{name}: private key PEM body ({needle[:8]}...)")
        if "PRIVATE KEY-----" in text:
            findings.append(f"{name}: a PEM private key header")
        findings += [f"{name}: token-shaped value {token[:6]}...{token[-4:]}" for token in shapes.find_tokens(text)]
    return findings


def engine_texts(files: list[Path], captured: list[str]) -> dict[str, str]:
    texts = {str(path): path.read_text(errors="replace") for path in files}
    texts["<engine output>"] = "\n".join(captured)
    return texts


def assert_no_leaks(files: list[Path], captured: list[str], key_jsons: list[str], issuer: str) -> None:
    """Fail listing every plaintext key slice or token found in the engine's files and output."""
    shapes = TokenShapes.learn(issuer, key_jsons[-1])
    assert find_leaks({"self-test": key_jsons[-1]}, key_jsons, shapes), "the leak scanner cannot see a key file"
    leaks = find_leaks(engine_texts(files, captured), key_jsons, shapes)
    assert leaks == [], "\n".join(leaks)
