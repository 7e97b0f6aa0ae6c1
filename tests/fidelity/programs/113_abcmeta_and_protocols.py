from abc import ABCMeta, abstractmethod
from collections.abc import Mapping, Iterable, Sequence
from typing import Protocol, runtime_checkable


class Storage(metaclass=ABCMeta):
    @abstractmethod
    def get(self, key):
        pass


class MemoryStorage(Storage):
    def __init__(self):
        self.data = {"a": 1}

    def get(self, key):
        return self.data.get(key)


class FrozenDict(Mapping):
    def __init__(self, *args, **kwargs):
        self._d = dict(*args, **kwargs)

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None: ...


class Handle:
    def close(self):
        return None


fd = FrozenDict(x=1, y=2)
print(MemoryStorage().get("a"), isinstance(MemoryStorage(), Storage))
print(dict(fd), fd.get("z", 0), "x" in fd, len(fd), list(fd.items()))
print(isinstance(fd, Mapping), isinstance([1], Sequence), isinstance(3, Iterable))
print(isinstance(Handle(), Closable), isinstance(3, Closable))
