import copy

original = {"name": "cfg", "values": [1, 2, [3, 4]], "meta": {"tags": {"x"}}}
shallow = copy.copy(original)
deep = copy.deepcopy(original)
shallow["values"].append(5)
deep["values"][2].append(99)
print(original["values"], deep["values"], shallow is original, shallow["values"] is original["values"])


class Node:
    def __init__(self, value, children=None):
        self.value = value
        self.children = children or []

    def __repr__(self):
        return f"Node({self.value}, {self.children})"


tree = Node(1, [Node(2), Node(3, [Node(4)])])
clone = copy.deepcopy(tree)
clone.children[1].children[0].value = 40
print(tree, clone)
a = [1, 2]
b = [a, a]
c = copy.deepcopy(b)
print(c[0] is c[1], c[0] is a)
