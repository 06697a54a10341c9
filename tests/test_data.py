"""Data sources: local directories, a loopback HTTP mirror, corrupt and truncated files, the combined error."""

import functools
import gzip
import http.server
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from genstudy import data
from tests.helpers.tiny_data import write_tiny


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


def test_every_dataset_has_one_md5_per_idx_file():
    assert set(data.DATASETS) == {"fashion_mnist", "mnist"}
    for dataset, checksums in data.MD5.items():
        assert set(checksums) == set(data.FILES.values()), dataset
        assert all(re.fullmatch(r"[0-9a-f]{32}", md5) for md5 in checksums.values()), dataset
    every = [md5 for checksums in data.MD5.values() for md5 in checksums.values()]
    assert len(set(every)) == len(every)  # no checksum copied from another file


def test_checksums_are_of_the_uncompressed_idx_bytes(tiny_source, tmp_path):
    """A gzipped and a plain copy of the same IDX files verify against the same checksums."""
    source, checksums = tiny_source
    for name, expected in checksums.items():
        raw = gzip.decompress((source / f"{name}.gz").read_bytes())
        assert data.md5(raw) == expected and data.md5((source / f"{name}.gz").read_bytes()) != expected
    # Re-gzipped with other headers (as Debian's files are): the same content, the same checksums.
    regz = tmp_path / "regz"
    regz.mkdir()
    for name in checksums:
        raw = gzip.decompress((source / f"{name}.gz").read_bytes())
        (regz / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=12345))
    assert set(data.fetch_dataset("tiny", [str(regz)], tmp_path / "out", checksums=checksums).values()) == {str(regz)}


def test_truncated_idx_file_is_rejected(tiny_source, tmp_path):
    source, checksums = tiny_source
    data.fetch_dataset("tiny", [str(source)], tmp_path / "out", checksums=checksums)
    path = tmp_path / "out" / data.FILES["train_images"]
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(path)
    with pytest.raises(data.DataError, match="does not exist"):
        data.read_idx(tmp_path / "missing")


DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_package_verifies_against_the_official_checksums():
    """Debian re-gzips the official files: the .gz bytes differ, the IDX content is the official one."""
    n = {"train": 60000, "t10k": 10000}
    sizes = {
        name: (16 + 784 * n[name.split("-")[0]]) if "images" in name else (8 + n[name.split("-")[0]])
        for name in data.FILES.values()
    }
    for name, expected in data.MD5["fashion_mnist"].items():
        raw = data.fetch_file(str(DEBIAN), name, expected)
        assert len(raw) == sizes[name] and data.md5(raw) == expected
        assert data.md5((DEBIAN / f"{name}.gz").read_bytes()) != expected
