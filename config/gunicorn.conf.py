"""gunicorn's settings for the production profile: one home for ``make serve``, ``make bench``
and the service tests, so all three run the server the same way.

Threaded workers that keep connections alive. gunicorn's default sync worker closes the
connection after every response, so every request paid a new TCP connection and, over https,
a new TLS handshake: 2.8 ms of server CPU per request in ``make bench``, more than the whole
authentication layer costs. A browser or an API client reuses its connection instead.

Argon2 (argon2-cffi) and database or Redis waits release the GIL, so a worker's threads
overlap on exactly the slow parts of a request. Django gives each thread its own database
connection (kept for ``CONN_MAX_AGE``), so a worker holds up to ``threads`` of them.
"""

import errno
import os
import socket

worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Seconds an idle keep-alive connection stays open. Behind a load balancer, set it above the
# balancer's idle timeout, or the balancer may reuse a connection gunicorn just closed.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# The access log names the route a request matched, never its path, query string or Referer
# (reset and confirmation links, authorization parameters, tokens): see config/gunicorn_logging.py.
logger_class = "config.gunicorn_logging.RedactingLogger"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s"'

# Each worker listens on a socket of its own (SO_REUSEPORT), and the kernel spreads new
# connections across them. With the one socket the master would otherwise share, the workers
# race to accept, and one often wins every connection of a burst; connections are kept alive,
# so that worker then serves them all on one core under its GIL while the others idle (in
# ``make bench``: 81-97 refreshes/s on one worker, 150/s on both; introspection 624 against
# 1387/s). A worker that exits drops the connections still queued on its own socket.
reuse_port = True


def on_starting(server):
    """Refuse to start on an address something already listens on.

    With SO_REUSEPORT a second server of the same user would bind the same port without an
    error and silently take part of the traffic: bind once without it, as gunicorn would.
    """
    for address in server.cfg.address:
        if not isinstance(address, tuple):  # a Unix socket path
            continue
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no listener
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise SystemExit(f"{address[0]}:{address[1]} is in use by another server") from None
                raise
