"""/storage/ with STORAGE_ACCEL_REDIRECT: Django authorises, the proxy sends the file."""

from urllib.parse import quote

import pytest

from conftest import make_media, upload

pytestmark = pytest.mark.django_db


def test_storage_hands_the_file_to_the_proxy(api, settings, tmp_path):
    # given an upload whose name is not plain ASCII
    response = upload(api, make_media(tmp_path / "clé 1.mp4", duration=1.0))
    stored = response.json()[0]["original_file_path"].removeprefix(".")
    settings.STORAGE_ACCEL_REDIRECT = "/_protected/"
    # when it is asked for, with a Range
    served = api.get(quote(stored), headers={"Range": "bytes=0-9"})
    # then the answer names the file for the proxy's internal location, with no body
    assert served.status_code == 200
    name = stored.removeprefix("/storage/")
    assert served["X-Accel-Redirect"] == "/_protected/" + quote(name)
    assert served["Content-Type"] == "video/mp4"
    assert served.content == b""


def test_storage_refuses_missing_files_itself(api, settings):
    settings.STORAGE_ACCEL_REDIRECT = "/_protected/"
    served = api.get("/storage/origin/missing.mp4")
    assert served.status_code == 404
    assert "X-Accel-Redirect" not in served
    assert "detail" in served.json()


def test_without_a_proxy_django_sends_the_file(api, settings, uploaded):
    settings.STORAGE_ACCEL_REDIRECT = ""
    served = api.get(uploaded["original_file_path"].removeprefix("."))
    assert "X-Accel-Redirect" not in served
    assert len(b"".join(served.streaming_content)) > 1000
