class BST:
    def __init__(self):
        self.root = None

    class _Node:
        def __init__(self, key):
            self.key = key
            self.left = self.right = None

    def insert(self, key):
        if self.root is None:
            self.root = self._Node(key)
            return
        node = self.root
        while True:
            if key < node.key:
                if node.left is None:
                    node.left = self._Node(key)
                    return
                node = node.left
            else:
                if node.right is None:
                    node.right = self._Node(key)
                    return
                node = node.right

    def inorder(self, node="start"):
        if node == "start":
            node = self.root
        if node is None:
            return []
        return self.inorder(node.left) + [node.key] + self.inorder(node.right)

    def height(self, node="start"):
        if node == "start":
            node = self.root
        if node is None:
            return 0
        return 1 + max(self.height(node.left), self.height(node.right))


t = BST()
for k in [50, 30, 70, 20, 40, 60, 80, 35]:
    t.insert(k)
print(t.inorder(), t.height())
