"""Property tests of the key-file parser (issue 9): any text gives a MachineKey or a KeyFileError quoting no key.

Key files are built from keys generated once per session (``fuzzing.pem_keys``: RSA PKCS#1 and PKCS#8, EC P-256
SEC1 and PKCS#8, and kinds to refuse), then broken in one to three places: a field dropped, given a hostile
value or a broken PEM, an unknown field added, the serialised text cut or edited. Every run draws the same
examples (see ``fuzzing.FUZZ``).

Bug classes the strategies aim at, all fixed in keyfile.py and now part of every run (each case names the ones
it reaches in ``Case.known_bugs``, reported as Hypothesis events):

* K1: a PEM key that cryptography parses but cannot load (an EC key on a curve it lacks, such as OpenSSL's
  ``secp224k1``, or an unknown PKCS#8 algorithm) escaped as ``cryptography.exceptions.UnsupportedAlgorithm``.
* K2: JSON nested deeper than the recursion limit (``"[" * 100_000``, also base64-wrapped) escaped as
  RecursionError.
* K3: a JSON integer of more than 4300 digits escaped as ValueError (Python's int-conversion limit).
* K4: an ``expirationDate`` whose UTC form leaves years 1-9999 (``9999-12-31T23:59:59-01:00``) escaped as
  OverflowError.
* K5: the ``type`` and ``expirationDate`` values were quoted in their errors, so key text put there was printed.
"""

from __future__ import annotations

import base64
import json
import math
import operator
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeAlias

from cryptography.hazmat.primitives import serialization
from hypothesis import event, given, note
from hypothesis import strategies as st
from zitadel_bootstrap.verification import KeyFileError, MachineKey, parse_key_file

from ..fuzzing import FUZZ, PemKey, fake_secrets, leaked_slice, pem_keys, secret_texts

Document: TypeAlias = dict[str, Any]
KeyText: TypeAlias = str | bytes
KNOWN_FIELDS = ("type", "keyId", "key", "expirationDate", "userId")

KEYS: st.SearchStrategy[PemKey] = st.deferred(lambda: st.sampled_from(pem_keys()))

NO_SPACE_CHARACTERS = st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))
IDS = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.text(alphabet=NO_SPACE_CHARACTERS, min_size=1, max_size=30),
).filter(lambda text: not any(ch.isspace() for ch in text))

# Years 2-9998 keep every offset's UTC form inside datetime's range (K4).
NAIVE_MOMENTS = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))
OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59)
)
MOMENTS = st.one_of(NAIVE_MOMENTS, st.builds(lambda naive, zone: naive.replace(tzinfo=zone), NAIVE_MOMENTS, OFFSETS))


@st.composite
def expiration_dates(draw: st.DrawFn) -> tuple[str, datetime]:
    """(an expirationDate as a tool writes it, the UTC moment it means)."""
    moment = draw(MOMENTS)
    text = moment.isoformat(sep=draw(st.sampled_from(["T", " "])))
    if text.endswith("+00:00") and draw(st.booleans()):
        text = text.removesuffix("+00:00") + "Z"
    expected = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return text, expected


@st.composite
def serialised(draw: st.DrawFn, document: Any) -> KeyText:
    """The document as a file, a secret value or the REST gateway hands it over: all forms the parser reads."""
    text = json.dumps(
        document,
        indent=draw(st.sampled_from([None, 2, "\t"])),
        ensure_ascii=draw(st.booleans()),
        sort_keys=draw(st.booleans()),
    )
    form = draw(st.sampled_from(["text", "bytes", "bom", "base64", "padded"]))
    event(f"form: {form}")
    if form == "bytes":
        return text.encode()
    if form == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if form == "base64":
        return base64.b64encode(text.encode()).decode()
    if form == "padded":
        return f"\n  {text}\r\n"
    return text


@st.composite
def key_files(draw: st.DrawFn, keys: st.SearchStrategy[PemKey]) -> tuple[Document, PemKey, datetime | None]:
    """(a key file in the shape ZITADEL writes, its key, the expiration it states) with optional extra fields."""
    key = draw(keys)
    document: Document = {}
    if draw(st.booleans()):
        document["type"] = draw(st.sampled_from(["serviceaccount", None]))
    document["keyId"] = draw(IDS)
    pem = key.pem
    if draw(st.booleans()):
        pem = draw(st.sampled_from([pem.replace("\n", "\r\n"), pem.strip(), f"\n{pem}\n\n"]))
    document["key"] = pem
    expiration: datetime | None = None
    choice = draw(st.sampled_from(["date", "absent", "null", "empty"]))
    if choice == "date":
        document["expirationDate"], expiration = draw(expiration_dates())
    elif choice != "absent":
        document["expirationDate"] = None if choice == "null" else ""
    document["userId"] = draw(IDS)
    extra = draw(st.dictionaries(st.text(max_size=10).filter(lambda name: name not in KNOWN_FIELDS), JSON, max_size=2))
    document.update(extra)
    return document, key, expiration


