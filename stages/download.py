"""Stage `download`: verified, uncompressed IDX files of the chosen dataset into data/raw/."""

import json
import time

from genstudy import data
from genstudy.pipeline import params, paths
from genstudy.pipeline.deferred import deferred_stage_run
from genstudy.pipeline.stage import StageError, main


@main
def run():
    p = params.load()
    dataset = p.data.dataset
    # Built-in datasets carry their checksums in the library; data.checksums registers another one.
    checksums = data.MD5[dataset] if dataset in data.DATASETS else p.data.checksums[dataset].dump()
    sources = p.data.sources[dataset]
    start = time.time()
    with deferred_stage_run("download", {"data": {"dataset": dataset, "sources": sources}}, dataset) as mlrun:
        try:
            used = data.fetch_dataset(dataset, sources, paths.RAW, timeout=p.data.timeout_s, checksums=checksums)
        except data.DataError as e:
            raise StageError(str(e)) from None
        for name, source in used.items():
            print(f"{name}: verified MD5 {checksums[name]} from {source}")
        mlrun.log_dict({name: {"source": src, "md5": checksums[name]} for name, src in used.items()}, "sources.json")
        mlrun.log_metric("seconds", time.time() - start)
    print(json.dumps({"dataset": dataset, "files": len(used)}))


if __name__ == "__main__":
    run()
