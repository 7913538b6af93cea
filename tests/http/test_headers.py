"""The headers the error tree's facts call for, written at the edge (``moorage.http.headers``):
errors carry facts (an upload's progress, a token challenge, a retry delay), never headers."""

from __future__ import annotations

import pytest

from moorage.errors import (
    BlobUploadUnknown,
    Denied,
    MoorageError,
    RangeInvalid,
    SignInThrottled,
    TokenChallenge,
    TooManyRequests,
    Unauthorized,
    UploadProgress,
)
from moorage.http.api.common import error_response
from moorage.http.errors import oci_error_response
from moorage.http.headers import bearer_challenge, error_headers, upload_headers

UPLOAD = "0b6f4a3e-8f7c-4c55-9f2d-1d2a3b4c5d6e"


def test_upload_headers_before_and_after_the_first_byte() -> None:
    assert upload_headers(UploadProgress("acme/app", UPLOAD, 0)) == {
        "Location": f"/v2/acme/app/blobs/uploads/{UPLOAD}",
        "Range": "0-0",
        "Docker-Upload-UUID": UPLOAD,
    }
    assert upload_headers(UploadProgress("acme/app", UPLOAD, 42))["Range"] == "0-41"


def test_a_refused_chunk_answers_with_where_the_upload_stands() -> None:
    progress = UploadProgress("acme/app", UPLOAD, 1024)
    refused = RangeInvalid("chunk starts at 2048, upload is at 1024", upload=progress)
    assert error_headers(refused) == upload_headers(progress)
    response = oci_error_response(refused)
    assert response.status_code == 416
    for name, value in upload_headers(progress).items():
        assert response.headers[name] == value
    # A malformed Content-Range names no upload: no progress headers, still 416.
    malformed = oci_error_response(RangeInvalid("malformed Content-Range"))
    assert malformed.status_code == 416
    assert "Range" not in malformed.headers and "Location" not in malformed.headers


def test_bearer_challenges() -> None:
    bare = TokenChallenge("https://registry.example/auth/token", "moorage")
    assert bearer_challenge(bare) == (
        'Bearer realm="https://registry.example/auth/token",service="moorage"'
    )
    scoped = TokenChallenge(
        "https://registry.example/auth/token",
        "moorage",
        ("repository:acme/app:pull,push", "repository:acme/base:pull"),
        "insufficient_scope",
    )
    value = (
        'Bearer realm="https://registry.example/auth/token",service="moorage",'
        'scope="repository:acme/app:pull,push repository:acme/base:pull",'
        'error="insufficient_scope"'
    )
    assert error_headers(Unauthorized(challenge=scoped)) == {"WWW-Authenticate": value}
    assert oci_error_response(Unauthorized(challenge=scoped)).headers["WWW-Authenticate"] == value


def test_the_api_envelope_challenges_basic_unless_the_error_names_a_token() -> None:
    assert error_response(Unauthorized()).headers["WWW-Authenticate"] == 'Basic realm="moorage"'
    scoped = TokenChallenge("https://r.example/auth/token", "moorage", ("registry:catalog:*",))
    assert error_response(Unauthorized(challenge=scoped)).headers["WWW-Authenticate"] == (
        'Bearer realm="https://r.example/auth/token",service="moorage",scope="registry:catalog:*"'
    )


def test_retry_after_only_where_a_delay_is_known() -> None:
    throttled = SignInThrottled(90)
    assert throttled.detail == {"retryAfter": 90}
    assert error_headers(throttled) == {"Retry-After": "90"}
    for answer in (oci_error_response(throttled), error_response(throttled)):
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "90"
    assert error_headers(TooManyRequests("too many open uploads")) == {}


@pytest.mark.parametrize(
    "error",
    [MoorageError(), BlobUploadUnknown(), Denied(), Unauthorized("sign in first")],
)
def test_most_errors_call_for_no_header(error: MoorageError) -> None:
    assert error_headers(error) == {}


def test_no_error_takes_headers() -> None:
    with pytest.raises(TypeError):
        MoorageError("x", headers={"Location": "/elsewhere"})  # type: ignore[call-arg]
    assert not hasattr(MoorageError(), "headers")
