"""Data sources: local directories, a loopback HTTP mirror, corrupt and truncated files, the combined error."""

import functools
import gzip
import http.server
import threading

import numpy as np
import pytest

from genstudy import data
from tests.conftest import write_tiny


@pytest.fixture
def http_mirror(tmp_path):
    """A loopback HTTP server over a directory of tiny gzipped files; yields (url, checksums)."""
    root = tmp_path / "mirror"
    checksums = write_tiny(root)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", checksums, root
    server.shutdown()
    server.server_close()


def test_local_gzipped_source(tiny_source, tmp_path):
    source, checksums = tiny_source
    used = data.fetch_dataset("tiny", [str(source)], tmp_path / "out", checksums=checksums)
    assert set(used.values()) == {str(source)}
    images, labels = data.load_split(tmp_path / "out", "train")
    assert images.shape == (300, 28, 28) and labels.shape == (300,)
    assert np.bincount(labels).tolist() == [30] * 10


def test_local_uncompressed_source(tmp_path):
    checksums = write_tiny(tmp_path / "plain", gz=False)
    data.fetch_dataset("tiny", [str(tmp_path / "plain")], tmp_path / "out", checksums=checksums)
    assert data.load_split(tmp_path / "out", "test")[0].shape == (100, 28, 28)


def test_http_mirror_after_missing_directory(http_mirror, tmp_path):
    url, checksums, _ = http_mirror
    used = data.fetch_dataset("tiny", [str(tmp_path / "nowhere"), url], tmp_path / "out", checksums=checksums)
    assert set(used.values()) == {url}
    assert data.load_split(tmp_path / "out", "train")[1].shape == (300,)


def test_corrupt_local_file_falls_back_to_next_source(http_mirror, tmp_path):
    url, checksums, mirror = http_mirror
    bad = tmp_path / "bad"
    write_tiny(bad)
    name = data.FILES["train_images"]
    raw = gzip.decompress((bad / f"{name}.gz").read_bytes())
    (bad / f"{name}.gz").write_bytes(gzip.compress(raw[:-100]))  # truncated content, valid gzip
    used = data.fetch_dataset("tiny", [str(bad), url], tmp_path / "out", checksums=checksums)
    assert used[name] == url
    assert used[data.FILES["test_images"]] == str(bad)


def test_every_source_failing_lists_each_reason(http_mirror, tmp_path):
    url, checksums, mirror = http_mirror
    name = data.FILES["train_labels"]
    (mirror / f"{name}.gz").write_bytes(b"\x1f\x8b not really gzip")
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    with pytest.raises(data.DataError) as err:
        data.fetch_dataset("tiny", [str(tmp_path / "nowhere"), str(empty), url], out, checksums=checksums)
    message = str(err.value)
    assert name in message
    assert "does not exist" in message and "not found" in message and "corrupt or truncated gzip" in message
    assert "data.sources" in message  # says how to fix it
    assert not (out / name).exists()


def test_checksum_mismatch_is_reported(tiny_source, tmp_path):
    source, checksums = tiny_source
    wrong = dict(checksums, **{data.FILES["test_labels"]: "0" * 32})
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.fetch_dataset("tiny", [str(source)], tmp_path / "out", checksums=wrong)


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(data.DataError, match="unknown dataset 'cifar'"):
        data.fetch_dataset("cifar", [], tmp_path)


def test_real_checksums_are_of_uncompressed_content():
    """Debian's re-gzipped files and the official ones share these: the IDX bytes' MD5s."""
    assert data.MD5["fashion_mnist"]["train-images-idx3-ubyte"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    assert set(data.MD5["mnist"]) == set(data.FILES.values())


def test_truncated_idx_file_is_rejected(tiny_source, tmp_path):
    source, checksums = tiny_source
    data.fetch_dataset("tiny", [str(source)], tmp_path / "out", checksums=checksums)
    path = tmp_path / "out" / data.FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(path)
    with pytest.raises(data.DataError, match="does not exist"):
        data.read_idx(tmp_path / "missing")


@pytest.mark.skipif(not (data.Path("/usr/share/datasets/fashion-mnist").is_dir()),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_package_verifies_against_official_checksums():
    name = data.FILES["train_labels"]
    raw = data.fetch_file("/usr/share/datasets/fashion-mnist", name, data.MD5["fashion_mnist"][name])
    assert len(raw) == 8 + 60000
