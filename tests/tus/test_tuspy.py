"""tuspy (the official Python client, from PyPI) against tellus-server, with its per-chunk
checksums (Upload-Checksum: sha1). Run by tests/tus/run.sh with TELLUS_URL and
TELLUS_INVITES. Prints "tuspy: N passed, N failed" last."""

import hashlib
import io
import os
import sys
import traceback
import uuid

import requests
from tusclient import client

BASE = os.environ["TELLUS_URL"]
INVITES = os.environ.get("TELLUS_INVITES", "").split()
MB = 1024 * 1024


def enrol():
    code = INVITES.pop(0)
    r = requests.post(f"{BASE}/api/v1/enrol", json={"invite_code": code, "device_label": "tuspy"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def story(token):
    story_id = str(uuid.uuid4())
    event = {
        "id": str(uuid.uuid4()), "story_id": story_id, "participant_id": str(uuid.uuid4()),
        "kind": "given", "form_id": "storyteller-consent", "form_version": 2, "language": "en",
        "granted": ["record"], "method": {"kind": "app_checkbox"}, "captured_by": "tuspy",
        "captured_at": "2026-11-22T10:00:00Z",
    }
    r = requests.post(f"{BASE}/api/v1/stories/{story_id}/consent", json=event,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return story_id


def uploader(token, story_id, recording_id, data, **kwargs):
    tus = client.TusClient(f"{BASE}/api/v1/uploads", headers={"Authorization": f"Bearer {token}"})
    return tus.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=kwargs.pop("chunk_size", 1 * MB),
        metadata={"story_id": story_id, "recording_id": recording_id,
                  "sha256": hashlib.sha256(data).hexdigest(), "content_type": "audio/wav"},
        upload_checksum=True,
        **kwargs,
    )


def receipt(token, recording_id):
    r = requests.get(f"{BASE}/api/v1/recordings/{recording_id}/receipt",
                     headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_upload_with_per_chunk_checksums_gets_a_matching_receipt():
    token = enrol()
    story_id = story(token)
    data = os.urandom(10 * MB + 777)
    recording_id = str(uuid.uuid4())
    up = uploader(token, story_id, recording_id, data)
    # Watch what tuspy sends: every PATCH must carry its chunk's checksum.
    sent = []
    real_patch = requests.patch

    def patch(url, **kwargs):
        sent.append(kwargs["headers"].get("upload-checksum"))
        return real_patch(url, **kwargs)

    requests.patch = patch
    try:
        up.upload()
    finally:
        requests.patch = real_patch
    assert len(sent) == 11 and all(c and c.startswith("sha1 ") for c in sent), sent
    r = receipt(token, recording_id)
    assert r["sha256"] == hashlib.sha256(data).hexdigest(), r
    assert r["bytes"] == len(data)


def test_stopped_upload_resumes_from_the_server_offset():
    token = enrol()
    story_id = story(token)
    data = os.urandom(6 * MB)
    recording_id = str(uuid.uuid4())
    first = uploader(token, story_id, recording_id, data)
    first.upload(stop_at=3 * MB)
    url = first.url
    head = requests.head(url, headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"})
    assert int(head.headers["Upload-Offset"]) == 3 * MB, head.headers
    second = uploader(token, story_id, recording_id, data, url=url)
    assert second.offset == 3 * MB, second.offset
    second.upload()
    r = receipt(token, recording_id)
    assert r["sha256"] == hashlib.sha256(data).hexdigest(), r


def main():
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    passed = failed = 0
    for test in tests:
        try:
            test()
            passed += 1
            print(f"ok     {test.__name__}")
        except Exception:
            failed += 1
            print(f"FAILED {test.__name__}")
            traceback.print_exc(file=sys.stdout)
    print(f"tuspy: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
