"""The upload page (SPEC 12): a door into the pipeline, served by `run` when `web.port` is set."""
