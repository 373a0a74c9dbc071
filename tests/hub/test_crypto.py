from __future__ import annotations

import pytest

from hub.crypto import SecretBox, SecretDecryptionError


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    box = SecretBox("k1")
    token = box.encrypt("ya29.refresh-token")
    assert "ya29" not in token
    assert box.decrypt(token) == "ya29.refresh-token"


def test_another_key_cannot_decrypt() -> None:
    token = SecretBox("k1").encrypt("s3cret")
    with pytest.raises(SecretDecryptionError):
        SecretBox("k2").decrypt(token)


def test_rotation_keeps_old_tokens_readable_and_rewrites_them() -> None:
    old = SecretBox("k1").encrypt("s3cret")
    box = SecretBox("k2", previous=["k1"])
    assert box.decrypt(old) == "s3cret"
    assert SecretBox("k2").decrypt(box.rotate(old)) == "s3cret"


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        SecretBox("")
