"""Identity numbers are sealed with authenticated encryption and found by keyed hash."""

from __future__ import annotations

import base64

import pytest

from storage.crypto import CryptoError, IdentityCipher

KEY = "a-test-secret-key-that-is-long-enough"
NIK = "3172011203810001"


def test_round_trip_and_fresh_nonce() -> None:
    cipher = IdentityCipher(KEY)
    first, second = cipher.encrypt("nik", NIK), cipher.encrypt("nik", NIK)
    assert first != second, "a fresh nonce per encryption: equal numbers do not look equal"
    assert first.startswith("v1.") and NIK not in first
    assert cipher.decrypt("nik", first) == cipher.decrypt("nik", second) == NIK


def test_the_kind_is_bound_to_the_ciphertext() -> None:
    cipher = IdentityCipher(KEY)
    token = cipher.encrypt("kk", NIK)
    with pytest.raises(CryptoError):
        cipher.decrypt("nik", token)


def test_another_key_or_a_changed_byte_does_not_open() -> None:
    token = IdentityCipher(KEY).encrypt("nik", NIK)
    with pytest.raises(CryptoError):
        IdentityCipher(KEY + "x").decrypt("nik", token)
    raw = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    raw[-1] ^= 1
    tampered = "v1." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(CryptoError):
        IdentityCipher(KEY).decrypt("nik", tampered)
    with pytest.raises(CryptoError):
        IdentityCipher(KEY).decrypt("nik", "v0.abc")


def test_lookup_hash_is_stable_keyed_and_per_kind() -> None:
    cipher = IdentityCipher(KEY)
    assert cipher.lookup_hash("nik", NIK) == IdentityCipher(KEY).lookup_hash("nik", NIK)
    assert cipher.lookup_hash("nik", NIK) != IdentityCipher(KEY + "x").lookup_hash("nik", NIK)
    assert cipher.lookup_hash("nik", NIK) != cipher.lookup_hash("kk", NIK)
    assert NIK not in cipher.lookup_hash("nik", NIK)
    sealed = cipher.seal("nik", NIK)
    assert set(sealed) == {"sealed", "hash"}
    assert sealed["hash"] == cipher.lookup_hash("nik", NIK)


def test_short_keys_unknown_kinds_and_repr() -> None:
    with pytest.raises(ValueError, match="too short"):
        IdentityCipher("short")
    cipher = IdentityCipher(KEY)
    with pytest.raises(ValueError, match="unknown identity kind"):
        cipher.encrypt("npwp", NIK)
    assert KEY not in repr(cipher)
