"""The Reader contract (reader_contract.py) kept by the local store: the
SQLite index over the JSONL."""

from treeship_store import Store

from reader_contract import ReaderContract


class TestSqliteReader(ReaderContract):
    def open_reader(self, root):
        return Store(root)
