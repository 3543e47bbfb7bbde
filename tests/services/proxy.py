"""A TCP proxy on loopback that the fault tests own, and cut and restore at will.

It stands between one server process and PostgreSQL or Redis, so a test can make the
service unreachable for that process alone, without touching the machine's shared
PostgreSQL and Redis. Cutting closes the listening socket (new connections are refused at
once, as with a stopped server) and every live connection (what a crash or a network
failure does to a pool of open connections); restoring listens again on the same port.
"""

from __future__ import annotations

import select
import socket
import threading


class TcpProxy:
    """Forward 127.0.0.1:<port> to ``target`` until cut; restore on the same port."""

    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.listen_host = listen_host
        self.port = 0
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._cut = threading.Event()
        self._listen()

    # --- Control -----------------------------------------------------------------

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    def cut(self) -> None:
        """Refuse new connections and drop every live one. Returns once nothing passes."""
        with self._lock:
            self._cut.set()
            listener, self._listener = self._listener, None
            live, self._connections = self._connections, set()
        if listener is not None:
            _close(listener)
        for sock in live:
            _close(sock)
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None

    def restore(self) -> None:
        """Listen again on the same port."""
        with self._lock:
            if self._listener is not None:
                return
            self._cut.clear()
        self._listen()

    def close(self) -> None:
        self.cut()

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # --- Plumbing ----------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._acceptor = threading.Thread(
            target=self._accept_loop, args=(listener,), daemon=True, name=f"proxy-{self.port}"
        )
        self._acceptor.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._cut.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], 0.1)
            except (OSError, ValueError):
                return  # closed by cut()
            if not readable:
                continue
            try:
                client, _address = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._cut.is_set():
                    _close(client)
                    _close(upstream)
                    return
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(source)
                self._connections.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
