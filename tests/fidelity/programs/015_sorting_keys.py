from functools import cmp_to_key

students = [
    {"name": "ann", "grade": 88, "age": 20},
    {"name": "bob", "grade": 95, "age": 22},
    {"name": "cy", "grade": 88, "age": 19},
    {"name": "di", "grade": 70, "age": 21},
]
by_grade = sorted(students, key=lambda s: (-s["grade"], s["name"]))
print([s["name"] for s in by_grade])
print(max(students, key=lambda s: s["age"])["name"], min(s["grade"] for s in students))
nums = [5, -3, 2, -8, 7]
print(sorted(nums, key=abs), sorted(nums, reverse=True))


def compare(a, b):
    return (len(a) - len(b)) or ((a > b) - (a < b))


print(sorted(["pear", "fig", "apple", "kiwi", "date"], key=cmp_to_key(compare)))
data = [("b", 2), ("a", 2), ("c", 1)]
data.sort(key=lambda t: t[1])
print(data)
print(sorted("hello world"), "".join(sorted("hello", reverse=True)))
