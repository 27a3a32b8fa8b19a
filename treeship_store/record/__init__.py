"""The record: each session's events.jsonl and the files beside it.

paths.py opens the store's files without following symlinks; log.py is one
session's log (its flock, batches written all or nothing, Treeship's .count
sidecar); lines.py reads complete lines; writer.py holds the lock for a
read-then-append; readback.py reads a session straight from its file;
unindexed.py names sessions written without the index. Nothing here knows
the index or the queries, and nothing here imports more than the standard
library's cheapest modules: a hook, a process per tool call, runs on it.
"""
