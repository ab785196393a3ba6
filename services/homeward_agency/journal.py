"""What this agency has already acted on, kept on disk across restarts.

The subscriber commits its offset once per polled batch. A subscriber killed
outright (SIGKILL, power loss) before that commit reads the batch again when it
restarts, and its in-memory SeenSet is empty: without this journal it would act
on those deliveries a second time (a second print, a second forward to the
agency's own system). Kafka's `consumer_test` allows the redelivery; an
agency's case system should not see it.

One line per handled dedup key, appended and flushed right after the handler
returns, so a kill can repeat at most the one delivery whose handler had run
and whose line had not been written yet. The file is fsynced before each
offset commit (what the commit makes unrecoverable must survive a power loss)
and rewritten with the newest `capacity` keys when it grows past twice that.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from homeward.errors import ConfigError

DEFAULT_CAPACITY = 100_000
MAX_KEY_CHARS = 300  # a dedup key is `<kind>:<uuid>` or a delivery id: far shorter


class HandledJournal:
    def __init__(self, path: Path, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.path = path
        self.capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                with path.open("r", encoding="utf-8", errors="replace") as f:
                    for line in f:
                        key = line.rstrip("\n")
                        # A torn last line (killed mid-write) is not a key anyone sent.
                        if key and line.endswith("\n") and len(key) <= MAX_KEY_CHARS:
                            self._remember(key)
            self._lines = len(self._keys)
            self._file = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot keep the handled journal: {exc}", field="state_dir") from exc

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def _remember(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def record(self, key: str) -> None:
        """`key` was acted on: remember it, on disk before anything else happens."""
        if "\n" in key or len(key) > MAX_KEY_CHARS:
            raise ValueError("a dedup key is one short line")
        self._remember(key)
        self._file.write(key + "\n")
        self._file.flush()  # to the OS: survives the process being killed
        self._lines += 1
        if self._lines > 2 * self.capacity:
            self._compact()

    def sync(self) -> None:
        """To the disk: survives the machine losing power (called before a commit)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def _compact(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.writelines(k + "\n" for k in self._keys)
            f.flush()
            os.fsync(f.fileno())
        self._file.close()
        os.replace(tmp, self.path)  # atomic: a kill leaves the old file or the new one
        self._file = self.path.open("a", encoding="utf-8")
        self._lines = len(self._keys)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
