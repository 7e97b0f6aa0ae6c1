import itertools as it

print(list(it.islice(it.count(10, 5), 4)))
print(list(it.accumulate([1, 2, 3, 4, 5])), list(it.accumulate([3, 1, 4, 1, 5], max)))
print(list(it.chain([1, 2], "ab", (3,))), list(it.chain.from_iterable([[1], [2, 3]])))
print(list(it.combinations("abcd", 2)))
print(len(list(it.permutations(range(4), 3))), list(it.product("ab", repeat=2)))
for key, group in it.groupby(sorted("mississippi")):
    print(key, len(list(group)), end="; ")
print()
print(list(it.zip_longest("abc", [1], fillvalue="-")), list(it.pairwise([1, 2, 3, 4])))
print(list(it.takewhile(lambda x: x < 4, [1, 3, 5, 2])), list(it.dropwhile(lambda x: x < 4, [1, 3, 5, 2])))
print(list(it.compress("abcdef", [1, 0, 1, 0, 1, 1])), list(it.starmap(pow, [(2, 5), (3, 2)])))
print(list(it.repeat("x", 3)), list(it.islice(it.cycle("ab"), 5)))
a, b = it.tee([1, 2, 3])
print(list(a), list(b), list(it.filterfalse(lambda x: x % 2, range(8))))
