"""Encryption of identity numbers (NIK, No. KK) at rest, and keyed hashes to find them.

Two keys are derived from ``WARGA_SECRET_KEY`` with HKDF-SHA256, one per purpose, so
that the lookup hash never reveals anything about the encryption key:

- an AES-256-GCM key (authenticated encryption). A sealed number is
  ``v1.<base64url(12-byte nonce ‖ ciphertext ‖ tag)>``; the kind (``nik``/``kk``) is the
  associated data, so a KK ciphertext pasted into an NIK column does not open.
- an HMAC-SHA256 key for lookups: the same number always gives the same hash, so
  "was this NIK assessed before?" is one indexed query, while someone holding only the
  database cannot test guesses (an unkeyed hash of a 16-digit number with a known
  structure would fall to brute force in minutes).

The ``v1`` prefix leaves room for a key rotation: a later version would keep reading
``v1`` tokens with the old key while writing new ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
KINDS = frozenset({"nik", "kk"})
_SALT = b"warga/identity-numbers"
_NONCE_BYTES = 12


class CryptoError(ValueError):
    """A sealed value that does not open: wrong key, tampered, or not ours."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose).derive(secret)


class IdentityCipher:
    """Seals and opens NIK / No. KK values; makes their lookup hashes."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < 16:
            raise ValueError("WARGA_SECRET_KEY is too short to derive keys from (16+ characters)")
        secret = secret_key.encode()
        self._aead = AESGCM(_derive(secret, b"warga identity encryption v1"))
        self._mac_key = _derive(secret, b"warga identity lookup v1")

    def __repr__(self) -> str:
        return "IdentityCipher(***)"

    def seal(self, kind: str, digits: str) -> dict[str, str]:
        """``{"sealed": token, "hash": lookup hash}`` for the conversation state."""
        return {"sealed": self.encrypt(kind, digits), "hash": self.lookup_hash(kind, digits)}

    def encrypt(self, kind: str, digits: str) -> str:
        _check_kind(kind)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, digits.encode(), kind.encode())
        return f"{VERSION}." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, kind: str, token: str) -> str:
        _check_kind(kind)
        version, _, body = token.partition(".")
        if version != VERSION or not body:
            raise CryptoError("not a sealed identity number")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:],
                                      kind.encode()).decode()
        except (InvalidTag, ValueError) as err:
            raise CryptoError("identity number does not open with this key") from err

    def lookup_hash(self, kind: str, digits: str) -> str:
        _check_kind(kind)
        return hmac.new(self._mac_key, f"{kind}:{digits}".encode(), hashlib.sha256).hexdigest()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown identity kind {kind!r}")
