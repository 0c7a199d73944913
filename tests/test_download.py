"""cnnlib.download against a local HTTP server (127.0.0.1, a thread): fall-back, time limits,
resume, checksums, the error; then the two users, the data loaders and the shipped weights."""
import bz2
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import cnnlib
from cnnlib import pretrained
from cnnlib.data import DataUnavailableError
from cnnlib.data import datasets as datasets_module
from cnnlib.download import DownloadError, download_file, release_url

BODY = bytes(range(256)) * 64  # 16 KiB
MD5 = hashlib.md5(BODY).hexdigest()
MAX_REQUESTS = 20  # per test: a download that loops is stopped (503), not left running


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path]`` (a function of the handler), logs (path, Range header)."""

    timeout = 5  # a connection that stalls is closed

    def do_GET(self):
        log = self.server.log
        log.append((self.path, self.headers.get("Range")))
        route = self.server.routes.get(self.path)
        if len(log) > MAX_REQUESTS:
            self.send_error(503)
        elif route is None:
            self.send_error(404)
        else:
            route(self)

    def log_message(self, *args):  # quiet
        pass


def respond(handler, body=BODY, *, ranges=True, drop_after=None, trickle=0.0):
    """Send ``body`` (the rest of it for a Range request when ``ranges``); ``drop_after``: close
    the connection after that many bytes; ``trickle``: seconds between 256-byte pieces."""
    start = 0
    asked = handler.headers.get("Range")
    if ranges and asked:
        start = int(re.fullmatch(r"bytes=(\d+)-", asked).group(1))
        if start >= len(body):
            handler.send_error(416)
            return
        handler.send_response(206)
        handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
    else:
        handler.send_response(200)
    handler.send_header("Content-Length", str(len(body) - start))
    handler.end_headers()
    payload = body[start:] if drop_after is None else body[start:start + drop_after]
    piece = 256 if trickle else len(payload) or 1
    try:
        for i in range(0, len(payload), piece):
            handler.wfile.write(payload[i:i + piece])
            handler.wfile.flush()
            if trickle and handler.server.stopping.wait(trickle):
                return
    except OSError:  # the client gave up on us: fine
        pass


def first_time_only(route, then):
    """``route`` for the first request to a path, ``then`` for the others."""
    calls = []

    def serve(handler):
        calls.append(1)
        (route if len(calls) == 1 else then)(handler)
    return serve


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.log, httpd.stopping = {}, [], threading.Event()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.stopping.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def paths(server):
    return [path for path, _ in server.log]


# --------------------------------------------------------------------------------------
# The downloader

def test_a_failing_first_address_falls_back_to_the_next(server, tmp_path):
    server.routes["/ok.bin"] = respond
    dest = download_file([f"{server.url}/missing.bin", f"{server.url}/ok.bin"], tmp_path / "f.bin",
                         md5=MD5, progress=False)
    assert dest.read_bytes() == BODY
    assert paths(server) == ["/missing.bin", "/ok.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no .part left


def test_a_first_address_that_does_not_answer_falls_back_to_the_next(server, tmp_path):
    server.routes["/silent.bin"] = lambda handler: handler.server.stopping.wait(3)
    server.routes["/ok.bin"] = respond
    start = time.monotonic()
    dest = download_file([f"{server.url}/silent.bin", f"{server.url}/ok.bin"], tmp_path / "f.bin",
                         md5=MD5, timeout=0.3, progress=False)
    assert dest.read_bytes() == BODY and time.monotonic() - start < 2.5
    assert paths(server) == ["/silent.bin", "/ok.bin"]


def test_an_address_slower_than_the_deadline_gives_way_and_the_next_resumes(server, tmp_path):
    server.routes["/trickle.bin"] = lambda handler: respond(handler, trickle=0.05)
    server.routes["/ok.bin"] = respond
    dest = download_file([f"{server.url}/trickle.bin", f"{server.url}/ok.bin"], tmp_path / "f.bin",
                         md5=MD5, deadline=0.3, progress=False)
    assert dest.read_bytes() == BODY
    (trickled, _), (path, asked) = server.log
    assert path == "/ok.bin" and asked is not None and 0 < int(asked[6:-1]) < len(BODY)


def test_a_wrong_checksum_is_refused_and_nothing_is_left(server, tmp_path):
    server.routes["/wrong.bin"] = lambda handler: respond(handler, BODY[::-1])
    folder = tmp_path / "folder"
    with pytest.raises(DownloadError, match="wrong MD5") as err:
        download_file([f"{server.url}/wrong.bin"], folder / "f.bin", md5=MD5, progress=False)
    assert list(folder.iterdir()) == []
    assert not err.value.not_found


def test_after_a_wrong_checksum_the_next_address_starts_from_the_first_byte(server, tmp_path):
    server.routes["/wrong.bin"] = lambda handler: respond(handler, BODY[::-1])
    server.routes["/ok.bin"] = respond
    dest = download_file([f"{server.url}/wrong.bin", f"{server.url}/ok.bin"], tmp_path / "f.bin",
                         md5=MD5, progress=False)
    assert dest.read_bytes() == BODY and server.log[1] == ("/ok.bin", None)


def test_a_sha256_is_checked_too(server, tmp_path):
    server.routes["/ok.bin"] = respond
    with pytest.raises(DownloadError, match="wrong SHA256"):
        download_file([f"{server.url}/ok.bin"], tmp_path / "f.bin", sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    half = len(BODY) // 2
    server.routes["/ok.bin"] = first_time_only(lambda handler: respond(handler, drop_after=half), respond)
    dest = download_file([f"{server.url}/ok.bin"], tmp_path / "f.bin", md5=MD5, progress=False)
    assert dest.read_bytes() == BODY
    assert server.log == [("/ok.bin", None), ("/ok.bin", f"bytes={half}-")]


def test_a_server_that_ignores_ranges_sends_the_whole_file_again(server, tmp_path):
    half = len(BODY) // 2
    server.routes["/ok.bin"] = first_time_only(
        lambda handler: respond(handler, ranges=False, drop_after=half),
        lambda handler: respond(handler, ranges=False))
    dest = download_file([f"{server.url}/ok.bin"], tmp_path / "f.bin", md5=MD5, progress=False)
    assert dest.read_bytes() == BODY and len(server.log) == 2


def test_a_connection_that_keeps_dropping_is_given_up_after_its_attempts(server, tmp_path):
    server.routes["/ok.bin"] = lambda handler: respond(handler, drop_after=1000)
    with pytest.raises(DownloadError, match="after 3 requests") as err:
        download_file([f"{server.url}/ok.bin"], tmp_path / "f.bin", md5=MD5, attempts=3, progress=False)
    assert "3,000 bytes downloaded so far are kept" in str(err.value) and len(server.log) == 3
    assert (tmp_path / "f.bin.part").stat().st_size == 3000  # kept: the next call resumes it
    assert not (tmp_path / "f.bin").exists()


def test_a_part_left_by_an_earlier_call_is_resumed(server, tmp_path):
    server.routes["/ok.bin"] = respond
    (tmp_path / "f.bin.part").write_bytes(BODY[:5000])
    download_file([f"{server.url}/ok.bin"], tmp_path / "f.bin", md5=MD5, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY and server.log == [("/ok.bin", "bytes=5000-")]


def test_a_file_already_there_with_its_checksum_is_not_downloaded_again(server, tmp_path):
    (tmp_path / "f.bin").write_bytes(BODY)
    download_file([f"{server.url}/ok.bin"], tmp_path / "f.bin", md5=MD5, progress=False)
    assert server.log == []


def test_when_every_address_fails_the_error_names_each_and_the_offline_folder(server, tmp_path):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a port nobody listens on
    refused = f"http://127.0.0.1:{closed.server_address[1]}/f.bin"
    closed.server_close()
    missing = f"{server.url}/missing.bin"
    with pytest.raises(DownloadError) as err:
        download_file([missing, refused], tmp_path / "f.bin", md5=MD5, progress=False)
    message = str(err.value)
    assert f"{missing}: HTTP 404" in message and f"{refused}: " in message
    assert "CNNLIB_DATA" in message and "Where the data comes from" in message
    assert not err.value.not_found  # one address was unreachable, not missing
    assert list(tmp_path.iterdir()) == []


def test_the_release_address_is_this_versions_tag_in_the_books_repository():
    assert release_url("x.tar.gz") == f"{cnnlib.REPOSITORY_URL}/releases/download/v{cnnlib.__version__}/x.tar.gz"


# --------------------------------------------------------------------------------------
# The data loaders: the book's copy first, then the origin

def usps_archive(labels, seed):
    """A small USPS file as its origin serves it: bz2 of lines 'label i:value ...' (values in
    [-1, 1], labels 1-10)."""
    gen = torch.Generator().manual_seed(seed)
    lines = []
    for label in labels:
        values = torch.rand(256, generator=gen) * 2 - 1
        lines.append(f"{label + 1} " + " ".join(f"{i + 1}:{v:.6f}" for i, v in enumerate(values.tolist())))
    return bz2.compress(("\n".join(lines) + "\n").encode())


@pytest.fixture
def usps_online(server, tmp_path, monkeypatch):
    """USPS served by the local server: its 'origin' holds the files, the 'release' does not."""
    files = {"usps.bz2": usps_archive([3, 1, 4, 1, 5], seed=0), "usps.t.bz2": usps_archive([9, 2], seed=1)}
    archives = []
    for name, body in files.items():
        server.routes[f"/origin/{name}"] = lambda handler, body=body: respond(handler, body)
        archives.append(datasets_module.Archive(name, hashlib.md5(body).hexdigest(),
                                                (f"{server.url}/origin/{name}",)))
    monkeypatch.setitem(datasets_module.ARCHIVES, "usps", archives)
    monkeypatch.setattr(datasets_module, "release_url", lambda file: f"{server.url}/release/{file}")
    monkeypatch.delenv("CNNLIB_DATA", raising=False)
    monkeypatch.setenv("CNNLIB_CACHE", str(tmp_path / "cache"))
    return server


def test_a_data_set_is_fetched_from_the_books_copy_then_the_origin_and_decoded(usps_online):
    train = datasets_module.load_files("usps", "train")
    assert train.images.shape == (5, 1, 16, 16) and train.labels.tolist() == [3, 1, 4, 1, 5]
    assert datasets_module.load_files("usps", "test").labels.tolist() == [9, 2]
    assert paths(usps_online) == ["/release/usps.bz2", "/origin/usps.bz2",
                                  "/release/usps.t.bz2", "/origin/usps.t.bz2"]


def test_a_data_set_that_cannot_be_downloaded_names_every_address_and_cnnlib_data(usps_online):
    usps_online.routes.clear()
    with pytest.raises(DataUnavailableError) as err:
        datasets_module.load_files("usps", "train")
    message = str(err.value)
    for address in (f"{usps_online.url}/release/usps.bz2", f"{usps_online.url}/origin/usps.bz2"):
        assert f"{address}: HTTP 404" in message
    assert "CNNLIB_DATA" in message


def test_the_data_sets_download_from_the_release_first_with_torchvisions_md5s():
    cifar, = datasets_module.ARCHIVES["cifar10"]
    assert cifar.md5 == "c58f30108f718f92721af3b95e74349a"
    assert datasets_module.archive_urls(cifar) == [release_url("cifar-10-python.tar.gz"),
                                                   "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]


# --------------------------------------------------------------------------------------
# The shipped weights

def serve_weights(server, files: dict, listed: dict):
    """A weights folder on the server: MANIFEST.json listing ``listed`` ({name: (file, bytes)})
    and the ``files`` actually there."""
    networks = {name: {"file": file, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
                       "test_acc": 0.5}
                for name, (file, body) in listed.items()}
    manifest = json.dumps({"format": "cnnlib-weights-manifest", "version": 1, "networks": networks}).encode()
    server.routes["/weights/MANIFEST.json"] = lambda handler: respond(handler, manifest)
    for file, body in files.items():
        server.routes[f"/weights/{file}"] = lambda handler, body=body: respond(handler, body)


def test_a_weights_file_that_is_not_published_says_how_to_train_it(server, tmp_path):
    serve_weights(server, files={}, listed={"tiny": ("tiny.pt", BODY)})
    with pytest.raises(pretrained.PretrainedError) as err:
        pretrained.fetch("tiny", tmp_path, base=f"{server.url}/weights")
    message = str(err.value)
    assert "make weights NET=tiny" in message and "CNNLIB_RETRAIN=1" in message
    assert f"{server.url}/weights/tiny.pt" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MANIFEST.json"]


def test_a_weights_file_is_checked_against_the_manifest_before_it_is_kept(server, tmp_path):
    serve_weights(server, files={"tiny.pt": BODY[::-1]}, listed={"tiny": ("tiny.pt", BODY)})
    with pytest.raises(pretrained.PretrainedError, match="wrong SHA256"):
        pretrained.fetch("tiny", tmp_path, base=f"{server.url}/weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MANIFEST.json"]


def test_weights_are_fetched_with_the_manifest(server, tmp_path):
    serve_weights(server, files={"tiny.pt": BODY}, listed={"tiny": ("tiny.pt", BODY)})
    assert pretrained.fetch("tiny", tmp_path, base=f"{server.url}/weights")
    assert (tmp_path / "tiny.pt").read_bytes() == BODY
    assert not pretrained.fetch("other", tmp_path, base=f"{server.url}/weights")  # not listed


def test_weights_come_from_this_versions_release_then_the_main_branch(server, tmp_path, monkeypatch):
    serve_weights(server, files={"tiny.pt": BODY}, listed={"tiny": ("tiny.pt", BODY)})
    monkeypatch.setattr(pretrained.store, "release_url", lambda file: f"{server.url}/release/{file}")
    monkeypatch.setattr(pretrained.store, "raw_url", lambda file: f"{server.url}/weights/{file}")
    assert pretrained.fetch("tiny", tmp_path)
    assert paths(server) == ["/release/MANIFEST.json", "/weights/MANIFEST.json",
                             "/release/tiny.pt", "/weights/tiny.pt"]
