"""Stage `download`: verified, uncompressed IDX files of the chosen dataset into data/raw/."""

import json
import time

from genstudy import data, tracking
from stages.common import Params, StageError, dataset_name, main

OUT = "data/raw"


@main
def run():
    p = Params.load()
    dataset = dataset_name(p)
    checksums = p.get(f"data.checksums.{dataset}") if dataset not in data.DATASETS else data.MD5[dataset]
    sources = p.list(f"data.sources.{dataset}", lambda s: isinstance(s, str) and s)
    timeout = p.float("data.timeout_s")
    start = time.time()
    with tracking.stage_run("download", {"data": {"dataset": dataset, "sources": sources}}, dataset) as _:
        import mlflow

        try:
            used = data.fetch_dataset(dataset, sources, OUT, timeout=timeout, checksums=checksums)
        except data.DataError as e:
            raise StageError(str(e)) from None
        for name, source in used.items():
            print(f"{name}: verified MD5 {checksums[name]} from {source}")
        mlflow.log_dict({name: {"source": src, "md5": checksums[name]} for name, src in used.items()},
                        "sources.json")
        mlflow.log_metric("seconds", time.time() - start)
    print(json.dumps({"dataset": dataset, "files": len(used)}))


if __name__ == "__main__":
    run()
