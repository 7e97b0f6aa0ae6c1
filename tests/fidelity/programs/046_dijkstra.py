import heapq

edges = [("a", "b", 7), ("a", "c", 9), ("a", "f", 14), ("b", "c", 10), ("b", "d", 15),
         ("c", "d", 11), ("c", "f", 2), ("d", "e", 6), ("e", "f", 9)]
graph = {}
for u, v, w in edges:
    graph.setdefault(u, []).append((v, w))
    graph.setdefault(v, []).append((u, w))


def dijkstra(src):
    dist = {src: 0}
    prev = {}
    pq = [(0, src)]
    while pq:
        d, u = heapq.heappop(pq)
        if d > dist.get(u, float("inf")):
            continue
        for v, w in graph[u]:
            nd = d + w
            if nd < dist.get(v, float("inf")):
                dist[v] = nd
                prev[v] = u
                heapq.heappush(pq, (nd, v))
    return dist, prev


dist, prev = dijkstra("a")
print(sorted(dist.items()))
node, path = "e", []
while node:
    path.append(node)
    node = prev.get(node)
print(" -> ".join(reversed(path)))
