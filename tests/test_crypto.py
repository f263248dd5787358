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
    assert first.startswith(f"v2.{cipher.key_id}.") and NIK not in first
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
    version, kid, body = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 1
    tampered = f"{version}.{kid}." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
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
    assert set(sealed) == {"sealed", "hash", "ref"}
    assert sealed["hash"] == cipher.lookup_hash("nik", NIK)


def test_short_keys_unknown_kinds_and_repr() -> None:
    with pytest.raises(ValueError, match="too short"):
        IdentityCipher("short")
    cipher = IdentityCipher(KEY)
    with pytest.raises(ValueError, match="unknown identity kind"):
        cipher.encrypt("npwp", NIK)
    assert KEY not in repr(cipher)


def legacy_token(secret: str, kind: str, digits: str) -> str:
    """A token as sealed before key ids (``v1.<body>``), made with the same derivation."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from storage.crypto import _derive

    aead = AESGCM(_derive(secret.encode(), b"warga identity encryption v1"))
    nonce = b"\x01" * 12
    body = base64.urlsafe_b64encode(nonce + aead.encrypt(nonce, digits.encode(), kind.encode()))
    return "v1." + body.decode().rstrip("=")


def test_tokens_sealed_before_key_ids_still_open() -> None:
    token = legacy_token(KEY, "nik", NIK)
    assert IdentityCipher(KEY).decrypt("nik", token) == NIK
    assert not IdentityCipher(KEY).is_current(token)


def test_during_a_rotation_the_previous_key_opens_what_it_sealed() -> None:
    old, new = KEY, KEY + "-rotated"
    sealed_old = IdentityCipher(old).encrypt("kk", NIK)
    rotating = IdentityCipher(new, previous=[old])
    assert rotating.rotating and rotating.decrypt("kk", sealed_old) == NIK
    assert rotating.open_any(sealed_old) == ("kk", NIK)
    assert rotating.open_any(legacy_token(old, "nik", NIK)) == ("nik", NIK)
    assert not rotating.is_current(sealed_old)
    fresh = rotating.encrypt("kk", NIK)
    assert rotating.is_current(fresh)
    # Once the previous key is removed, what it sealed no longer opens.
    with pytest.raises(CryptoError, match="not configured"):
        IdentityCipher(new).decrypt("kk", sealed_old)
    assert IdentityCipher(new).decrypt("kk", fresh) == NIK


def test_the_reference_is_keyed_stable_and_has_no_digit() -> None:
    from storage.crypto import REFERENCE_ALPHABET, reference_code

    cipher = IdentityCipher(KEY)
    ref = cipher.reference("nik", NIK)
    assert ref == cipher.seal("nik", NIK)["ref"] == reference_code(cipher.lookup_hash("nik", NIK))
    assert len(ref) == 8 and set(ref) <= set(REFERENCE_ALPHABET)
    assert not any(ch.isdigit() for ch in ref)
    assert ref != IdentityCipher(KEY + "x").reference("nik", NIK)
    assert ref != cipher.reference("kk", NIK)
    # Neighbouring numbers get unrelated references.
    refs = {cipher.reference("nik", f"31720112038100{n:02d}") for n in range(1, 100)}
    assert len(refs) == 99
