from abc import ABC, abstractmethod


class Animal(ABC):
    def __init__(self, name):
        self.name = name

    @abstractmethod
    def sound(self):
        ...

    def speak(self):
        return f"{self.name} says {self.sound()}"


class Dog(Animal):
    def sound(self):
        return "woof"


class Cat(Animal):
    def sound(self):
        return "meow"


try:
    Animal("generic")
except TypeError as e:
    print("TypeError:", "abstract" in str(e))
pets = [Dog("rex"), Cat("tom")]
for p in pets:
    print(p.speak())
print(isinstance(pets[0], Animal), [type(p).__name__ for p in pets])
