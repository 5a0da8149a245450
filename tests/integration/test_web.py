"""The web client's files as the server serves them (src/api/web/web_routes.cpp): the embedded
Vite build at / and /assets/, its caching, gzip, ETags and Content-Security-Policy, and
--web-dir. The client itself is tested in a real browser by web/e2e."""
import gzip
import http.client
import re
import subprocess

from conftest import PARLEY_BIN, TIMEOUT, Server


def get(server, path, headers=None):
    """(status, body bytes, headers with lowercase names)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, {k.lower(): v for k, v in resp.getheaders()}


def assets_of(index_html):
    return re.findall(r'(?:src|href)="(/assets/[^"]+)"', index_html)


def test_index_is_the_client_with_a_strict_policy_and_no_cache(server):
    status, body, h = get(server, "/")
    assert status == 200
    assert h["content-type"] == "text/html; charset=utf-8"
    html = body.decode()
    assert '<div id="app">' in html
    assert "<script>" not in html and "<style" not in html, "no inline code: the policy forbids it"
    csp = h["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "style-src 'self'",
                      "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert h["cache-control"] == "no-cache"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    # A reload with the ETag is answered 304, without the body.
    status, body, _ = get(server, "/", {"If-None-Match": h["etag"]})
    assert (status, body) == (304, b"")


def test_hashed_assets_are_immutable_and_gzipped_for_those_who_ask(server):
    _, body, _ = get(server, "/")
    assets = assets_of(body.decode())
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    compressed_total = 0
    for path in assets:
        status, plain, h = get(server, path)
        assert status == 200
        assert h["cache-control"] == "public, max-age=31536000, immutable"
        assert h["content-type"].startswith("text/javascript" if path.endswith(".js") else "text/css")
        assert "content-encoding" not in h
        status, packed, hz = get(server, path, {"Accept-Encoding": "gzip, deflate, br"})
        assert hz["content-encoding"] == "gzip" and hz["vary"] == "Accept-Encoding"
        assert gzip.decompress(packed) == plain
        compressed_total += len(packed)
        # q=0 refuses gzip.
        _, _, hq = get(server, path, {"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in hq
    # The budget for the initial load (measured with its timing in bench/web).
    assert compressed_total <= 150 * 1024, f"{compressed_total} bytes of compressed JS and CSS"


def test_unknown_assets_and_escapes_are_404(server):
    for path in ("/assets/nope.js", "/assets/..%2fparley.db", "/assets/.hidden", "/index.htm", "/nope"):
        status, _, _ = get(server, path)
        assert status == 404, path
    status, _, h = get(server, "/favicon.svg")
    assert status == 200 and h["content-type"] == "image/svg+xml"
    # The API's routes are unchanged by the client's.
    status, body, _ = get(server, "/healthz")
    assert status == 200 and b"ok" in body


def test_web_dir_serves_a_directory_read_at_each_request(tmp_path):
    site = tmp_path / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text('<!doctype html><div id="app"></div><script type="module" src="/assets/app.js"></script>')
    (site / "assets" / "app.js").write_text("console.log(1)")
    (site / "robots.txt").write_text("User-agent: *")
    s = Server(tmp_path / "data", "--web-dir", str(site)).start()
    try:
        status, body, h = get(s, "/")
        assert status == 200 and b"/assets/app.js" in body
        assert "content-security-policy" in h and h["cache-control"] == "no-cache"
        assert get(s, "/assets/app.js")[1] == b"console.log(1)"
        # A rebuild shows at the next request: nothing is cached in the server.
        (site / "assets" / "app.js").write_text("console.log(2)")
        status, body, h = get(s, "/assets/app.js")
        assert body == b"console.log(2)" and h["cache-control"] == "no-cache"
        assert get(s, "/robots.txt")[0] == 200
        assert get(s, "/assets/missing.js")[0] == 404
        assert get(s, "/assets/..")[0] == 404
    finally:
        s.stop()


def test_web_dir_without_an_index_is_refused_at_start(tmp_path):
    (tmp_path / "empty").mkdir()
    r = subprocess.run([PARLEY_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                        "--web-dir", str(tmp_path / "empty")], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 2
    assert "--web-dir must be a directory with an index.html" in r.stderr