# --- hostile values ----------------------------------------------------------------------------------------

# Built, not listed, so a failure report shows a short strategy instead of 200 kB of it.
HUGE_STRINGS = st.builds(operator.mul, st.sampled_from(["A", "\u00e9", "{"]), st.sampled_from([50_000, 200_000]))

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),  # as big as json.dumps writes them
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0]),
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "\t\n",
            "\u00a0",
            "serviceaccount",
            "application",
            "ServiceAccount",
            "1 2",
            "259254409320382211",
            "2030-01-02T03:04:05Z",
            "2030-01-02T03:04:05.123456789Z",
            "2030-02-30T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59",
            "next tuesday",
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n",
        ]
    ),
    MOMENTS.map(datetime.isoformat),
    HUGE_STRINGS,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
SECRETS = st.deferred(lambda: st.sampled_from([key.pem for key in pem_keys()] + list(fake_secrets())))
HOSTILE = st.one_of(JSON, SECRETS, st.lists(SECRETS, min_size=1, max_size=2), st.dictionaries(st.just("pem"), SECRETS))
# Every moment datetime can hold, in any offset: near years 1 and 9999 the UTC form leaves the range (K4).
EDGE_DATES = st.one_of(
    st.builds(lambda naive, zone: naive.replace(tzinfo=zone).isoformat(), st.datetimes(), OFFSETS),
    st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+00:31"]),
)

LABELS = ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "PUBLIC KEY", "CERTIFICATE")
# Algorithm and curve identifiers as DER: rsaEncryption, id-ecPublicKey, prime256v1, secp384r1, Ed25519.
_OIDS = (
    bytes.fromhex("06092a864886f70d010101"),
    bytes.fromhex("06072a8648ce3d0201"),
    bytes.fromhex("06082a8648ce3d030107"),
    bytes.fromhex("06052b81040022"),
    bytes.fromhex("06032b6570"),
)


@dataclass(frozen=True)
class Case:
    """A text to parse and the known bugs (module docstring) it would run into."""

    text: KeyText
    known_bugs: frozenset[str] = frozenset()


def pem_body_lines(pem: str) -> str:
    return "".join(line for line in pem.strip().splitlines() if not line.startswith("-----"))


def _der(pem: str) -> bytes:
    return base64.b64decode(pem_body_lines(pem))


def _wrap(der: bytes, label: str) -> str:
    return f"-----BEGIN {label}-----\n{base64.encodebytes(der).decode()}-----END {label}-----\n"


def _label(pem: str) -> str:
    return pem.strip().splitlines()[0].removeprefix("-----BEGIN ").removesuffix("-----")


def _in_an_identifier(der: bytes, position: int) -> bool:
    for oid in _OIDS:
        start = der.find(oid)
        while start != -1:
            if start <= position < start + len(oid):
                return True
            start = der.find(oid, start + 1)
    return False


def _expiration_overflows(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    try:
        (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return True
    return False


@st.composite
def mutated_pem(draw: st.DrawFn, key: PemKey) -> tuple[str, frozenset[str]]:
    """The key's PEM broken in one of the ways files get broken, and the known bugs that meets."""
    pem = key.pem
    how = draw(
        st.sampled_from(
            ["flip-byte", "cut-der", "cut-text", "reverse-body", "relabel", "no-footer", "junk-around", "drop-line"]
        )
    )
    event(f"pem: {how}")
    if key.label == "rsa2048-encrypted" and how in ("flip-byte", "cut-der"):
        how = "cut-text"
    if how in ("flip-byte", "cut-der"):
        der = _der(pem)
        position = draw(st.integers(min_value=0, max_value=len(der) - 1))
        if how == "cut-der":
            return _wrap(der[:position], _label(pem)), frozenset()
        changed = bytearray(der)
        changed[position] = draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != der[position]))
        # A changed algorithm or curve identifier names one that cryptography may lack (K1).
        return _wrap(bytes(changed), _label(pem)), frozenset({"K1"} if _in_an_identifier(der, position) else ())
    if how == "cut-text":
        broken = pem[: draw(st.integers(min_value=0, max_value=len(pem) - 1))]
    elif how == "reverse-body":
        body = pem_body_lines(pem)
        broken = pem.replace(body[:64], body[:64][::-1])
    elif how == "relabel":
        broken = pem.replace(_label(pem), draw(st.sampled_from(LABELS)))
    elif how == "no-footer":
        broken = pem.strip().rsplit("\n", 1)[0]
    elif how == "junk-around":
        broken = draw(st.text(max_size=20)) + pem + draw(st.text(max_size=20))
    else:
        lines = pem.splitlines(keepends=True)
        index = draw(st.integers(min_value=1, max_value=len(lines) - 2))
        broken = "".join(lines[:index] + lines[index + 1 :])
    return broken, frozenset()


