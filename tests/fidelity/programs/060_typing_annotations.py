from typing import Dict, List, Optional, Tuple, Union, Any, Callable, Iterable, NamedTuple, TypedDict


class Point(NamedTuple):
    x: float
    y: float = 0.0

    def norm(self) -> float:
        return (self.x ** 2 + self.y ** 2) ** 0.5


class Movie(TypedDict):
    title: str
    year: int


def mean(values: Iterable[float]) -> Optional[float]:
    values = list(values)
    return sum(values) / len(values) if values else None


def apply(fn: Callable[[int], int], xs: List[int]) -> List[int]:
    return [fn(x) for x in xs]


def parse(s: str) -> Union[int, float, str]:
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


index: Dict[str, Tuple[int, ...]] = {"a": (1, 2), "b": ()}
total: int = 0
settings: Dict[str, Any] = {}
p = Point(3, 4)
m: Movie = {"title": "Up", "year": 2009}
print(p, p.norm(), Point(1), p._replace(y=0))
print(mean([1, 2, 3.5]), mean([]), apply(lambda v: v * v, [1, 2, 3]))
print([parse(s) for s in ["1", "2.5", "x"]], index, m["title"], total)
