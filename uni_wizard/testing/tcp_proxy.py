"""A loopback TCP proxy that a test controls, to partition a process from a server it talks to.

    with TcpProxy(("127.0.0.1", forge_port)) as proxy:   # point the client at proxy.url
        ...
        proxy.cut()     # a partition: nothing passes; requests in flight and new ones hang, unanswered
        proxy.heal()    # the held connections are dropped (the client sees them fail) and traffic flows again

A cut is a black hole, not a refusal: the client's connections stay open and silent, so it learns of the
partition only from its own timeouts, as it would across a real network. One thread serves every
connection with a selector.
"""

from __future__ import annotations

import queue
import selectors
import socket
import threading
from types import TracebackType
from typing import Literal

__all__ = ["TcpProxy"]

_Command = Literal["cut", "heal", "stop"]


class TcpProxy:
    def __init__(self, target: tuple[str, int], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = target
        self._listener = socket.create_server((host, port))
        self._listener.setblocking(False)
        self.host, self.port = self._listener.getsockname()[:2]
        self.connections = 0  # accepted so far
        self.forwarded_bytes = 0
        self._cut = False
        self._peers: dict[socket.socket, socket.socket] = {}
        self._clients: set[socket.socket] = set()  # the accepted sides of the pairs in ``_peers``
        self._held: list[socket.socket] = []  # client sides kept open and silent during a cut
        self._commands: queue.Queue[tuple[_Command, threading.Event]] = queue.Queue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._serve, name=f"tcp-proxy:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._cut

    def start(self) -> TcpProxy:
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread.start()
        return self

    def cut(self) -> None:
        """Partition: every connection goes silent, new ones are accepted and never answered."""
        self._command("cut")

    def heal(self) -> None:
        """End the partition: the silent connections are closed, new ones are forwarded again."""
        self._command("heal")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._command("stop")
            self._thread.join(timeout=10)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _command(self, command: _Command) -> None:
        done = threading.Event()
        self._commands.put((command, done))
        self._wake_w.send(b"x")
        if not done.wait(timeout=10):
            raise TimeoutError(f"the TCP proxy did not {command} within 10 s")

    # -- the proxy's thread ----------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while self._run_once():
                pass
        finally:
            for sock in [*self._peers, *self._held, self._listener, self._wake_r, self._wake_w]:
                sock.close()
            self._selector.close()

    def _run_once(self) -> bool:
        for key, _ in self._selector.select(timeout=1.0):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is self._wake_r:
                if not self._obey():
                    return False
            elif sock is self._listener:
                self._accept()
            elif sock in self._peers:
                self._pump(sock)
        return True

    def _obey(self) -> bool:
        self._wake_r.recv(64)
        while not self._commands.empty():
            command, done = self._commands.get()
            if command == "cut":
                self._cut = True
                for client in list(self._clients):
                    self._hold(client)
            elif command == "heal":
                self._cut = False
                for client in self._held:
                    client.close()
                self._held.clear()
            done.set()
            if command == "stop":
                return False
        return True

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        self.connections += 1
        if self._cut:
            self._held.append(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        self._clients.add(client)
        for sock, peer in ((client, upstream), (upstream, client)):
            sock.setblocking(True)
            self._peers[sock] = peer
            self._selector.register(sock, selectors.EVENT_READ)

    def _hold(self, client: socket.socket) -> None:
        upstream = self._peers.pop(client)
        self._peers.pop(upstream, None)
        self._clients.discard(client)
        self._selector.unregister(client)
        self._selector.unregister(upstream)
        upstream.close()
        self._held.append(client)

    def _pump(self, sock: socket.socket) -> None:
        peer = self._peers[sock]
        try:
            data = sock.recv(65536)
            if data:
                peer.sendall(data)
        except OSError:  # a reset on either side ends the pair
            data = b""
        if data:
            self.forwarded_bytes += len(data)
            return
        for end in (sock, peer):
            self._peers.pop(end, None)
            self._clients.discard(end)
            self._selector.unregister(end)
            end.close()