def _quotes_key_text(field: str, value: Any) -> bool:
    """K5: 'type' and 'expirationDate' are quoted in their errors."""
    return field in ("type", "expirationDate") and leaked_slice(repr(value), secret_texts()) is not None


@st.composite
def field_values(draw: st.DrawFn, field: str) -> tuple[Any, frozenset[str]]:
    """A hostile value for one field of the key file, and the known bugs it meets."""
    value = draw(EDGE_DATES) if field == "expirationDate" and draw(st.booleans()) else draw(HOSTILE)
    bugs = {"K4"} if field == "expirationDate" and _expiration_overflows(value) else set()
    if _quotes_key_text(field, value):
        bugs.add("K5")
    return value, frozenset(bugs)


@st.composite
def edited(draw: st.DrawFn, text: KeyText) -> tuple[KeyText, frozenset[str]]:
    """The serialised text, left alone or edited the way copies and pastes break it."""
    edit = draw(st.sampled_from(["none", "none", "none", "cut", "insert", "prefix", "nest", "long-number"]))
    event(f"text edit: {edit}")
    if edit == "none":
        return text, frozenset()
    raw = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text
    at = draw(st.integers(min_value=0, max_value=max(len(raw) - 1, 0)))
    if edit == "cut":
        return raw[:at], frozenset()
    if edit == "insert":
        return raw[:at] + draw(st.sampled_from(['"', "{", "}", ",", "\\", "\x00", "\ufeff", " ", "\ud800"])) + raw[
            at:
        ], frozenset()
    if edit == "prefix":
        return draw(st.text(min_size=1, max_size=5)) + raw, frozenset()
    # A field holding deep nesting or a long number, added after the opening brace.
    if edit == "nest":
        depth = draw(st.integers(min_value=1, max_value=2000))
        value, bugs = "[" * depth + "]" * depth, {"K2"} if depth > 500 else set()
    else:
        digits = draw(st.integers(min_value=1, max_value=6000))
        value, bugs = "7" * digits, {"K3"} if digits > 4300 else set()
    opening = raw.find("{")
    if opening == -1:
        return raw + value, frozenset(bugs)
    return f'{raw[: opening + 1]}"extra": {value}, {raw[opening + 1 :]}', frozenset(bugs)


@st.composite
def mutated_key_files(draw: st.DrawFn) -> Case:
    document, key, _ = draw(key_files(KEYS))
    bugs: set[str] = set()
    # Shrinks towards one change; Hypothesis favours the first entries, so "none" comes last.
    for _ in range(draw(st.sampled_from([1, 2, 1, 3, 0]))):
        action = draw(st.sampled_from(["replace", "broken-pem", "drop", "add", "replace"]))
        event(f"change: {action}")
        if action == "broken-pem":
            document["key"], found = draw(mutated_pem(key))
        elif action == "drop" and document:
            del document[draw(st.sampled_from(sorted(document)))]
            found = frozenset()
        else:
            field = draw(st.sampled_from(KNOWN_FIELDS) if action == "replace" else st.text(max_size=10))
            document[field], found = draw(field_values(field))
        bugs |= found
        note(f"{action}: {sorted(document)}")
    whole = draw(st.sampled_from(["object", "object", "object", "list", "value"]))
    container: Any = document if whole == "object" else [document] if whole == "list" else document.get("key")
    text, found = draw(edited(draw(serialised(container))))
    return Case(text, frozenset(bugs | found))


