import textwrap

para = ("The quick brown fox jumps over the lazy dog. " * 4).strip()
print(textwrap.fill(para, width=40))
print(textwrap.wrap(para, width=30)[:2])
code = """
    def f():
        return 1
"""
print(textwrap.dedent(code))
print(textwrap.indent("a\nb\n", "> "), end="")
print(textwrap.shorten(para, width=50, placeholder=" [...]"))
w = textwrap.TextWrapper(width=25, initial_indent="* ", subsequent_indent="  ")
print(w.fill("Lists of items can be wrapped with a bullet and a hanging indent."))
