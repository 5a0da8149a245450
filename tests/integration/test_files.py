"""File sharing (docs/protocol.md, "Files"): uploads raw and multipart, limits and quota, type
detection and name sanitizing, who may download, signed URLs, Range and ETag, attachments on
sends over WebSocket and REST, the expiry of uploads never attached, and a crash mid-upload."""
import hashlib
import io
import http.client
import json
import os
import socket
import time
import urllib.parse
import uuid

import pytest

from conftest import SANITIZED, TIMEOUT, Server

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6300010000050001d0a0e3ae0000000049454e44ae426082")


def http_call(server, method, path, body=None, headers=None):
    """(status, body bytes, headers with lowercase names)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def upload(server, token, data, name="file.bin", expect=201):
    status, body, _ = http_call(server, "POST", "/files?name=" + urllib.parse.quote(name), data,
                                bearer(token))
    assert status == expect, (status, body)
    return json.loads(body)


def upload_multipart(server, token, data, filename, content_type="application/octet-stream"):
    boundary = "----parley" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    status, resp, _ = http_call(server, "POST", "/files", body,
                                {**bearer(token), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 201, (status, resp)
    return json.loads(resp)["file"]


def download(server, token, file_id, headers=None, path=None):
    return http_call(server, "GET", path or f"/files/{file_id}", None,
                     {**(bearer(token) if token else {}), **(headers or {})})


def blobs(server):
    """The committed blobs and the partial uploads in the node's local file storage."""
    root = os.path.join(server.data_dir, "files")
    committed, partial = [], []
    for dirpath, _, names in os.walk(root):
        for n in names:
            (partial if os.path.basename(dirpath) == ".partial" else committed).append(n)
    return committed, partial


def test_raw_upload_checksums_detects_the_type_from_the_bytes_and_sanitizes_the_name(server):
    alice = server.register("alice")["token"]
    f = upload(server, alice, PNG, name="../../etc/\u202egpj.txt\x07")["file"]
    assert f["mime"] == "image/png"  # a PNG, whatever its name says
    assert f["name"] == "gpj.txt"  # no path, no bidi override, no control character
    assert f["size"] == len(PNG)
    assert f["sha256"] == hashlib.sha256(PNG).hexdigest()
    status, body, headers = download(server, alice, f["id"])
    assert status == 200 and body == PNG
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-disposition"].startswith("inline;")


def test_multipart_upload_and_active_content_is_served_only_as_an_attachment(server):
    alice = server.register("alice")["token"]
    html = b"<!doctype html><html><script>alert(1)</script></html>\n"
    f = upload_multipart(server, alice, html, "pag\u00e9.html", content_type="image/png")
    assert f["name"] == "pag\u00e9.html"
    assert f["mime"] == "text/html"  # detected, not the part's Content-Type
    status, body, headers = download(server, alice, f["id"])
    assert status == 200 and body == html
    assert headers["content-disposition"] == \
        "attachment; filename=\"pag__.html\"; filename*=UTF-8''pag%C3%A9.html"
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"]
    svg = upload(server, alice, b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
                 name="a.svg")["file"]
    assert download(server, alice, svg["id"])[2]["content-disposition"].startswith("attachment;")


