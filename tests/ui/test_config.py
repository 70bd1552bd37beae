"""The UI's settings: the exposure rule, logins, and the bounds a person may choose in."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from liftoff.ui.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_on_loopback_without_a_login_nobody_is_asked_to_log_in() -> None:
    plain = settings()
    assert not plain.auth_required and not plain.login_enabled


def test_binding_beyond_loopback_without_a_login_is_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="LIFTOFF_UI_USERS=user:password"):
        settings(host="0.0.0.0")
    exposed = settings(host="0.0.0.0", users=SecretStr("ana:correct-horse"))
    assert exposed.auth_required and exposed.login_enabled


def test_auth_off_is_explicit_and_turns_every_login_off() -> None:
    behind_iap = settings(host="0.0.0.0", auth="off", users=SecretStr("ana:correct-horse"))
    assert not behind_iap.auth_required and not behind_iap.login_enabled


def test_auth_on_without_a_login_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs a login"):
        settings(auth="on")


def test_passwords_match_whole_pairs_only() -> None:
    s = settings(users=SecretStr("ana:correct-horse, bo:battery-staple"))
    assert s.check_password("ana", "correct-horse")
    assert s.check_password("bo", "battery-staple")
    assert not s.check_password("ana", "battery-staple")  # another user's password
    assert not s.check_password("ana", "correct-hors")
    assert not s.check_password("", "")
    assert not settings().check_password("ana", "correct-horse")


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ("ana", "user:password pairs"),
        (":correct-horse", "user:password pairs"),
        ("ana:short", "shorter than 8"),
        (",".join(f"u{i}:password-{i}" for i in range(101)), "at most 100 users"),
    ],
)
def test_bad_user_lists_are_refused(users: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(users=SecretStr(users))


def test_a_refused_user_list_never_shows_the_passwords() -> None:
    with pytest.raises(ValidationError) as refused:
        settings(users=SecretStr("ana:correct-horse,bo:short"))
    assert "correct-horse" not in str(refused.value) and "short'" not in str(refused.value)


def test_the_login_header_must_be_a_header_name() -> None:
    assert settings(auth_header="X-Goog-Authenticated-User-Email").auth_header == (
        "x-goog-authenticated-user-email"
    )
    with pytest.raises(ValidationError, match="not an HTTP header name"):
        settings(auth_header="X-User: admin")


@pytest.mark.parametrize("field", ["gateway_url", "retrieval_url"])
def test_server_urls_must_be_http(field: str) -> None:
    with pytest.raises(ValidationError, match="must be an http"):
        settings(**{field: "ftp://example.com/v1"})
    assert getattr(settings(**{field: "http://h:1/v1/"}), field) == "http://h:1/v1"


def test_an_empty_retrieval_url_means_none() -> None:
    assert settings(retrieval_url="").retrieval_url is None


def test_the_default_max_tokens_fits_the_limit() -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        settings(default_max_tokens=500, max_tokens_limit=100)


def test_standard_openai_variables_name_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://gateway:8000/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-ui-test")
    s = Settings()
    assert s.gateway_url == "http://gateway:8000/v1"
    assert s.gateway_api_key is not None and s.gateway_api_key.get_secret_value() == "sk-ui-test"
    assert "sk-ui-test" not in repr(s)
