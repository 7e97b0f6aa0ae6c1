from collections import deque

graph = {
    "A": ["B", "C"],
    "B": ["D", "E"],
    "C": ["F"],
    "D": [],
    "E": ["F"],
    "F": [],
}


def bfs(start):
    seen, order, q = {start}, [], deque([start])
    while q:
        node = q.popleft()
        order.append(node)
        for nxt in graph[node]:
            if nxt not in seen:
                seen.add(nxt)
                q.append(nxt)
    return order


def dfs(node, seen=None):
    seen = seen if seen is not None else []
    seen.append(node)
    for nxt in graph[node]:
        if nxt not in seen:
            dfs(nxt, seen)
    return seen


def shortest_path(a, b):
    prev = {a: None}
    q = deque([a])
    while q:
        n = q.popleft()
        for m in graph[n]:
            if m not in prev:
                prev[m] = n
                q.append(m)
    path, cur = [], b
    while cur is not None:
        path.append(cur)
        cur = prev.get(cur)
    return path[::-1]


print(bfs("A"), dfs("A"), shortest_path("A", "F"))