def test_upload_limit_is_413_at_the_boundary_and_leaves_nothing(server_factory):
    s = server_factory("--max-upload-bytes", "1000")
    alice = s.register("alice")["token"]
    upload(s, alice, b"x" * 1000)
    status, body, _ = http_call(s, "POST", "/files?name=big", b"x" * 1001, bearer(alice))
    assert status == 413, body
    # Chunked, so the limit is met while streaming rather than from Content-Length.
    def chunks():
        for _ in range(70):
            yield b"y" * 1000
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=TIMEOUT)
    conn.request("POST", "/files?name=big2", body=chunks(), headers=bearer(alice),
                 encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()
    committed, partial = blobs(s)
    assert len(committed) == 1 and partial == []


def test_quota_is_per_user_and_counts_what_is_stored(server_factory):
    s = server_factory("--upload-quota-bytes", "1500")
    alice = s.register("alice")["token"]
    bob = s.register("bob")["token"]
    upload(s, alice, b"a" * 1000)
    status, body, _ = http_call(s, "POST", "/files?name=more", b"a" * 600, bearer(alice))
    assert status == 413 and b"quota_exceeded" in body
    upload(s, bob, b"b" * 1000)  # bob's own quota
    upload(s, alice, b"a" * 500)  # exactly up to the quota
    assert len(blobs(s)[0]) == 3


def test_bad_uploads_get_clear_errors(server):
    alice = server.register("alice")["token"]
    assert http_call(server, "POST", "/files?name=x", b"1")[0] == 401
    status, body, _ = http_call(server, "POST", "/files", b"1", bearer(alice))
    assert status == 400 and b"name" in body
    status, body, _ = http_call(server, "POST", "/files", b"--b\r\nno-colon\r\n\r\nx\r\n--b--\r\n",
                                {**bearer(alice), "Content-Type": "multipart/form-data; boundary=b"})
    assert status == 400, body
    status, body, _ = http_call(server, "POST", "/files", b"--b\r\nContent-Disposition: form-data; "
                                b"name=\"other\"\r\n\r\nx\r\n--b--\r\n",
                                {**bearer(alice), "Content-Type": "multipart/form-data; boundary=b"})
    assert status == 400 and b"file" in body
    assert blobs(server) == ([], [])


def test_range_etag_and_not_modified(server):
    alice = server.register("alice")["token"]
    data = bytes(range(256)) * 4
    f = upload(server, alice, data)["file"]
    status, body, h = download(server, alice, f["id"], {"Range": "bytes=10-19"})
    assert status == 206 and body == data[10:20]
    assert h["content-range"] == f"bytes 10-19/{len(data)}"
    assert download(server, alice, f["id"], {"Range": "bytes=-5"})[1] == data[-5:]
    assert download(server, alice, f["id"], {"Range": "bytes=1000-"})[1] == data[1000:]
    status, _, h = download(server, alice, f["id"], {"Range": "bytes=5000-"})
    assert status == 416 and h["content-range"] == f"bytes */{len(data)}"
    status, _, h = download(server, alice, f["id"])
    assert h["etag"] == '"' + hashlib.sha256(data).hexdigest() + '"'
    status, body, _ = download(server, alice, f["id"], {"If-None-Match": h["etag"]})
    assert status == 304 and body == b""
    assert download(server, alice, f["id"], {"If-None-Match": '"other"'})[0] == 200


def test_who_may_download(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    carol = server.register("carol")["token"]
    dave = server.register("dave")["token"]
    group = server.api("POST", "/groups/create", {"name": "g", "members": ["bob", "dave"]},
                       token=alice, expect=201)["id"]
    f = upload(server, alice, b"shared bytes")["file"]
    kept = upload(server, alice, b"never sent")["file"]
    # Before it is attached only the uploader may read it.
    assert download(server, alice, f["id"])[0] == 200
    assert download(server, bob, f["id"])[0] == 403
    ws = server.ws(alice)
    msg = ws.send_msg("see attached", conv=group, attachments=[f["id"]])
    assert msg["attachments"] == [{"id": f["id"], "name": "file.bin", "mime": f["mime"],
                                   "size": len(b"shared bytes")}]
    assert download(server, bob, f["id"])[1] == b"shared bytes"  # a member
    assert download(server, carol, f["id"])[0] == 403  # not a member
    assert download(server, None, f["id"])[0] == 401  # no token
    assert download(server, bob, kept["id"])[0] == 403  # never attached
    assert download(server, bob, str(uuid.uuid4()))[0] == 404
    assert download(server, dave, f["id"])[0] == 200
    server.api("DELETE", f"/groups/{group}/remove-member", {"member": "dave"}, token=alice)
    assert download(server, dave, f["id"])[0] == 403  # a former member
    # The message deleted: members lose what they had through it; the uploader keeps the file.
    server.api("DELETE", f"/conversations/{group}/messages/{msg['seq']}", token=alice)
    assert download(server, bob, f["id"])[0] == 403
    assert download(server, alice, f["id"])[0] == 200
    history = server.api("GET", f"/conversations/{group}/messages", token=bob)["messages"]
    assert history[-1]["deleted"] and history[-1]["attachments"] == []
    ws.close()


def test_attaching_someone_elses_or_no_file_is_refused_and_stores_nothing(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    bobs = upload(server, bob, b"bob's")["file"]
    ws = server.ws(alice)
    r = ws.request("send", to="bob", client_msg_id="c1", body="x", attachments=[bobs["id"]])
    assert not r["ok"] and r["error"]["code"] == "forbidden"
    r = ws.request("send", to="bob", client_msg_id="c2", body="x", attachments=[str(uuid.uuid4())])
    assert not r["ok"] and r["error"]["code"] == "not_found"
    r = ws.request("send", to="bob", client_msg_id="c3", body="x", attachments="nope")
    assert not r["ok"] and r["error"]["code"] == "bad_request"
    # Nothing stored: not even the direct conversation a first message would have opened.
    assert server.api("GET", "/conversations", token=alice)["conversations"] == []
    assert download(server, alice, bobs["id"])[0] == 403
    ws.close()


def test_a_file_shared_in_a_group_reaches_members_over_websocket_and_rest(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    group = server.api("POST", "/groups/create", {"name": "g", "members": ["bob"]}, token=alice,
                       expect=201)["id"]
    bob_ws = server.ws(bob)
    f = upload_multipart(server, alice, PNG, "dot.png")
    # A REST send with an attachment and no text.
    sent = server.api("POST", f"/groups/{group}/send",
                      {"message": "", "attachments": [f["id"]]}, token=alice)
    event = bob_ws.event("message")
    assert event["msg"]["seq"] == sent["seq"]
    assert [a["id"] for a in event["msg"]["attachments"]] == [f["id"]]
    assert event["msg"]["attachments"][0]["mime"] == "image/png"
    assert download(server, bob, f["id"])[1] == PNG
    history = server.api("GET", f"/groups/{group}/messages", token=bob)["messages"]
    assert history[-1]["attachments"] == event["msg"]["attachments"]
    # A retry of the same send is stored once and still carries the file.
    alice_ws = server.ws(alice)
    first = alice_ws.send_msg("again", conv=group, client_msg_id="retry-1", attachments=[f["id"]])
    second = alice_ws.send_msg("again", conv=group, client_msg_id="retry-1", attachments=[f["id"]])
    assert second["seq"] == first["seq"] and second["attachments"] == first["attachments"]
    assert bob_ws.event("message")["msg"]["seq"] == first["seq"]
    alice_ws.close()
    bob_ws.close()


def test_signed_urls_work_for_their_user_only_and_not_when_tampered(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    f = upload(server, alice, b"signed")["file"]
    status, body, _ = http_call(server, "GET", f"/files/{f['id']}/url", None, bearer(alice))
    assert status == 200
    signed = json.loads(body)
    assert signed["url"].startswith(f"/files/{f['id']}?")
    assert download(server, None, f["id"], path=signed["url"])[1] == b"signed"
    parts = urllib.parse.urlsplit(signed["url"])
    q = dict(urllib.parse.parse_qsl(parts.query))
    for key, value in [("user", "2"), ("expires", str(int(q["expires"]) + 1000)),
                       ("sig", q["sig"][:-2] + ("AA" if not q["sig"].endswith("AA") else "BB"))]:
        tampered = dict(q, **{key: value})
        path = parts.path + "?" + urllib.parse.urlencode(tampered)
        assert download(server, None, f["id"], path=path)[0] == 403, key
    # Another file's id under this signature.
    other = upload(server, alice, b"other")["file"]
    assert download(server, None, other["id"], path=f"/files/{other['id']}?{parts.query}")[0] == 403
    # Bob cannot get a URL for a file not shared with him.
    assert http_call(server, "GET", f"/files/{f['id']}/url", None, bearer(bob))[0] == 403


def test_an_expired_signed_url_is_refused(server_factory):
    s = server_factory("--signed-url-ttl", "1")
    alice = s.register("alice")["token"]
    f = upload(s, alice, b"soon gone")["file"]
    status, body, _ = http_call(s, "GET", f"/files/{f['id']}/url", None, bearer(alice))
    url = json.loads(body)["url"]
    expires = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["expires"])
    # The expiry is a time: wait until it has passed (at most a second).
    while time.time() < expires + 0.05:
        time.sleep(0.05)
    assert download(s, None, f["id"], path=url)[0] == 403


def test_uploads_never_attached_expire_and_attached_ones_stay(server_factory):
    s = server_factory("--orphan-upload-ttl", "1")
    alice = s.register("alice")["token"]
    s.register("bob")
    ws = s.ws(alice)
    kept = upload(s, alice, b"attached")["file"]
    ws.send_msg("here", to="bob", attachments=[kept["id"]])
    mark = s.log_mark()
    orphan = upload(s, alice, b"orphan")["file"]
    s.wait_log("event=file_orphans_expired", after=mark)
    assert download(s, alice, orphan["id"])[0] == 404
    assert download(s, alice, kept["id"])[0] == 200
    assert len(blobs(s)[0]) == 1
    ws.close()


def test_kill_9_in_the_middle_of_an_upload_leaves_no_file(server_factory):
    s = server_factory()
    alice = s.register("alice")["token"]
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=TIMEOUT)
    head = (f"POST /files?name=half HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n"
            f"Content-Length: {8 << 20}\r\n\r\n").encode()
    sock.sendall(head + b"z" * (3 << 20))
    # Written to storage a megabyte at a time: wait until the partial file exists.
    partial_dir = os.path.join(s.data_dir, "files", ".partial")
    deadline = time.monotonic() + TIMEOUT
    while not (os.path.isdir(partial_dir) and os.listdir(partial_dir)):
        assert time.monotonic() < deadline, "the upload never reached storage"
        time.sleep(0.01)
    s.kill()
    sock.close()
    assert blobs(s)[0] == []  # nothing committed
    s.start()
    assert blobs(s) == ([], [])  # and the partial file cleared at start
    token = s.login("alice")["token"]
    assert s.api("GET", "/me", token=token)["user"]["username"] == "alice"


@pytest.mark.skipif(SANITIZED, reason="memory figures mean nothing under AddressSanitizer")
def test_a_large_upload_and_download_stream_without_growing_the_heap(server):
    alice = server.register("alice")["token"]
    size = 64 << 20
    data = os.urandom(1 << 20) * 64
    before = server.rss_kib()
    f = upload(server, alice, data)["file"]
    assert f["size"] == size and f["sha256"] == hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", f"/files/{f['id']}", headers=bearer(alice))
    resp = conn.getresponse()
    digest, got = hashlib.sha256(), 0
    while chunk := resp.read(1 << 20):
        digest.update(chunk)
        got += len(chunk)
    conn.close()
    assert got == size and digest.hexdigest() == f["sha256"]
    grown = server.rss_kib() - before
    assert grown < 24 * 1024, f"heap grew {grown} KiB for a {size >> 20} MiB file"


def test_files_on_the_postgres_store(pg_server):
    s = pg_server
    alice = s.register("alice")["token"]
    bob = s.register("bob")["token"]
    s.register("carol")
    f = upload(s, alice, PNG, name="p.png")["file"]
    assert download(s, bob, f["id"])[0] == 403
    ws = s.ws(alice)
    msg = ws.send_msg("pg", to="bob", attachments=[f["id"]])
    assert msg["attachments"][0]["id"] == f["id"]
    assert download(s, bob, f["id"])[1] == PNG
    carol = s.login("carol")["token"]
    assert download(s, carol, f["id"])[0] == 403
    ws.close()


def image_bytes(fmt, size, mode="RGB"):
    from PIL import Image
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt,mode", [("PNG", "RGBA"), ("JPEG", "RGB"), ("GIF", "RGB"), ("WEBP", "RGB")])
def test_thumbnails_are_small_jpegs_made_once(server, fmt, mode):
    from PIL import Image
    alice = server.register("alice")["token"]
    f = upload(server, alice, image_bytes(fmt, (1200, 600), mode), name="pic")["file"]
    assert f["mime"] == "image/" + fmt.lower()
    mark = server.log_mark()
    status, body, headers = download(server, alice, f["id"], path=f"/files/{f['id']}?thumb=1")
    assert status == 200, body
    assert headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(body))
    assert thumb.format == "JPEG" and max(thumb.size) == 320 and thumb.size == (320, 160)
    # Kept in storage: the second request reads it back, the same bytes.
    assert download(server, alice, f["id"], path=f"/files/{f['id']}?thumb=1")[1] == body
    assert len([n for n in blobs(server)[0] if n.endswith("-320.jpg")]) == 1
    assert not any("thumbnail_refused" in l for l in server.log_lines[mark:])


def test_thumbnails_refuse_bombs_and_other_types(server_factory):
    s = server_factory("--thumbnail-max-pixels", "1000000", "--thumbnail-max-side", "64")
    alice = s.register("alice")["token"]
    # A PNG whose header claims 50,000 × 50,000 pixels: refused from the header, before decoding.
    import struct
    import zlib
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    f = upload(s, alice, bomb, name="bomb.png")["file"]
    status, body, _ = download(s, alice, f["id"], path=f"/files/{f['id']}?thumb=1")
    assert status == 422 and b"unprocessable" in body
    big = upload(s, alice, image_bytes("PNG", (1001, 1000)), name="big.png")["file"]
    assert download(s, alice, big["id"], path=f"/files/{big['id']}?thumb=1")[0] == 422
    small = upload(s, alice, image_bytes("PNG", (200, 100)), name="ok.png")["file"]
    status, body, _ = download(s, alice, small["id"], path=f"/files/{small['id']}?thumb=1")
    from PIL import Image
    assert status == 200 and Image.open(io.BytesIO(body)).size == (64, 32)
    text = upload(s, alice, b"just text\n", name="t.txt")["file"]
    assert download(s, alice, text["id"], path=f"/files/{text['id']}?thumb=1")[0] == 422
    assert download(s, alice, text["id"], path=f"/files/{text['id']}?thumb=yes")[0] == 400
    # Nobody else gets a thumbnail of a file they cannot read.
    bob = s.register("bob")["token"]
    assert download(s, bob, small["id"], path=f"/files/{small['id']}?thumb=1")[0] == 403


# ---- on S3-compatible storage (make test starts s3proxy: scripts/services start s3) ------------

S3_URL = os.environ.get("PARLEY_TEST_S3")
S3_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "build", "services", "s3", "data")


def s3_settings():
    """(a --files URL for a bucket of its own, the credentials' environment)."""
    if not S3_URL:
        pytest.skip("PARLEY_TEST_S3 is not set (make test sets it: scripts/services start s3)")
    bucket = "it-" + uuid.uuid4().hex[:12]
    env = {"PARLEY_S3_ACCESS_KEY_ID": os.environ["PARLEY_TEST_S3_ACCESS_KEY_ID"],
           "PARLEY_S3_SECRET_ACCESS_KEY": os.environ["PARLEY_TEST_S3_SECRET_ACCESS_KEY"]}
    return S3_URL.replace("s3://parley", "s3://" + bucket), bucket, env


@pytest.fixture
def s3_server(tmp_path):
    """start(*args): a node whose files are in a bucket of its own on the test S3 server."""
    started = []
    def start(*args):
        url, bucket, env = s3_settings()
        s = Server(tmp_path / f"data{len(started)}", "--files", url, "--max-upload-bytes",
                   str(12 << 20), *args, env=env).start()
        s.bucket = bucket
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


def fetch(url, headers=None):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    conn.request("GET", parts.path + "?" + parts.query, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}


def bucket_files(server):
    root = os.path.join(S3_DATA, server.bucket)
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)


