from collections import namedtuple

Point = namedtuple("Point", ["x", "y"])
p = Point(3, 4)
print(p, p.x + p.y)
q = p._replace(x=10)
print(q, q._asdict())
print(Point._fields, Point._make([7, 8]))
Employee = namedtuple("Employee", "name dept salary", defaults=[50000])
e = Employee("Ann", "R&D")
print(e, e.salary)
x, y = p
print(x * y, p[0], len(p))
print(sorted([Point(2, 1), Point(1, 5), Point(1, 2)]))
