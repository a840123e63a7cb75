"""The thread of a background worker (the writer, the alert engine, the notifier): started
once, ended by :meth:`Worker.stop`, which sets ``_stopping`` under ``_cv`` and wakes the
thread; the worker's ``_run`` returns once it sees it (after finishing what it must)."""

from __future__ import annotations

import threading


class Worker:
    thread_name = "worker"

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._starting()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        thread.join()
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _starting(self) -> None:
        """What to do on the caller's thread before the worker's starts."""

    def _run(self) -> None:
        raise NotImplementedError
