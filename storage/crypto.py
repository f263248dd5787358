"""Encryption of identity numbers (NIK, No. KK) at rest, keyed hashes to find them, and
keyed references to show them.

Keys are derived from ``WARGA_SECRET_KEY`` with HKDF-SHA256, one per purpose, so that
the lookup hash never reveals anything about the encryption key:

- an AES-256-GCM key (authenticated encryption). A sealed number is
  ``v2.<key id>.<base64url(12-byte nonce ‖ ciphertext ‖ tag)>``; the kind (``nik``/``kk``)
  is the associated data, so a KK ciphertext pasted into an NIK column does not open.
  The key id (derived, it says nothing about the key) tells which key sealed it, so that
  during a key rotation the old key still opens what is not re-sealed yet. ``v1.<…>``
  tokens (before key ids) open with any configured key.
- an HMAC-SHA256 key for lookups: the same number always gives the same hash, so
  "was this NIK assessed before?" is one indexed query, while someone holding only the
  database cannot test guesses (an unkeyed hash of a 16-digit number with a known
  structure would fall to brute force in minutes).
- the *reference*: eight letters taken from the lookup hash (``reference_code``), what
  pages, messages and exports show instead of any digit of the number
  (``conversations.privacy.reference_label`` gives it its display form,
  ``NIK #KQXM-PRTA``). Without the key nobody can compute the reference of a guess.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v2"
LEGACY_VERSION = "v1"
KINDS = ("nik", "kk")
_SALT = b"warga/identity-numbers"
_NONCE_BYTES = 12
MIN_KEY_LENGTH = 16

# Letters only (no I or O): a reference never looks like a digit of the number.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ"
REFERENCE_LENGTH = 8  # 24^8 ≈ 1.1e11: no two households of a programme share one


class CryptoError(ValueError):
    """A sealed value that does not open: wrong key, tampered, or not ours."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose).derive(secret)


def reference_code(lookup_hash: str) -> str:
    """Eight letters from a lookup hash (hex HMAC): the number's keyed reference."""
    try:
        value = int(lookup_hash[:20], 16)  # 80 bits, more than the 37 the code keeps
    except ValueError:  # not one of our hashes: still a stable code, never its text
        value = int(hashlib.sha256(lookup_hash.encode()).hexdigest()[:20], 16)
    letters = []
    for _ in range(REFERENCE_LENGTH):
        value, index = divmod(value, len(REFERENCE_ALPHABET))
        letters.append(REFERENCE_ALPHABET[index])
    return "".join(letters)


def key_id(secret_key: str) -> str:
    """A short name for a key, safe to store and print (derived, not the key)."""
    return _derive(secret_key.encode(), b"warga key id v1")[:6].hex()


@dataclass(frozen=True)
class _Key:
    kid: str
    aead: AESGCM
    mac_key: bytes


def _key(secret_key: str) -> _Key:
    if len(secret_key) < MIN_KEY_LENGTH:
        raise ValueError("WARGA_SECRET_KEY is too short to derive keys from (16+ characters)")
    secret = secret_key.encode()
    return _Key(key_id(secret_key), AESGCM(_derive(secret, b"warga identity encryption v1")),
                _derive(secret, b"warga identity lookup v1"))


class IdentityCipher:
    """Seals and opens NIK / No. KK values; makes their lookup hashes and references.

    ``previous`` keys (a rotation under way) still open what they sealed; everything new
    is sealed, hashed and referenced with the current key.
    """

    def __init__(self, secret_key: str, *, previous: Sequence[str] = ()) -> None:
        self._current = _key(secret_key)
        self._previous = tuple(k for k in (_key(p) for p in previous)
                               if k.kid != self._current.kid)

    def __repr__(self) -> str:
        return "IdentityCipher(***)"

    @property
    def key_id(self) -> str:
        return self._current.kid

    @property
    def rotating(self) -> bool:
        return bool(self._previous)

    def seal(self, kind: str, digits: str) -> dict[str, str]:
        """``{"sealed": token, "hash": lookup hash, "ref": reference}`` for the state."""
        digest = self.lookup_hash(kind, digits)
        return {"sealed": self.encrypt(kind, digits), "hash": digest,
                "ref": reference_code(digest)}

    def encrypt(self, kind: str, digits: str) -> str:
        _check_kind(kind)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.aead.encrypt(nonce, digits.encode(), kind.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{VERSION}.{self._current.kid}.{body}"

    def decrypt(self, kind: str, token: str) -> str:
        _check_kind(kind)
        raw, keys = self._parse(token)
        for key in keys:
            try:
                return key.aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                        kind.encode()).decode()
            except (InvalidTag, ValueError):
                continue
        raise CryptoError("identity number does not open with this key")

    def open_any(self, token: str) -> tuple[str, str]:
        """(kind, digits) of a token whose kind is not known (re-sealing JSON answers)."""
        for kind in KINDS:
            try:
                return kind, self.decrypt(kind, token)
            except CryptoError:
                continue
        raise CryptoError("identity number does not open with this key")

    def is_current(self, token: str) -> bool:
        """Sealed with the current key (nothing to re-seal)."""
        return token.startswith(f"{VERSION}.{self._current.kid}.")

    def lookup_hash(self, kind: str, digits: str) -> str:
        _check_kind(kind)
        return hmac.new(self._current.mac_key, f"{kind}:{digits}".encode(),
                        hashlib.sha256).hexdigest()

    def reference(self, kind: str, digits: str) -> str:
        return reference_code(self.lookup_hash(kind, digits))

    def _parse(self, token: str) -> tuple[bytes, tuple[_Key, ...]]:
        keys = (self._current, *self._previous)
        parts = token.split(".")
        if len(parts) == 3 and parts[0] == VERSION and parts[2]:
            keys = tuple(k for k in keys if k.kid == parts[1])
            body = parts[2]
        elif len(parts) == 2 and parts[0] == LEGACY_VERSION and parts[1]:
            body = parts[1]
        else:
            raise CryptoError("not a sealed identity number")
        if not keys:
            raise CryptoError("identity number sealed with a key that is not configured")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except ValueError as err:
            raise CryptoError("not a sealed identity number") from err
        return raw, keys


def is_sealed(value: object) -> bool:
    """Whether a value looks like one of our tokens (without opening it)."""
    return isinstance(value, str) and value.startswith((f"{VERSION}.", f"{LEGACY_VERSION}."))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown identity kind {kind!r}")