def reporting_known_bugs(cases: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    """Each case as it is, with the bug classes it reaches reported as Hypothesis events."""

    def report(case: Case) -> Case:
        for bug in sorted(case.known_bugs):
            event(f"reaches {bug}")
        return case

    return cases.map(report)


# --- what every outcome must satisfy -----------------------------------------------------------------------


def parse(text: KeyText) -> MachineKey | KeyFileError:
    """A MachineKey or the KeyFileError; any other exception fails the property as it is."""
    try:
        return parse_key_file(text)
    except KeyFileError as error:
        return error


def check_outcome(text: KeyText, outcomes: Counter[str] | None = None) -> MachineKey | KeyFileError:
    result = parse(text)
    kind = "parsed" if isinstance(result, MachineKey) else "refused"
    event(kind)
    if outcomes is not None:
        outcomes[kind] += 1
    if isinstance(result, KeyFileError):
        assert result.kind == "key_file_invalid"
        assert result.field == "key_json"
        assert result.message
        everything = f"{result}\n{result.message}\n{result.hint}\n{result!r}\n{result.args!r}"
        leaked = leaked_slice(everything, secret_texts())
        assert leaked is None, f"key text {leaked!r} in {str(result)[:400]!r}"
        event("refused: " + result.message.split("(")[0][:60])
    else:
        for identifier in (result.key_id, result.user_id):
            assert identifier.strip(), result
            assert not any(ch.isspace() for ch in identifier), result
        assert result.algorithm in ("RS256", "ES256")
        assert result.expiration is None or result.expiration.tzinfo is not None
        # Ids may be anything without white space, even a secret someone pasted there; the key never shows.
        assert leaked_slice(repr(result), tuple(key.body for key in pem_keys())) is None
    return result


# --- the properties ----------------------------------------------------------------------------------------


@FUZZ
@given(key_files(KEYS), st.data())
def test_generated_key_files_round_trip_or_refuse_the_key_kind(
    built: tuple[Document, PemKey, datetime | None], data: st.DataObject
) -> None:
    document, key, expiration = built
    text = data.draw(serialised(document))
    result = check_outcome(text)
    if key.algorithm is None:
        assert isinstance(result, KeyFileError), f"{key.label} was accepted"
        return
    assert isinstance(result, MachineKey), result
    assert (result.key_id, result.user_id) == (document["keyId"], document["userId"])
    assert result.algorithm == key.algorithm
    public = result.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == key.public_der, f"{key.label}: another key came back"
    assert result.expiration == expiration


def test_mutated_key_files_give_a_key_or_a_key_file_error_without_key_text() -> None:
    outcomes: Counter[str] = Counter()

    @FUZZ
    @given(reporting_known_bugs(mutated_key_files()))
    def check(case: Case) -> None:
        check_outcome(case.text, outcomes)

    check()
    # Both paths must be exercised: changes that keep a usable file, and the refusals.
    assert outcomes["parsed"] >= outcomes.total() // 20, outcomes
    assert outcomes["refused"] >= outcomes.total() // 2, outcomes


def _deep(depth: int) -> Case:
    return Case("[" * depth + "]" * depth, frozenset({"K2"} if depth > 500 else ()))


RAW_CASES: st.SearchStrategy[Case] = st.one_of(
    st.one_of(
        st.text(),
        st.binary(),
        st.sampled_from(["", " \n\t", "{", "[]", "null", "1", '"x"', "{}", "e30=", "W10=", "bnVsbA=="]),
        SECRETS,
        HUGE_STRINGS,
        st.builds(
            lambda before, secret, after: before + secret + after, st.text(max_size=10), SECRETS, st.text(max_size=10)
        ),
        SECRETS.map(lambda secret: base64.b64encode(secret.encode()).decode()),
        st.binary(max_size=64).map(lambda raw: base64.b64encode(raw).decode()),
        JSON.map(json.dumps),
    ).map(Case),
    st.integers(min_value=1, max_value=2000).map(_deep),
    st.integers(min_value=1, max_value=2000).map(
        lambda depth: Case(base64.b64encode(str(_deep(depth).text).encode()).decode(), _deep(depth).known_bugs)
    ),
    st.integers(min_value=1, max_value=6000).map(
        lambda digits: Case("7" * digits, frozenset({"K3"} if digits > 4300 else ()))
    ),
)


@FUZZ
@given(reporting_known_bugs(RAW_CASES))
def test_any_text_or_bytes_give_only_a_key_file_error_without_key_text(case: Case) -> None:
    check_outcome(case.text)


def test_the_leak_check_finds_quoted_key_text() -> None:
    # Guards the properties above against a check that can never fire.
    key = pem_keys()[0]
    assert leaked_slice(f"The key file's 'type' is {key.pem!r}", secret_texts()) is not None
    assert leaked_slice(repr(json.dumps({"key": key.pem})), secret_texts()) is not None
    assert leaked_slice(str(parse(json.dumps({"key": key.pem}))), secret_texts()) is None
