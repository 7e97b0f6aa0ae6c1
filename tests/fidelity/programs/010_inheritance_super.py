class Shape:
    def __init__(self, name):
        self.name = name

    def area(self):
        raise NotImplementedError

    def describe(self):
        return f"{self.name} with area {self.area():.2f}"


class Rect(Shape):
    def __init__(self, w, h):
        super().__init__("rect")
        self.w, self.h = w, h

    def area(self):
        return self.w * self.h


class Square(Rect):
    def __init__(self, side):
        super().__init__(side, side)
        self.name = "square"


class Circle(Shape):
    def __init__(self, r):
        super().__init__("circle")
        self.r = r

    def area(self):
        return 3.14159 * self.r ** 2


shapes = [Rect(2, 3), Square(4), Circle(1.5)]
for s in shapes:
    print(s.describe())
print(isinstance(shapes[1], Rect), issubclass(Square, Shape))
print([type(s).__name__ for s in shapes])
print(sum(s.area() for s in shapes))
try:
    Shape("x").area()
except NotImplementedError:
    print("abstract")
