"""Phrase cache: finished audio of repeated prompts, in memory and (optionally) on disk.

Navigation prompts and kiosk replies repeat; answering them from a cache costs a file read
instead of a synthesis. The key is a SHA-256 over the voice's checksum, the graph variant and
the request options that change the audio (speed, and the prosody controls as resolved from the
request and its preset), and the *normalized* utterances (SSML prosody per symbol included) (symbol ids and
pauses), so "3天" and "三天", or two spellings with different spaces, share an entry.

Both tiers are LRU and bounded in bytes. Disk entries are written to a temporary name and
renamed, so a crash never leaves a torn entry. Each entry carries the SHA-256 of its audio, so
an entry changed on disk (bit rot, a stray write at the same size) is dropped and synthesized
again, never served as noise.
Audio is stored as 16-bit PCM (what the service sends anyway), half the size of float32.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from typing import Optional

from .limits import CACHE_MB

log = logging.getLogger(__name__)

MAGIC = b"ETTSPCM2"  # + 8-byte length + 32-byte SHA-256 of the PCM + the PCM
HEADER = len(MAGIC) + 8 + 32


def phrase_key(voice_id: str, variant: str, utterances, options: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"voice": voice_id, "variant": variant, "options": options},
                        sort_keys=True).encode("utf-8"))
    for u in utterances:
        fields = [u.ids, round(u.pause_after, 4)]
        if u.symbol_rate is not None or u.symbol_volume is not None:  # SSML prosody
            fields += [u.symbol_rate, u.symbol_volume]
        if u.symbol_prosody is not None:  # SSML pitch, range, emphasis
            fields += [u.symbol_prosody]
        h.update(json.dumps(fields).encode("utf-8"))
    return h.hexdigest()


class PhraseCache:
    def __init__(self, memory_bytes: int = CACHE_MB << 20, directory: Optional[str] = None,
                 disk_bytes: int = 512 << 20):
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self.directory = directory
        self._mem: "OrderedDict[str, bytes]" = OrderedDict()
        self._mem_size = 0
        self._disk: "OrderedDict[str, int]" = OrderedDict()  # key -> file size, oldest first
        self._disk_size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        if directory:
            os.makedirs(directory, exist_ok=True)
            self._scan()

    # -- public ----------------------------------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        """16-bit PCM of the phrase, or None."""
        with self._lock:
            pcm = self._mem.get(key)
            if pcm is not None:
                self._mem.move_to_end(key)
                self.hits += 1
                return pcm
            pcm = self._read_disk(key) if key in self._disk else None
            if pcm is None:
                self.misses += 1
                return None
            self.hits += 1
            self._disk.move_to_end(key)
            self._put_mem(key, pcm)
            return pcm

    def put(self, key: str, pcm: bytes) -> None:
        with self._lock:
            self._put_mem(key, pcm)
            if self.directory and key not in self._disk:
                self._write_disk(key, pcm)

    def stats(self) -> dict:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "memory_entries": len(self._mem),
                    "memory_bytes": self._mem_size, "disk_entries": len(self._disk),
                    "disk_bytes": self._disk_size}

    # -- memory ----------------------------------------------------------------------------------

    def _put_mem(self, key: str, pcm: bytes) -> None:
        if len(pcm) > self.memory_bytes:
            return
        old = self._mem.pop(key, None)
        if old is not None:
            self._mem_size -= len(old)
        self._mem[key] = pcm
        self._mem_size += len(pcm)
        while self._mem_size > self.memory_bytes:
            _, dropped = self._mem.popitem(last=False)
            self._mem_size -= len(dropped)

    # -- disk ------------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        return os.path.join(self.directory or "", key + ".pcm")

    def _scan(self) -> None:
        entries = []
        directory = self.directory or ""
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if name.endswith(".tmp"):  # a write that never finished
                _remove(path)
            elif name.endswith(".pcm") and len(name) == 68:
                try:
                    st = os.stat(path)
                except OSError as exc:  # a dangling link, an entry removed meanwhile: not ours to keep
                    log.warning("phrase cache: skipping %s (%s)", path, exc.strerror or exc)
                    continue
                entries.append((st.st_mtime, name[:-4], st.st_size))
        for _, key, size in sorted(entries):
            self._disk[key] = size
            self._disk_size += size
        self._evict_disk()

    def _read_disk(self, key: str) -> Optional[bytes]:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                data = f.read()
            os.utime(path)  # recency survives restarts
        except OSError:
            data = b""
        ok = (len(data) >= HEADER and data[:8] == MAGIC
              and int.from_bytes(data[8:16], "little") == len(data) - HEADER
              and hashlib.sha256(data[HEADER:]).digest() == data[16:HEADER])
        if not ok:
            log.warning("phrase cache: dropping a corrupt or unreadable entry %s", path)
            self._disk_size -= self._disk.pop(key, 0)
            _remove(path)
            return None
        return data[HEADER:]

    def _write_disk(self, key: str, pcm: bytes) -> None:
        data = MAGIC + len(pcm).to_bytes(8, "little") + hashlib.sha256(pcm).digest() + pcm
        if len(data) > self.disk_bytes:
            return
        path = self._path(key)
        tmp = path + ".%d.tmp" % os.getpid()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk must not fail the request
            log.warning("phrase cache: cannot write %s: %s", path, exc)
            _remove(tmp)
            return
        self._disk[key] = len(data)
        self._disk_size += len(data)
        self._evict_disk()

    def _evict_disk(self) -> None:
        while self._disk_size > self.disk_bytes and self._disk:
            key, size = self._disk.popitem(last=False)
            self._disk_size -= size
            _remove(self._path(key))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass

