"""A pausable TCP proxy on 127.0.0.1, to make a server (PostgreSQL) briefly unreachable.

``pause()`` cuts every open connection and refuses new ones (each is accepted and
closed at once, as a server going away looks to a client); ``resume()`` lets
connections through again. The upstream server itself is never touched.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType
from typing import Self


class TcpProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target``; one thread per connection pair."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._paused = False
        self._closed = False
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="tcp-proxy-accept")
        self._acceptor.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Drop every connection now and refuse new ones until ``resume()``."""
        with self._lock:
            self._paused = True
            pairs, self._pairs = self._pairs, set()
        for pair in pairs:
            _close_pair(pair)

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.pause()
        # Wake accept() with a connection of our own, then close the listener.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
            pass
        self._acceptor.join()
        self._listener.close()
        for thread in self._threads:
            thread.join()

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            with self._lock:
                refuse = self._paused or self._closed
                closed = self._closed
            if refuse:
                client.close()
                if closed:
                    return
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            thread = threading.Thread(target=self._pump, args=(pair,), name="tcp-proxy-pump")
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in selector.select(timeout=0.5):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        data = sock.recv(65536)
                        if not data:
                            return
                        peer[sock].sendall(data)
                    with self._lock:
                        if pair not in self._pairs:
                            return
            except (OSError, ValueError):
                return  # cut by pause(): either end closed under us
            finally:
                with self._lock:
                    self._pairs.discard(pair)
                _close_pair(pair)


def _close_pair(pair: tuple[socket.socket, socket.socket]) -> None:
    for sock in pair:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
