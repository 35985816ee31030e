from minion.redact import MASK, redact


def test_env_secret_values_and_known_shapes_are_masked(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890abcdef")
    text = {
        "a": "token tok-1234567890abcdef here",
        "b": ["key sk-ant-api03-abcdefghijklmnopqrstuv", "AKIAABCDEFGHIJKLMNOP"],
        "c": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        "n": 3,
    }
    out = redact(text)
    assert "tok-1234567890abcdef" not in str(out)
    assert "sk-ant-api03" not in str(out) and "AKIA" not in str(out) and "MIIE" not in str(out)
    assert out["a"] == f"token {MASK} here" and out["n"] == 3


def test_ordinary_code_is_untouched():
    code = "def total(items):\n    return sum(price * qty for price, qty in items)\n"
    assert redact(code) == code


def test_only_whole_words_make_a_variable_secret(monkeypatch):
    monkeypatch.setenv("GIT_AUTHOR_NAME", "jsmithdev")
    monkeypatch.setenv("MONKEYPATCH_DIR", "somewhere-long")
    monkeypatch.setenv("NPM_AUTH_TOKEN", "npm-secret-value")
    assert redact("jsmithdev somewhere-long npm-secret-value") == f"jsmithdev somewhere-long {MASK}"


# --- encoded forms of secret environment values ------------------------------------------

import base64  # noqa: E402
from urllib.parse import quote, quote_plus  # noqa: E402

import pytest  # noqa: E402

from minion import redact as redact_module  # noqa: E402
from minion.redact import redact_text, secret_hits, secret_matches  # noqa: E402

VALUE = "tok-1234567890abcdef/+?&=~"  # base64 of it has '+' and '/', URL-encoding changes it
RAW = VALUE.encode()


def _inside(prefix: bytes, encode=base64.b64encode) -> str:
    return encode(prefix + RAW + b"tail").decode()


ENCODED = {
    "base64": base64.b64encode(RAW).decode(),
    "base64 unpadded": base64.b64encode(RAW).decode().rstrip("="),
    "urlsafe base64": base64.urlsafe_b64encode(RAW).decode(),
    "urlsafe base64 unpadded": base64.urlsafe_b64encode(RAW).decode().rstrip("="),
    "base64 inside, aligned": _inside(b"abc"),
    "base64 inside, one byte in": _inside(b"a"),
    "base64 inside, two bytes in": _inside(b"ab"),
    "urlsafe base64 inside, two bytes in": _inside(b"ab", base64.urlsafe_b64encode),
    "hex": RAW.hex(),
    "HEX": RAW.hex().upper(),
    "quote": quote(VALUE),
    "quote safe=''": quote(VALUE, safe=""),
    "quote_plus": quote_plus(VALUE),
}


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", VALUE)
    return VALUE


@pytest.mark.parametrize("kind", ENCODED)
def test_each_encoded_form_of_a_secret_env_value_is_masked(token, kind):
    form = ENCODED[kind]
    assert form != VALUE
    out = redact_text(f"cache: {form} end")
    assert MASK in out and out.startswith("cache: ") and out.endswith(" end")
    if "inside" in kind:  # only the characters that encode the value itself are masked
        left = out.removeprefix("cache: ").removesuffix(" end").split(MASK)
        assert len(left) == 2 and len(left[0]) <= 4 and len(left[1]) <= 8  # the prefix's and "tail"'s
    else:
        assert out == f"cache: {MASK} end"
    assert redact({"a": [form]}) != {"a": [form]}


@pytest.mark.parametrize("kind", ENCODED)
def test_the_scan_names_each_form_without_the_secret(token, kind):
    hits = secret_hits(f"x = '{ENCODED[kind]}'\n")
    assert len(hits) == 1 and hits[0].startswith("the value of MY_SERVICE_TOKEN, ")
    expected = "hex" if "hex" in kind.lower() else "URL-encoded" if "quote" in kind else "base64"
    assert hits[0].endswith(expected)
    assert VALUE not in hits[0] and ENCODED[kind] not in hits[0]


def test_the_scan_finds_plain_values_and_known_shapes(token):
    text = f"a = '{VALUE}'\nb = 'ghp_abcdefghijklmnopqrstuvwxyz0123'\nc = 'AKIAABCDEFGHIJKLMNOP'\n"
    assert secret_hits(text) == ["the value of MY_SERVICE_TOKEN, plain", "a GitHub token (a known secret shape)",
                                 "an AWS access key id (a known secret shape)"]
    matches = secret_matches(text)
    assert VALUE in matches and "ghp_abcdefghijklmnopqrstuvwxyz0123" in matches
    assert not any(m in why for m, why in matches.items())


def test_ordinary_text_is_untouched_and_not_a_hit(token):
    code = ("import base64\nprint(base64.b64encode(b'hello world').hex())\n"
            "url = 'https://example.com/a?b=c%20d&e=f+g'\nAuthorization: Bearer <token goes here>\n"
            "digest = 'deadbeefcafebabe0123456789abcdef'\n")
    assert redact_text(code) == code
    assert secret_hits(code) == []
    assert secret_hits("Authorization: Bearer abcdefghijklmnopqrstuvwxyz") == []  # prose: masked, not refused


def test_short_values_and_other_variables_are_not_secrets(monkeypatch):
    monkeypatch.setenv("MY_PIN_TOKEN", "1234567")  # under 8 characters
    monkeypatch.setenv("MY_PATH", "tok-1234567890abcdef-not-secret")
    text = "1234567 " + base64.b64encode(b"tok-1234567890abcdef-not-secret").decode()
    assert redact_text(text) == text and secret_hits(text) == []


def test_the_forms_are_computed_once_per_set_of_values(token, monkeypatch):
    redact_module._compiled.cache_clear()
    calls = []
    real = redact_module.secret_forms
    monkeypatch.setattr(redact_module, "secret_forms", lambda v: calls.append(v) or real(v))
    for _ in range(50):
        redact({"a": ["one", "two"], "b": "three"})
        redact_text("four")
        secret_hits("five")
    assert calls == [VALUE]  # MY_SERVICE_TOKEN only, once: the values' forms are cached
    monkeypatch.setenv("OTHER_API_KEY", "another-secret-value")
    assert redact_text("another-secret-value") == MASK  # a new set of values: computed anew
    assert sorted(calls) == sorted([VALUE, VALUE, "another-secret-value"])
