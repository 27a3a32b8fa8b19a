"""The Reader contract (reader_contract.py) kept by the central store: the
store root pushed to a fresh PostgreSQL database, read back from there."""

import pytest

from treeship_store import Store
from treeship_store.central import CentralStore, push

from reader_contract import ReaderContract


class TestPostgresReader(ReaderContract):
    hosts_answer = True

    @pytest.fixture(autouse=True)
    def _central_database(self, central_url):
        """A new, empty central database for each test."""
        self.url = central_url

    def open_reader(self, root):
        push(Store(root), self.url)
        return CentralStore(self.url)
