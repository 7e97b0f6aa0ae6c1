from graphlib import TopologicalSorter, CycleError

deps = {
    "app": {"lib", "config"},
    "lib": {"utils"},
    "config": {"utils"},
    "tests": {"app"},
    "utils": set(),
}
order = list(TopologicalSorter(deps).static_order())
print(order.index("utils") < order.index("lib") < order.index("app") < order.index("tests"), len(order))
ts = TopologicalSorter({"b": {"a"}, "c": {"a"}, "d": {"b", "c"}})
ts.prepare()
levels = []
while ts.is_active():
    ready = sorted(ts.get_ready())
    levels.append(ready)
    ts.done(*ready)
print(levels)
try:
    list(TopologicalSorter({"x": {"y"}, "y": {"x"}}).static_order())
except CycleError as e:
    print("cycle:", type(e).__name__)
