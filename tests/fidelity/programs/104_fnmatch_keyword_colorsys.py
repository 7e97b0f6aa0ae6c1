import fnmatch
import keyword
import colorsys

files = ["main.py", "test_main.py", "README.md", "setup.cfg", "data.csv", "test_utils.py"]
print(fnmatch.filter(files, "test_*.py"), fnmatch.fnmatch("Data.CSV", "*.csv"), fnmatch.fnmatchcase("Data.CSV", "*.csv"))
print(keyword.iskeyword("for"), keyword.iskeyword("print"), len(keyword.kwlist) > 30)
r, g, b = colorsys.hsv_to_rgb(0.5, 1.0, 1.0)
print(r, g, b, tuple(round(x, 3) for x in colorsys.rgb_to_hls(1.0, 0.5, 0.0)))


def hex_color(h, s, v):
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in colorsys.hsv_to_rgb(h, s, v))


print([hex_color(i / 6, 0.8, 0.9) for i in range(6)])
