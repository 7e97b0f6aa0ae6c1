import random

random.seed(42)
print(random.randint(1, 100), random.random(), random.choice("abcdef"))
deck = list(range(10))
random.shuffle(deck)
print(deck, random.sample(range(100), 5))
print(random.choices(["red", "green", "blue"], weights=[5, 1, 1], k=6))
print(round(random.uniform(1, 2), 6), round(random.gauss(0, 1), 6))
rng = random.Random(7)
print([rng.randrange(0, 50, 5) for _ in range(5)])
rng2 = random.Random(7)
print(rng2.randrange(0, 50, 5) == [rng.seed(7), rng.randrange(0, 50, 5)][1])
