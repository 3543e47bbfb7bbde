"""Fixtures of the multi-process and fault tests: real gunicorn processes of the production profile.

- ``cluster``: a database and a Redis key prefix of this run's own, users and OAuth clients,
  and two server processes A and B (two workers each) sharing them over https.
- ``fault_rig``: a third server process whose PostgreSQL and Redis connections go through
  proxies this run owns, so a test can cut either service for that process alone.

These tests need PostgreSQL (``DATABASE_URL``'s server, default 127.0.0.1:5432, allowed to
create databases) and Redis (``REDIS_URL``); they run under ``make test-services`` only
(marker ``services``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.services.cluster import Agent, Cluster, Server, with_address
from tests.services.flows import TRUSTED_CLIENT, WEB_CLIENT
from tests.services.proxy import TcpProxy
from tests.support.oauth import REDIRECT_URI, USER_SCOPES

CUSTOMER_EU = {"role": "customer", "region": "EU"}
MANAGER_EU = {"role": "manager", "region": "EU"}

# One account per purpose, so no test's sessions, throttle counters or tokens touch another's.
USERS: dict[str, dict] = {
    "session-carol": CUSTOMER_EU,
    "session-dave": CUSTOMER_EU,
    **{f"throttle-{n}": CUSTOMER_EU for n in range(6)},
    **{f"buyer-{n}": CUSTOMER_EU for n in range(4)},
    "refund-owner": CUSTOMER_EU,
    "manager-one": MANAGER_EU,
    "manager-two": MANAGER_EU,
    "code-race": CUSTOMER_EU,
    "refresh-race": CUSTOMER_EU,
    "refresh-replay": CUSTOMER_EU,
    "fault-redis": CUSTOMER_EU,
    "fault-redis-login": CUSTOMER_EU,
    "fault-postgres": CUSTOMER_EU,
    "fault-both": CUSTOMER_EU,
    "fault-both-login": CUSTOMER_EU,
    "logs-erin": CUSTOMER_EU,
}

CLIENTS = [
    {
        # First-party public client: no consent page, PKCE S256.
        "key": TRUSTED_CLIENT,
        "args": [
            "Services Trusted App", "--type", "public", "--grant", "authorization-code",
            "--redirect-uri", REDIRECT_URI, "--scopes", USER_SCOPES, "--client-id", TRUSTED_CLIENT, "--skip-consent",
        ],
    },
    {
        # Confidential client with a secret, asking for consent.
        "key": WEB_CLIENT,
        "args": [
            "Services Web App", "--type", "confidential", "--grant", "authorization-code",
            "--redirect-uri", REDIRECT_URI, "--scopes", USER_SCOPES, "--client-id", WEB_CLIENT,
        ],
    },
]


def _cluster_users() -> dict[str, dict]:
    return {
        f"{key}@example.com": {"name": key.replace("-", " ").title(), **attributes} for key, attributes in USERS.items()
    }


@pytest.fixture(scope="session")
def cluster():
    cluster = Cluster(users=_cluster_users(), clients=CLIENTS)
    try:
        cluster.set_up()
        a = cluster.start_server("A", cluster.port_a)
        b = cluster.start_server("B", cluster.port_b)
        a.wait_until_ready()
        b.wait_until_ready()
        yield cluster
    finally:
        cluster.tear_down()


@pytest.fixture(scope="session")
def server_a(cluster) -> Server:
    return cluster.servers[0]


@pytest.fixture(scope="session")
def server_b(cluster) -> Server:
    return cluster.servers[1]


@pytest.fixture
def agents(cluster):
    """A factory of agents (browser-like clients trusting the run's certificate), closed afterwards."""
    made: list[Agent] = []

    def make(user_agent: str = "services-tests") -> Agent:
        agent = Agent(cluster.cert, user_agent)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


@pytest.fixture(autouse=True)
def _servers_still_running(request):
    """A server process that died during a test is that test's failure, with its log."""
    yield
    if "cluster" not in request.fixturenames:
        return
    cluster = request.getfixturevalue("cluster")
    dead = [server for server in cluster.servers if not server.is_running]
    assert not dead, "\n".join(f"server {s.name} exited with {s.process.returncode}:\n{s.log_tail()}" for s in dead)


@dataclass
class FaultRig:
    server: Server
    postgres: TcpProxy
    redis: TcpProxy


@pytest.fixture(scope="session")
def fault_rig(cluster):
    """Server process F, whose PostgreSQL and Redis connections pass through proxies we own."""
    database = urlsplit(cluster.database_url)
    cache = urlsplit(cluster.redis_url)
    postgres = TcpProxy(database.hostname, database.port or 5432)
    redis = TcpProxy(cache.hostname, cache.port or 6379)
    try:
        server = cluster.start_server(
            "F",
            cluster.port_fault,
            database_url=with_address(cluster.database_url, host="127.0.0.1", port=postgres.port),
            redis_url=with_address(cluster.redis_url, host="127.0.0.1", port=redis.port),
        )
        server.wait_until_ready()
        yield FaultRig(server=server, postgres=postgres, redis=redis)
    finally:
        postgres.close()
        redis.close()
