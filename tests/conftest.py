import pytest

# The helpers' asserts report as a test's do (before a test module imports them):
# support/ and the Reader contract the backends' suites subclass (contract/).
pytest.register_assert_rewrite("support", "reader_contract")

from treeship_store import Store  # noqa: E402


@pytest.fixture
def root(tmp_path):
    return tmp_path / ".treeship"


@pytest.fixture
def store(root):
    with Store(root) as opened:
        yield opened


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the whole run (tests/support/pg_cluster.py)."""
    from support.pg_cluster import Cluster
    cluster = Cluster()
    yield cluster
    cluster.close()


@pytest.fixture
def central_url(pg_cluster, request):
    """A new, empty database in that cluster for one test."""
    import os
    import re
    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40] + "_" + os.urandom(4).hex()
    return pg_cluster.create_database(name)
