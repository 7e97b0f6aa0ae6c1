from collections import deque, OrderedDict, ChainMap

d = deque([1, 2, 3], maxlen=5)
d.appendleft(0)
d.extend([4, 5, 6])
print(d, d.maxlen)
d.rotate(2)
print(d, d.popleft(), d.pop())
window = deque(maxlen=3)
for x in range(6):
    window.append(x)
    print(sum(window) / len(window), end=" ")
print()


class LRU:
    def __init__(self, cap):
        self.cap = cap
        self.data = OrderedDict()

    def get(self, k):
        if k not in self.data:
            return -1
        self.data.move_to_end(k)
        return self.data[k]

    def put(self, k, v):
        self.data[k] = v
        self.data.move_to_end(k)
        if len(self.data) > self.cap:
            self.data.popitem(last=False)


c = LRU(2)
c.put("a", 1)
c.put("b", 2)
c.get("a")
c.put("c", 3)
print(list(c.data.items()), c.get("b"))
defaults = {"color": "red", "size": "M"}
user = {"size": "L"}
cm = ChainMap(user, defaults)
print(cm["color"], cm["size"], dict(cm) == {"color": "red", "size": "L"})
