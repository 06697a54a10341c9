"""Fashion-MNIST (and MNIST): sources, checksums, IDX reading, balanced label subsets.

A source is a local directory or an http(s)/file URL holding the four IDX files,
gzipped (`name.gz`) or not. Checksums are taken of the *uncompressed* bytes:
Debian's `dataset-fashion-mnist` re-gzips the official files with other headers,
so only the IDX content is comparable across sources.
"""

import gzip
import hashlib
import re
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from genstudy.io import write_bytes

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# MD5 of the uncompressed IDX files of the official releases (Debian re-gzips them: only the content compares).
MD5 = {
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
}

CLASS_NAMES = {
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    "mnist": [str(d) for d in range(10)],
}

DATASETS = tuple(MD5)


def class_names(dataset: str) -> list[str]:
    return CLASS_NAMES.get(dataset, [str(c) for c in range(10)])


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse_label(text: str, names: list[str]) -> int:
    """A class index from its name (case and punctuation ignored; 'T-shirt' for 'T-shirt/top') or its index.

    ValueError, listing the classes, for anything else."""
    if text.strip().isdigit():
        index = int(text)
        if index < len(names):
            return index
    else:
        for i, name in enumerate(names):
            if _key(text) in {_key(name)} | {_key(part) for part in name.split("/")}:
                return i
    listing = ", ".join(f"{i} {name}" for i, name in enumerate(names))
    raise ValueError(f"unknown label {text!r}; use a class name or index: {listing}")


class DataError(Exception):
    """A data source or file that cannot be used; the message says why and what to do."""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _is_url(source: str) -> bool:
    return source.split("://", 1)[0] in ("http", "https", "file")


def _read_url(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks = []
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            leave=False,
            disable=total is not None and total < 1 << 20,
        ) as bar:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    return b"".join(chunks)


def _candidates(source: str, name: str):
    """(location, reader) pairs to try for one file in one source, gzipped first."""
    if _is_url(source):
        base = source.rstrip("/")
        return [f"{base}/{name}.gz", f"{base}/{name}"]
    base = Path(source).expanduser()
    return [base / f"{name}.gz", base / name]


def fetch_file(source: str, name: str, expected_md5: str, timeout: float = 60.0) -> bytes:
    """Uncompressed, checksum-verified bytes of IDX file `name` from one source."""
    if not _is_url(source) and not Path(source).expanduser().is_dir():
        raise DataError(f"directory {source} does not exist")
    reasons = []
    for location in _candidates(source, name):
        try:
            if isinstance(location, Path):
                if not location.exists():
                    reasons.append(f"{location.name}: not found")
                    continue
                raw = location.read_bytes()
            else:
                raw = _read_url(location, timeout)
        except urllib.error.HTTPError as e:
            reasons.append(f"{location}: HTTP {e.code}")
            continue
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reasons.append(f"{location}: {getattr(e, 'reason', e)}")
            continue
        if str(location).endswith(".gz"):
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as e:
                reasons.append(f"{location}: corrupt or truncated gzip ({e})")
                continue
        got = md5(raw)
        if got != expected_md5:
            reasons.append(
                f"{location}: checksum mismatch (MD5 of uncompressed content {got}, "
                f"expected {expected_md5}); the file is corrupt, truncated or another dataset"
            )
            continue
        return raw
    raise DataError("; ".join(reasons))


def fetch_dataset(dataset: str, sources: list[str], out_dir, timeout: float = 60.0, checksums=None) -> dict:
    """Write the four verified, uncompressed IDX files of `dataset` into `out_dir`.

    Each file is taken from the first source that has a good copy. `checksums`
    ({file name: MD5}) registers an IDX dataset other than the built-in ones.
    Returns {file name: source used}. Raises DataError listing every source's failure.
    """
    checksums = checksums or MD5.get(dataset)
    if checksums is None:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if set(checksums) != set(FILES.values()):
        raise DataError(f"checksums for {dataset!r} must name exactly the files {', '.join(FILES.values())}")
    out_dir = Path(out_dir)
    used = {}
    for name, expected in checksums.items():
        failures = []
        for source in sources:
            try:
                data = fetch_file(str(source), name, expected, timeout)
            except DataError as e:
                failures.append(f"  - {source}: {e}")
                continue
            write_bytes(out_dir / name, data)
            used[name] = str(source)
            break
        else:
            raise DataError(
                f"no source has a valid copy of {dataset} file {name}:\n"
                + "\n".join(failures)
                + "\nFix: add a directory holding the files or a reachable mirror to data.sources"
                f".{dataset} in params.yaml (on Debian: apt-get install dataset-fashion-mnist)."
            )
    return used


def read_idx(path) -> np.ndarray:
    """Parse an uncompressed IDX file (unsigned-byte data only, as in (Fashion-)MNIST)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist; run `dvc repro pipelines/data/dvc.yaml:download` to create it")
    buf = path.read_bytes()
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0 or buf[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = buf[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(buf) != header + int(np.prod(shape)):
        raise DataError(
            f"{path} is truncated or padded: header says shape {shape}, "
            f"file has {len(buf) - header} data bytes; delete it and rerun `dvc repro pipelines/data/dvc.yaml:download`"
        )
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(shape)


def load_split(data_dir, split: str):
    """(images uint8 (n, 28, 28), labels int64 (n,)) of split 'train' or 'test'."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images = read_idx(Path(data_dir) / FILES[f"{split}_images"])
    labels = read_idx(Path(data_dir) / FILES[f"{split}_labels"]).astype(np.int64)
    if len(images) != len(labels):
        raise DataError(f"{data_dir}: {len(images)} {split} images but {len(labels)} labels")
    return images, labels


def load_pixels(data_dir, split: str):
    """(images as float32 (n, 784) in [0, 1], labels int64 (n,))."""
    images, labels = load_split(data_dir, split)
    return images.reshape(len(images), -1).astype(np.float32) / 255, labels


def balanced_subset(labels: np.ndarray, n: int, seed: int, n_classes: int = 10) -> np.ndarray:
    """Sorted indices of n/n_classes examples per class.

    Each class is shuffled by a generator seeded with (seed, class), and the
    first n/n_classes of that order are taken: the result depends only on
    (n, seed), and for one seed smaller subsets are prefixes of larger ones.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0 or n % n_classes:
        raise ValueError(f"label count N={n!r} must be a positive multiple of the class count {n_classes}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    per_class = n // n_classes
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        if per_class > len(members):
            raise ValueError(f"N={n} needs {per_class} images of class {c}, which has only {len(members)}")
        order = np.random.default_rng([seed, c]).permutation(len(members))
        chosen.append(members[order[:per_class]])
    return np.sort(np.concatenate(chosen))
