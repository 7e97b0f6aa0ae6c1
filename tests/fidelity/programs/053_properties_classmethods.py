class Temperature:
    scale = "C"
    _instances = 0

    def __init__(self, celsius):
        self._celsius = celsius
        Temperature._instances += 1

    @property
    def celsius(self):
        return self._celsius

    @celsius.setter
    def celsius(self, value):
        if value < -273.15:
            raise ValueError("below absolute zero")
        self._celsius = value

    @property
    def fahrenheit(self):
        return self._celsius * 9 / 5 + 32

    @classmethod
    def from_fahrenheit(cls, f):
        return cls((f - 32) * 5 / 9)

    @staticmethod
    def describe(value):
        return "hot" if value > 30 else "cold" if value < 10 else "mild"

    @classmethod
    def count(cls):
        return cls._instances


t = Temperature(25)
t.celsius = 35
print(t.celsius, t.fahrenheit, Temperature.describe(t.celsius))
u = Temperature.from_fahrenheit(212)
print(round(u.celsius, 2), Temperature.count(), t.scale)
try:
    t.celsius = -300
except ValueError as e:
    print("error:", e)
