"""What the DVC stages share, and nothing else uses: params loading, file layout, tracking, stage entry.

params.py    params.yaml through the schema; records every key a stage reads (the dependency test)
paths.py     every output path and stage name of the pipeline
stage.py     the entry-point wrapper: bad input ends with one `error:` line and exit status 2
loaders.py   images of data/raw (errors name the stage making them), the torch device to use
tracking.py  the one MLflow entry point: store, run naming and tags, run records
"""
