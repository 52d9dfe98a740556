import pytest

from dlp_addon.evidence import Hasher, mask


@pytest.mark.parametrize("kind, raw, masked", [
    ("email", "John.Doe@gmail.com", "J***@g***.com"),
    ("email", "иван@пример.рф", "и***@п***.рф"),
    ("email", "a@mail.example.co.uk", "a***@m***.co.uk"),
    # Written out: the "@" as it was written, the domain with plain dots.
    ("email", "ivan [at] mail [dot] ru", "i*** [at] m***.ru"),
    ("email", "ivan собака mail точка ru", "i*** собака m***.ru"),
    ("email", "zhang艾特qq点com", "z***艾特q***.com"),
    ("email", "name @ domain . com", "n*** @ d***.com"),
    ("email", "ivan@mail dot ru", "i***@m***.ru"),
    ("email", "ahmed＠example．com", "a***@e***.com"),
    ("phone", "+86 138 0013 8000", "+86 138 **** 8000"),
    ("phone", "13800138000", "138****8000"),
    ("phone", "0086 138 0013 8000", "0086 138 **** 8000"),
    ("phone", "+971 50 123 4567", "+971 50 1** *567"),
    ("phone", "۰۹۱۲ ۱۲۳ ۴۵۶۷", "۰۹۱* *** ۴۵۶۷"),
])
def test_masks_keep_the_shape_not_the_identifier(kind, raw, masked):
    assert mask(kind, raw) == masked


def test_keyed_hash_depends_on_the_key_and_the_kind():
    a, b = Hasher(b"a" * 32), Hasher(b"b" * 32)
    assert a.digest("email", "x@y.com") == a.digest("email", "x@y.com")
    assert a.digest("email", "x@y.com") != b.digest("email", "x@y.com")
    assert a.digest("email", "1") != a.digest("phone", "1")
    assert len(a.digest("phone", "+8613800138000")) == 64
    with pytest.raises(ValueError):
        Hasher(b"short")
