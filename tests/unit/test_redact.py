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
