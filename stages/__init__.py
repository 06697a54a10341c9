"""One thin module per DVC stage: read and validate params, call genstudy, write outputs, log to MLflow."""