def bucket_bytes(server):
    root = os.path.join(S3_DATA, server.bucket)
    return b"".join(open(os.path.join(root, n), "rb").read() for n in bucket_files(server))


def test_on_s3_with_encryption_at_rest_objects_hold_only_ciphertext_and_parley_streams_them(s3_server):
    s = s3_server()
    alice = s.register("alice")["token"]
    bob = s.register("bob")["token"]
    secret = b"s3-marker-" + uuid.uuid4().hex.encode()
    data = secret * 1000 + os.urandom(6 << 20)  # past one 5 MiB part
    f = upload(s, alice, data, name="sealed.bin")["file"]
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    stored = bucket_bytes(s)
    assert stored.startswith(b"PRLYBLB1") and len(stored) > len(data)
    assert secret not in stored
    # No pre-signed URL would hand out plaintext: Parley opens and streams the file itself.
    status, body, _ = download(s, alice, f["id"])
    assert status == 200 and body == data
    status, body, _ = download(s, alice, f["id"], {"Range": "bytes=5242870-5242889"})
    assert status == 206 and body == data[5242870:5242890]
    assert download(s, bob, f["id"])[0] == 403


def test_on_s3_downloads_are_presigned_redirects_the_storage_checks(s3_server):
    # With --encrypt-at-rest=false the objects are the file's bytes, and the storage serves them.
    s = s3_server("--encrypt-at-rest=false")
    alice = s.register("alice")["token"]
    bob = s.register("bob")["token"]
    data = os.urandom(10 << 20)  # two parts of a multipart upload
    f = upload(s, alice, data, name="big.bin")["file"]
    assert f["sha256"] == hashlib.sha256(data).hexdigest()
    status, _, headers = download(s, alice, f["id"])
    assert status == 302
    location = headers["location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    status, body, h = fetch(location)
    assert status == 200 and body == data
    assert h["content-disposition"].startswith("attachment;")
    assert fetch(location, {"Range": "bytes=5-9"})[1] == data[5:10]
    # The storage itself refuses a tampered signature.
    assert fetch(location.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))[0] == 403
    # Parley decides who gets a URL at all.
    assert download(s, bob, f["id"])[0] == 403
    assert download(s, None, f["id"])[0] == 401


