"""Pushes a fixed set of metrics with prometheus_client, as a Python batch job would.

Run by test/integration/clients.test.ts with Debian's interpreter and library
(/usr/bin/python3, python3-prometheus-client):

    /usr/bin/python3 python_pusher.py GATEWAY JOB push|pushadd|delete [name=value ...]
    /usr/bin/python3 python_pusher.py openmetrics

GATEWAY is host:port or a URL; every name=value argument goes into the grouping key.
The client raises (and this script exits non-zero) on any status >= 400.

With the environment variables PUSH_USER and PUSH_PASSWORD set, every request goes through a
handler built on prometheus_client.exposition.basic_auth_handler (the library's documented way
to push with basic auth); without them the library's default handler is used. For an https://
GATEWAY the default SSL context is used: SSL_CERT_FILE names the CA file to trust.

The library pushes only the text format; `openmetrics` writes the same registry in the
library's OpenMetrics exposition to stdout (for the test to push) and its Content-Type to stderr.
"""

import os
import sys

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    delete_from_gateway,
    push_to_gateway,
    pushadd_to_gateway,
)
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.openmetrics import exposition as openmetrics


def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    requests = Counter("pypush_requests", "Requests handled by the batch job.", registry=reg)
    requests.inc(7)
    temperature = Gauge("pypush_temperature_celsius", "Temperature per room.", ["room"], registry=reg)
    temperature.labels(room="a").set(21.5)
    temperature.labels(room="b").set(-3.25)
    latency = Histogram(
        "pypush_latency_seconds",
        "Latency of the steps.",
        buckets=[1e-05, 0.005, 0.1, 1.0, 2.5, 100000.0, 1e06],
        registry=reg,
    )
    for v in (0.00390625, 0.0625, 0.5, 2.0, 64.0):
        latency.observe(v)
    duration = Summary("pypush_duration_seconds", "Duration of the steps.", registry=reg)
    for v in (1.0, 2.0, 3.0, 4.0):
        duration.observe(v)
    return reg


def handler():
    """basic_auth_handler with PUSH_USER / PUSH_PASSWORD when both are set, else the default."""
    user = os.environ.get("PUSH_USER")
    password = os.environ.get("PUSH_PASSWORD")
    if user is None or password is None:
        return default_handler

    def auth_handler(url, method, timeout, headers, data):
        return basic_auth_handler(url, method, timeout, headers, data, user, password)

    return auth_handler


def main(argv: list) -> None:
    if argv[1:] == ["openmetrics"]:
        sys.stdout.buffer.write(openmetrics.generate_latest(registry()))
        sys.stderr.write(openmetrics.CONTENT_TYPE_LATEST)
        return
    gateway, job, action = argv[1], argv[2], argv[3]
    grouping = dict(arg.split("=", 1) for arg in argv[4:])
    if action == "push":
        push_to_gateway(gateway, job=job, registry=registry(), grouping_key=grouping, handler=handler())
    elif action == "pushadd":
        pushadd_to_gateway(gateway, job=job, registry=registry(), grouping_key=grouping, handler=handler())
    elif action == "delete":
        delete_from_gateway(gateway, job=job, grouping_key=grouping, handler=handler())
    else:
        sys.exit(f"python_pusher: unknown action {action!r}")


if __name__ == "__main__":
    main(sys.argv)
