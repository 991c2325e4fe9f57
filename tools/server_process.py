"""What the stand-in and SeaweedFS drivers share: a server child process used as a context manager."""

from __future__ import annotations

import subprocess
from types import TracebackType
from typing import Self


class ServerProcess:
    """A server run as a child process: ``with Driver() as server:`` starts it and stops it at the end."""

    _process: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None