def test_on_s3_a_refused_upload_leaves_no_object_and_thumbnails_are_stored(s3_server):
    s = s3_server()
    alice = s.register("alice")["token"]
    before = bucket_files(s)
    def chunks():  # 14 MiB, past the 12 MiB limit, after a part went up
        for _ in range(14):
            yield b"q" * (1 << 20)
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=TIMEOUT)
    conn.request("POST", "/files?name=toolarge", body=chunks(), headers=bearer(alice),
                 encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()
    assert bucket_files(s) == before  # the multipart upload aborted: nothing left
    f = upload(s, alice, image_bytes("PNG", (640, 480)), name="p.png")["file"]
    status, body, h = download(s, alice, f["id"], path=f"/files/{f['id']}?thumb=1")
    from PIL import Image
    assert status == 200 and h["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(body)).size == (320, 240)
    thumbs = [n for n in bucket_files(s) if n.endswith("-320.jpg")]
    assert len(thumbs) == 1
    with open(os.path.join(S3_DATA, s.bucket, thumbs[0]), "rb") as stored:
        assert stored.read(8) == b"PRLYBLB1"  # sealed like the file


def test_in_a_cluster_a_file_uploaded_on_one_node_is_fetched_through_another(cluster):
    url, _, env = s3_settings()
    a, b = cluster(2, args=["--files", url], env=env)
    alice = a.register("alice")["token"]
    bob = b.register("bob")["token"]
    bob_ws = b.ws(bob)
    f = upload(a, alice, PNG, name="dot.png")["file"]
    alice_ws = a.ws(alice)
    alice_ws.send_msg("across nodes", to="bob", attachments=[f["id"]])
    event = bob_ws.event("message")
    assert event["msg"]["attachments"][0]["id"] == f["id"]
    status, body, _ = download(b, bob, f["id"])
    assert status == 200 and body == PNG  # sealed by node a, opened by node b
    alice_ws.close()
    bob_ws.close()


def test_socket_io_sends_carry_attachments(server):
    from test_socketio import Sio
    alice = server.register("alice")["token"]
    server.register("bob")
    f = upload(server, alice, b"over socket.io")["file"]
    sio = Sio(server)
    assert sio.connect({"token": alice}).startswith("0")
    reply = sio.call("send", to="bob", client_msg_id="s1", body="", attachments=[f["id"]])
    assert reply["ok"], reply
    assert reply["msg"]["attachments"][0]["id"] == f["id"]
    sio.close()


def test_a_signed_url_stops_working_when_access_is_lost(server):
    alice = server.register("alice")["token"]
    bob = server.register("bob")["token"]
    f = upload(server, alice, b"for a while")["file"]
    ws = server.ws(alice)
    msg = ws.send_msg("here", to="bob", attachments=[f["id"]])
    status, body, _ = http_call(server, "GET", f"/files/{f['id']}/url", None, bearer(bob))
    url = json.loads(body)["url"]
    assert download(server, None, f["id"], path=url)[0] == 200
    server.api("DELETE", f"/conversations/{msg['conv']}/messages/{msg['seq']}", token=alice)
    assert download(server, None, f["id"], path=url)[0] == 403
    ws.close()
