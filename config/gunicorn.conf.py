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

import os

worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Seconds an idle keep-alive connection stays open. Behind a load balancer, set it above the
# balancer's idle timeout, or the balancer may reuse a connection gunicorn just closed.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# The access log names the route a request matched, never its path, query string or Referer
# (reset and confirmation links, authorization parameters, tokens): see config/gunicorn_logging.py.
logger_class = "config.gunicorn_logging.RedactingLogger"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(a)s"'
